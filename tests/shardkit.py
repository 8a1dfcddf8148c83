"""A wide fleet for the shard tests: many connected clusters in three rollout waves, a few tenants on each.

fleetkit's small fleet (eu-1, us-1, project alpha) plus clusters `c-00` ... in waves 0, 1, 2 (by index
modulo 3) and a project `wide` whose tenants `t-000` ... are pinned round-robin to them (`cluster:`), so
nothing depends on placement: changing a tenant's cpu changes exactly its cluster's desired state.
"""

from __future__ import annotations

from pathlib import Path

from fleetkit import write_fleet

CLUSTER = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Cluster
    metadata:
      name: {name}
      labels: {{region: eu, env: prod, wide: "yes"}}
    spec:
      kubeconfig: {{env: KUBECONFIG_{upper}}}
      capacity: {{cpu: "64", memory: 256Gi, maxTenants: 20}}
      rollout: {{wave: {wave}}}
    """

PROJECT = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Project
    metadata: {name: wide}
    spec:
      members:
        - {user: alice, role: admin}
      templates: [{name: shared, versions: ["1.x"]}]
      defaultTemplate: {name: shared, version: "1.x"}
      clusters: {selector: {matchLabels: {wide: "yes"}}}
    """

TENANT = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Tenant
    metadata: {{name: {name}}}
    spec:
      owner: alice
      cluster: {cluster}
      parameters: {{cpu: "{cpu}"}}
    """


def cluster_name(index: int) -> str:
    return f"c-{index:02d}"


def tenant_file(index: int) -> str:
    return f"fleet/projects/wide/tenants/t-{index:03d}.yaml"


def write_wide_fleet(root: Path, clusters: int, tenants: int) -> dict[str, int]:
    """Write the fleet; returns every wide cluster's wave (tenant i lives on cluster i % clusters)."""
    files: dict[str, str | None] = {"fleet/projects/wide/project.yaml": PROJECT}
    waves = {}
    for c in range(clusters):
        name = cluster_name(c)
        waves[name] = c % 3
        files[f"fleet/clusters/{name}.yaml"] = CLUSTER.format(name=name, upper=name.upper().replace("-", "_"),
                                                              wave=c % 3)
    for t in range(tenants):
        files[tenant_file(t)] = TENANT.format(name=f"t-{t:03d}", cluster=cluster_name(t % clusters), cpu=1)
    write_fleet(root, files)
    _lock_and_stacks(root)
    return waves


def _lock_and_stacks(root: Path) -> None:
    """placement.lock (as `vfleet place` writes it) and the stack files (as `vfleet stacks sync` does)."""
    from vfleet import compile as compiler
    from vfleet import place
    from vfleet.apply import project

    compiled = compiler.compile_fleet(root, check_lock=False)
    assert not compiled.findings.errors, [str(f) for f in compiled.findings.errors]
    place.write_lock(root, compiled.placement)
    project.sync(root, {name: item.doc.file for name, item in compiled.fleet.clusters.items()})


def set_tenant_cpu(root: Path, index: int, cpu: int) -> None:
    path = root / tenant_file(index)
    text = path.read_text()
    assert 'cpu: "1"' in text, text
    path.write_text(text.replace('cpu: "1"', f'cpu: "{cpu}"'))


# A runner process for the S3 tests: `python -c INJECTED_RUNNER <engine-log> <vfleet args...>` is the vfleet
# CLI's own entry point with the engine replaced by one that succeeds at once and appends the cluster's name
# to <engine-log> (one short O_APPEND write per call: whole lines, also from concurrent processes).
INJECTED_RUNNER = """
import os, sys
from vfleet.apply.decide import Result, StackResult
from vfleet.api import stacks
from vfleet.cli import main

log = sys.argv[1]

def engine(job, progress):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (job.target.cluster + "\\n").encode())
    finally:
        os.close(fd)
    return StackResult(job.target.cluster, job.target.wave, Result.APPLIED, changes={"update": 1})

stacks.make_runner = lambda *a, **k: engine
sys.argv = ["vfleet", *sys.argv[2:]]
main()
"""
