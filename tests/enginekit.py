"""Helpers of the engine tier (the real Pulumi CLI and provider against loopback clusters): the example
fleet moved onto the test clusters, `vfleet` run as a user runs it, and what is on the clusters and in the
Pulumi state afterwards."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import dynamic

from livekit import REPO, copy_test_chart, dynamic_client, helm, kube_client
from vfleet import desired, devclusters, toolchain
from vfleet.devclusters import DevCluster, write_kubeconfig

VFLEET = str(Path(sys.executable).parent / "vfleet")
CONTRACTS = (REPO.parent / "shared" / "contracts").resolve()
# The example fleet on two clusters: eu-dev -> live-a (wave 0), eu-central and us-east -> live-b (wave 1).
RENAMES = {"eu-dev": "live-a", "eu-central": "live-b", "us-east": "live-b"}
ENV_VARS = {"live-a": "VFLEET_KUBECONFIG_LIVE_A", "live-b": "VFLEET_KUBECONFIG_LIVE_B"}
NAMES = ("live-a", "live-b")


def require_engine() -> None:
    """The pinned Pulumi CLI and provider; the tier FAILS (never skips) when they are not built."""
    for name in ("pulumi", "pulumi-resource-kubernetes"):
        try:
            toolchain.binary(name)
        except toolchain.ToolMissing as missing:
            pytest.fail(f"the engine tier needs {name}: {missing}", pytrace=False)


@contextmanager
def engine_clusters(names: tuple[str, ...] = NAMES) -> Iterator[list[DevCluster]]:
    """Clusters of the engine tier's own (what it applies never meets the live tier), with the CRDs the
    example fleet's charts need."""
    try:
        clusters = devclusters.start_clusters(names)
    except toolchain.ToolMissing as missing:
        pytest.fail(f"the engine tier needs {missing.tool}: {missing}", pytrace=False)
    try:
        for cluster in clusters:
            install_service_monitor_crd(cluster)
        yield clusters
    finally:
        devclusters.stop_clusters(clusters)


def install_service_monitor_crd(cluster: DevCluster) -> None:
    """The Prometheus operator's ServiceMonitor kind (schema-less), as on a cluster with monitoring: the
    example fleet's storefront-staging asks its chart for one, and Helm refuses a kind the cluster lacks."""
    name = "servicemonitors.monitoring.coreos.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "monitoring.coreos.com",
            "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    api = k8s.ApiextensionsV1Api(kube_client(cluster))
    api.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = api.read_custom_resource_definition(name)
        if any(c.type == "Established" and c.status == "True" for c in (got.status.conditions or [])):
            return
        time.sleep(0.2)
    raise AssertionError(f"{cluster.name}: the ServiceMonitor CRD never became established")


@dataclass
class Fleet:
    root: Path
    env: dict[str, str]
    clusters: dict[str, DevCluster]
    said: list[str] = field(default_factory=list)  # everything vfleet printed, to search for leaks

    @property
    def state_dir(self) -> Path:
        return Path(self.env["VFLEET_STATE_DIR"])

    def vfleet(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [VFLEET, *args], cwd=self.root, env=env or self.env, capture_output=True, text=True, timeout=900
        )
        self.said += [done.stdout, done.stderr]
        return done

    def apply_json(
        self, *args: str, env: dict[str, str] | None = None, op: str = "apply"
    ) -> tuple[int, dict[str, Any]]:
        extra = ("--yes",) if op == "apply" else ()
        done = self.vfleet(op, ".", *extra, "--output", "json", *args, env=env)
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))

    def compiled_desired(self) -> dict[str, desired.DesiredState]:
        from vfleet import compile as compiler

        compiled = compiler.compile_fleet(self.root, env=self.env)
        assert compiled.ok, [str(f) for f in compiled.findings.errors]
        return dict(compiled.desired)

    def pulumi_state(self, stack: str) -> dict[str, Any]:
        """The stack's checkpoint in the file:// backend, as the engine wrote it."""
        (path,) = (self.state_dir / ".pulumi" / "stacks").glob(f"**/{stack}.json")
        data: dict[str, Any] = json.loads(path.read_text())
        return data


def build_fleet(dest: Path, clusters: dict[str, DevCluster], chart: Path) -> Path:
    """The repository's example fleet with its three clusters folded onto the two test clusters."""
    for name in ("fleet", "templates", "policies"):
        shutil.copytree(REPO / name, dest / name)
    for name in ("vfleet.yaml", ".gitignore"):
        if (REPO / name).exists():
            shutil.copyfile(REPO / name, dest / name)
    for path in (dest / "fleet").rglob("*.yaml"):
        text = path.read_text()
        for old, new in RENAMES.items():
            text = re.sub(rf"\b{old}\b", new, text)
        path.write_text(text)
    lock = dest / "fleet" / "placement.lock"
    lock.write_text(re.sub(r"\b(eu-dev|eu-central|us-east)\b", lambda m: RENAMES[m.group(0)], lock.read_text()))
    for path in (dest / "fleet" / "clusters").glob("*.yaml"):
        path.unlink()
    for wave, (name, _cluster) in enumerate(sorted(clusters.items())):
        (dest / "fleet" / "clusters" / f"{name}.yaml").write_text(f"""\
apiVersion: vfleet.dev/v1alpha1
kind: Cluster
metadata:
  name: {name}
  labels: {{region: eu, env: {"dev" if wave == 0 else "prod"}, tier: standard, cloud: metal}}
spec:
  kubeconfig:
    env: {ENV_VARS[name]}
  capacity: {{cpu: "1024", memory: 4Ti, storage: 40Ti, gpus: 64, maxTenants: 100}}
  nodeProviders: [metal, kubevirt]
  rollout:
    wave: {wave}
    awaitTenants: false
  chart:
    path: {chart}
""")
    return dest


def make_fleet(base: Path, clusters: list[DevCluster]) -> Fleet:
    by_name = {c.name: c for c in clusters}
    chart = copy_test_chart(base)
    root = build_fleet(base / "repo", by_name, chart)
    env = {
        **os.environ,
        "VFLEET_CHART_SCHEMAS": str(CONTRACTS),
        "VFLEET_CACHE_DIR": str(base / "cache"),
        "VFLEET_STATE_DIR": str(base / "state"),
        "PULUMI_CONFIG_PASSPHRASE": "engine-tier",
        "PULUMI_HOME": str(base / "pulumi-home"),  # fresh: vfleet installs the pinned plugin into it
        "PATH": f"{Path(helm()).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(base / "tmp"),  # what vfleet and the engine leave behind there is checked (test_11)
    }
    (base / "tmp").mkdir()
    env.pop("PULUMI_BACKEND_URL", None)
    for name, cluster in by_name.items():
        env[ENV_VARS[name]] = str(write_kubeconfig(base / f"{name}.kubeconfig", {name: cluster}))
    subprocess.run([VFLEET, "stacks", "sync", "."], cwd=root, env=env, check=True, capture_output=True)
    return Fleet(root, env, by_name)


def why(report: dict[str, Any]) -> str:
    """The part of a report that explains a failure: each stack's result and message, the error."""
    lines = [
        f"{s['cluster']}: {s['result']} ({s.get('scope')}) {s['changes']} {s['message']}"
        for s in report.get("stacks", [])
    ]
    return "\n".join([*lines, str(report.get("error") or ""), str(report.get("stderr") or "")[-3000:]])


def stacks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["cluster"]: s for s in report["stacks"]}


def namespaces(cluster: DevCluster) -> dict[str, str]:
    """vfleet's namespaces on a cluster (not being deleted), name -> uid."""
    api = k8s.CoreV1Api(kube_client(cluster))
    found = api.list_namespace(label_selector="app.kubernetes.io/managed-by=vfleet").items
    return {n.metadata.name: n.metadata.uid for n in found if n.status.phase != "Terminating"}


def release_revisions(fleet: Fleet, cluster: str) -> dict[str, int]:
    out = subprocess.run(
        [helm(), "list", "-A", "-o", "json", "--kubeconfig", fleet.env[ENV_VARS[cluster]]],
        capture_output=True,
        text=True,
        check=True,
    )
    return {f"{r['namespace']}/{r['name']}": int(r["revision"]) for r in json.loads(out.stdout)}


def release_values(fleet: Fleet, cluster: str, namespace: str, name: str) -> dict[str, Any]:
    out = subprocess.run(
        [helm(), "get", "values", name, "-n", namespace, "-o", "json", "--kubeconfig", fleet.env[ENV_VARS[cluster]]],
        capture_output=True,
        text=True,
        check=True,
    )
    values: dict[str, Any] = json.loads(out.stdout)
    return values


def missing_objects(cluster: DevCluster, state: desired.DesiredState, revisions: dict[str, int]) -> list[str]:
    """Ids of the desired resources that are not on the cluster (releases: in `helm list`)."""
    dyn = dynamic_client(kube_client(cluster))
    missing: list[str] = []
    for resource in state.resources:
        if resource.kind == desired.HELM_RELEASE:
            spec = resource.body["spec"]
            if f"{spec['namespace']}/{spec['releaseName']}" not in revisions:
                missing.append(resource.id)
            continue
        kind = dyn.resources.get(api_version=resource.api_version, kind=resource.kind)
        try:
            kind.get(name=resource.name, namespace=resource.namespace)
        except dynamic.exceptions.NotFoundError:
            missing.append(resource.id)
    return missing


def state_names(fleet: Fleet, stack: str) -> set[str]:
    """Logical names of the resources in the stack's Pulumi state."""
    resources = fleet.pulumi_state(stack)["checkpoint"]["latest"].get("resources") or []
    return {r["urn"].rsplit("::", 1)[-1] for r in resources}
