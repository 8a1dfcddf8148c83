"""Synthetic fleets: N projects x M tenants x K clusters, shaped like the example fleet.

    python bench/synth.py OUT_DIR --projects 100 --tenants 10000 --clusters 100

writes a complete fleet repository (clusters, node providers, teams, projects, tenants, one template
with two versions, vfleet.yaml) and its placement.lock, ready for `vfleet compile OUT_DIR`.
Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMAS = (REPO / ".." / "shared" / "contracts").resolve()

TEMPLATE = """apiVersion: vfleet.dev/v1alpha1
kind: Template
metadata:
  name: shared
spec:
  description: Synthetic shared-nodes tenant
  versions:
{versions}"""

VERSION = """    - version: {version}
      chartVersion: 0.35.3
      values: values-{version}.yaml.j2
      resources: {{cpu: cpu, memory: memory, storage: storage}}
      parameters:
        - {{name: cpu, type: quantity, default: "2", min: 100m, max: "16"}}
        - {{name: memory, type: quantity, default: 4Gi, min: 256Mi, max: 64Gi}}
        - {{name: storage, type: quantity, default: 10Gi, max: 500Gi}}
        - {{name: k8sVersion, type: enum, options: ["1.33", "1.34", "1.35"], default: "1.35"}}
        - {{name: replicas, type: int, default: 1, min: 1, max: 3}}
        - {{name: exposeMetrics, type: bool, default: false}}
"""

VALUES = """controlPlane:
  distro:
    k8s:
      enabled: true
      image:
        tag: {{ "v" ~ k8sVersion ~ ".0" }}
  statefulSet:
    highAvailability:
      replicas: {{ replicas }}
    resources:
      requests:
        cpu: {{ cpu }}
        memory: {{ memory }}
      limits:
        memory: {{ memory }}
    persistence:
      volumeClaim:
        size: {{ storage }}
  serviceMonitor:
    enabled: {{ exposeMetrics }}
policies:
  networkPolicy:
    enabled: true
telemetry:
  enabled: false
"""

CLUSTER = """apiVersion: vfleet.dev/v1alpha1
kind: Cluster
metadata:
  name: {name}
  labels: {{region: {region}, env: prod}}
spec:
  kubeconfig: {{env: {env}}}
  capacity: {{cpu: "100000", memory: 400Ti, storage: 2000Ti, gpus: 0, maxTenants: 1000}}
  rollout: {{wave: {wave}, awaitTenants: true}}
"""

PROJECT = """apiVersion: vfleet.dev/v1alpha1
kind: Project
metadata:
  name: {name}
spec:
  displayName: Synthetic project {index}
  members:
    - {{user: owner-{index}, role: admin}}
    - {{team: platform, role: viewer}}
    - {{group: "oidc:{name}-devs", role: user}}
  quotas: {{tenants: 100000}}
  templates:
    - {{name: shared, versions: ["1.x"]}}
  defaultTemplate: {{name: shared, version: "1.x"}}
  clusters:
    selector: {{matchLabels: {{env: prod}}}}
  defaults:
    sleep: {{afterInactivity: 2h}}
"""

TENANT = """apiVersion: vfleet.dev/v1alpha1
kind: Tenant
metadata:
  name: {name}
  labels: {{env: {env}, team: {project}}}
spec:
  template: {{name: shared, version: "1.x"}}
  owner: owner-{pindex}
  placement: {{matchLabels: {{region: {region}}}}}
  parameters:
    cpu: "{cpu}"
    memory: {memory}Gi
    k8sVersion: "1.35"
  sleep:
    afterInactivity: 2h
    schedule: "0 20 * * 1-5"
    wakeup: "0 7 * * 1-5"
    timezone: Europe/Berlin
  autoDelete: {{afterInactivity: 720h}}
  protect: {protect}
"""

TEAM = """apiVersion: vfleet.dev/v1alpha1
kind: Team
metadata:
  name: platform
spec:
  members: [alice, bob]
  groups: ["oidc:platform"]
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


PLATFORM = """apiVersion: vfleet.dev/v1alpha1
kind: Platform
metadata:
  name: platform
spec:
  members:
    - group: eng-platform
      role: admin
"""


def generate(root: Path, projects: int, tenants: int, clusters: int, schemas: Path = DEFAULT_SCHEMAS) -> None:
    """Write the fleet (without placement.lock: `place_lock` computes it with vfleet itself)."""
    regions = ["eu", "us", "ap"]
    _write(root / "vfleet.yaml", f"chartSchemas: [{str(schemas)!r}]\n")
    versions = "".join(VERSION.format(version=v) for v in ("1.0.0", "1.1.0"))
    _write(root / "templates" / "shared" / "template.yaml", TEMPLATE.format(versions=versions))
    for v in ("1.0.0", "1.1.0"):
        _write(root / "templates" / "shared" / f"values-{v}.yaml.j2", VALUES)
    _write(root / "fleet" / "teams" / "platform.yaml", TEAM)
    _write(root / "fleet" / "platform.yaml", PLATFORM)  # production clusters need a platform admin group
    for c in range(clusters):
        name = f"{regions[c % len(regions)]}-{c:03d}"
        _write(root / "fleet" / "clusters" / f"{name}.yaml",
               CLUSTER.format(name=name, region=regions[c % len(regions)], env=f"KUBECONFIG_{c:03d}",
                              wave=c % 3))
    for p in range(projects):
        pname = f"proj-{p:03d}"
        _write(root / "fleet" / "projects" / pname / "project.yaml", PROJECT.format(name=pname, index=p))
    for t in range(tenants):
        p = t % projects
        pname = f"proj-{p:03d}"
        name = f"tenant-{t:05d}"
        env = "prod" if t % 5 == 0 else "dev"
        _write(root / "fleet" / "projects" / pname / "tenants" / f"{name}.yaml",
               TENANT.format(name=name, env=env, project=pname, pindex=p, region=regions[t % len(regions)],
                             cpu=1 + t % 4, memory=2 + t % 6, protect=str(env == "prod").lower()))


def place_lock(root: Path) -> None:
    """Compute and write placement.lock with vfleet's own place stage."""
    from vfleet import compile as compiler
    from vfleet import place

    compiled = compiler.compile_fleet(root, check_lock=False)
    if compiled.findings.errors:
        raise SystemExit("\n".join(f"{f.location}: {f.message}" for f in compiled.findings.errors[:20]))
    place.write_lock(root, compiled.placement)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMAS)
    args = parser.parse_args(argv)
    generate(args.out, args.projects, args.tenants, args.clusters, args.schemas)
    place_lock(args.out)
    print(f"wrote {args.tenants} tenants / {args.projects} projects / {args.clusters} clusters to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
