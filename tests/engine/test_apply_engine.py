"""Engine tier: `vfleet apply` with the real Pulumi CLI and pulumi-resource-kubernetes against the two
loopback clusters of the live fixture, releases from the project's test chart (awaiting off: there is no
kubelet, nothing ever becomes Ready).

Runs wherever `pulumi` and `pulumi-resource-kubernetes` are on PATH; elsewhere every test here reports
SKIPPED with that reason (the only tier allowed to skip). Scenarios, each against the real engine:
first apply creates everything (checked with the kubernetes client); a second apply touches no stack; a
one-parameter change updates exactly one stack and one release; deleting a protected tenant is refused;
with one cluster unreachable the other still applies and exit 1 names the failed stack; an apply killed
mid-way is followed by an apply that converges.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from livekit import REPO, copy_test_chart, helm, kube_client
from vfleet import devclusters, toolchain
from vfleet.devclusters import DevCluster, write_kubeconfig

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module", autouse=True)
def engine_binaries() -> None:
    """The pinned Pulumi CLI and provider; the tier FAILS (never skips) when they are not built."""
    for name in ("pulumi", "pulumi-resource-kubernetes"):
        try:
            toolchain.binary(name)
        except toolchain.ToolMissing as missing:
            pytest.fail(f"the engine tier needs {name}: {missing}", pytrace=False)


VFLEET = str(Path(sys.executable).parent / "vfleet")
CONTRACTS = (REPO.parent / "shared" / "contracts").resolve()
# The example fleet on two clusters: eu-dev -> live-a (wave 0), eu-central and us-east -> live-b (wave 1).
RENAMES = {"eu-dev": "live-a", "eu-central": "live-b", "us-east": "live-b"}
ENV_VARS = {"live-a": "VFLEET_KUBECONFIG_LIVE_A", "live-b": "VFLEET_KUBECONFIG_LIVE_B"}


@dataclass
class Fleet:
    root: Path
    env: dict[str, str]
    clusters: dict[str, DevCluster]

    def vfleet(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VFLEET, *args], cwd=self.root, env=env or self.env, capture_output=True, text=True, timeout=900
        )

    def apply_json(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        done = self.vfleet("apply", ".", "--yes", "--output", "json", *args, env=env)
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}


def why(report: dict[str, Any]) -> str:
    """The part of a report that explains a failure: each stack's result and message, the error."""
    lines = [
        f"{s['cluster']}: {s['result']} ({s.get('scope')}) {s['changes']} {s['message']}"
        for s in report.get("stacks", [])
    ]
    return "\n".join([*lines, str(report.get("error") or ""), str(report.get("stderr") or "")[-3000:]])


def _build_fleet(dest: Path, clusters: dict[str, DevCluster], chart: Path) -> Path:
    for name in ("fleet", "templates", "policies"):
        shutil.copytree(REPO / name, dest / name)
    shutil.copyfile(REPO / "vfleet.yaml", dest / "vfleet.yaml")
    (dest / ".venv").symlink_to(REPO / ".venv")  # Pulumi.yaml's virtualenv: the one vfleet is installed in
    for path in (dest / "fleet").rglob("*.yaml"):
        text = path.read_text()
        for old, new in RENAMES.items():
            text = re.sub(rf"\b{old}\b", new, text)
        path.write_text(text)
    lock = dest / "fleet" / "placement.lock"
    lock.write_text(
        "".join(
            re.sub(r"\b(eu-dev|eu-central|us-east)\b", lambda m: RENAMES[m.group(0)], line)
            for line in lock.read_text().splitlines(keepends=True)
        )
    )
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


@pytest.fixture(scope="module")
def engine_clusters() -> Iterator[list[DevCluster]]:
    """Two clusters of the engine tier's own: what it applies never meets the live tier's tests."""
    try:
        clusters = devclusters.start_clusters(("live-a", "live-b"))
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
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
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
    k8s.ApiextensionsV1Api(kube_client(cluster)).create_custom_resource_definition(crd)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = k8s.ApiextensionsV1Api(kube_client(cluster)).read_custom_resource_definition(crd["metadata"]["name"])
        if any(c.type == "Established" and c.status == "True" for c in (got.status.conditions or [])):
            return
        time.sleep(0.2)
    raise AssertionError(f"{cluster.name}: the ServiceMonitor CRD never became established")


@pytest.fixture(scope="module")
def fleet(engine_clusters: list[DevCluster], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    by_name = {c.name: c for c in engine_clusters}
    base = tmp_path_factory.mktemp("engine")
    chart = copy_test_chart(base)
    root = _build_fleet(base / "repo", by_name, chart)
    env = {
        **os.environ,
        "VFLEET_CHART_SCHEMAS": str(CONTRACTS),
        "VFLEET_CACHE_DIR": str(base / "cache"),
        "VFLEET_STATE_DIR": str(base / "state"),
        "PULUMI_CONFIG_PASSPHRASE": "engine-tier",
        "PULUMI_HOME": str(base / "pulumi-home"),  # fresh: vfleet installs the pinned plugin into it
        "PATH": f"{Path(helm()).parent}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("PULUMI_BACKEND_URL", None)
    for name, cluster in by_name.items():
        env[ENV_VARS[name]] = str(write_kubeconfig(base / f"{name}.kubeconfig", {name: cluster}))
    subprocess.run([VFLEET, "stacks", "sync", "."], cwd=root, env=env, check=True)
    yield Fleet(root, env, by_name)


def _namespaces(cluster: DevCluster) -> set[str]:
    api = k8s.CoreV1Api(kube_client(cluster))
    return {n.metadata.name for n in api.list_namespace(label_selector="app.kubernetes.io/managed-by=vfleet").items}


def _desired_namespaces(fleet: Fleet) -> dict[str, set[str]]:
    from vfleet import compile as compiler

    compiled = compiler.compile_fleet(fleet.root, env=fleet.env)
    return {c: {r.name for r in s.resources if r.kind == "Namespace"} for c, s in compiled.desired.items()}


def _release_revisions(fleet: Fleet, cluster: str) -> dict[str, int]:
    out = subprocess.run(
        [helm(), "list", "-A", "-o", "json", "--kubeconfig", fleet.env[ENV_VARS[cluster]]],
        capture_output=True,
        text=True,
        check=True,
    )
    return {f"{r['namespace']}/{r['name']}": int(r["revision"]) for r in json.loads(out.stdout)}


def test_apply_scenarios_against_the_real_engine(fleet: Fleet) -> None:
    # 1. the first apply creates everything; the objects are on the clusters
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    assert {s["cluster"]: s["result"] for s in report["stacks"]} == {"live-a": "applied", "live-b": "applied"}
    for cluster, names in _desired_namespaces(fleet).items():
        assert names and names <= _namespaces(fleet.clusters[cluster])
        quotas = k8s.CoreV1Api(kube_client(fleet.clusters[cluster])).list_resource_quota_for_all_namespaces()
        assert {q.metadata.namespace for q in quotas.items if q.metadata.name == "vfleet-quota"} >= names
    revisions = {c: _release_revisions(fleet, c) for c in fleet.clusters}
    assert all(revisions.values())

    # 2. a second apply touches no stack
    code, report = fleet.apply_json()
    assert code == 0 and {s["result"] for s in report["stacks"]} == {"skipped"}

    # 3. one parameter: exactly one stack, exactly one release
    ledger = fleet.root / "fleet/projects/payments/tenants/ledger-dev.yaml"
    ledger.write_text(ledger.read_text().replace('cpu: "4"', 'cpu: "5"', 1))
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    assert {s["cluster"]: s["result"] for s in report["stacks"]} == {"live-a": "applied", "live-b": "skipped"}
    live_a = next(s for s in report["stacks"] if s["cluster"] == "live-a")
    assert live_a["changes"].get("update", 0) >= 1 and not live_a["changes"].get("create")
    after = {c: _release_revisions(fleet, c) for c in fleet.clusters}
    bumped = [(c, r) for c in after for r in after[c] if after[c][r] != revisions[c].get(r)]
    assert bumped == [("live-a", "vc-payments-ledger-dev/ledger-dev")]

    # 4. deleting a protected tenant is refused (by vfleet's guard, before the engine)
    checkout = fleet.root / "fleet/projects/payments/tenants/checkout.yaml"
    saved = checkout.read_text()
    checkout.unlink()
    lock = fleet.root / "fleet/placement.lock"
    saved_lock = lock.read_text()
    lock.write_text("".join(line for line in saved_lock.splitlines(keepends=True) if "checkout-prod" not in line))
    code, report = fleet.apply_json()
    assert code == 1
    live_b = next(s for s in report["stacks"] if s["cluster"] == "live-b")
    assert live_b["result"] == "refused" and "protected" in live_b["message"]
    assert "vc-payments-checkout-prod" in _namespaces(fleet.clusters["live-b"])
    checkout.write_text(saved)
    lock.write_text(saved_lock)

    # 5. one cluster unreachable: the other still applies, exit 1 names the failed stack. Both clusters in
    # one wave here (a failure in an earlier wave would rightly hold the later one back) and both changed:
    # a line added at the top of a tenant file moves its `vfleet.dev/source` annotation.
    spec_b = fleet.root / "fleet/clusters/live-b.yaml"
    spec_b.write_text(spec_b.read_text().replace("wave: 1", "wave: 0"))
    for name in ("payments/tenants/ledger-dev.yaml", "web/tenants/design-system.yaml"):  # live-a, live-b
        path = fleet.root / "fleet/projects" / name
        path.write_text("# touched\n" + path.read_text())
    dead = fleet.root.parent / "dead.kubeconfig"
    dead.write_text(
        Path(fleet.env[ENV_VARS["live-b"]]).read_text().replace(fleet.clusters["live-b"].server, "https://127.0.0.1:9")
    )
    code, report = fleet.apply_json(env={**fleet.env, ENV_VARS["live-b"]: str(dead)})
    assert code == 1, why(report)
    assert {s["cluster"]: s["result"] for s in report["stacks"]} == {"live-a": "applied", "live-b": "failed"}
    assert report["summary"]["failed"] == ["live-b"]
    code, report = fleet.apply_json()  # reachable again: only the failed stack runs, and converges
    assert code == 0 and {s["cluster"]: s["result"] for s in report["stacks"]} == {
        "live-a": "skipped",
        "live-b": "applied",
    }
    spec_b.write_text(spec_b.read_text().replace("wave: 0", "wave: 1"))


def test_an_apply_killed_mid_way_is_followed_by_one_that_converges(fleet: Fleet) -> None:
    """A fresh state (its own state dir, so the stacks start empty) on clusters cleared of vfleet's objects,
    an apply SIGKILLed once it has created something, then an apply that must converge."""
    env = {**fleet.env, "VFLEET_STATE_DIR": str(fleet.root.parent / "state-kill")}
    for cluster in fleet.clusters.values():
        api = k8s.CoreV1Api(kube_client(cluster))
        for ns in _namespaces(cluster):
            api.delete_namespace(ns)  # Helm keeps its release records in the namespace: they go too
    deadline = time.monotonic() + 180
    while any(_namespaces(c) for c in fleet.clusters.values()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not any(_namespaces(c) for c in fleet.clusters.values()), "namespaces did not finish deleting"
    proc = subprocess.Popen(
        [VFLEET, "apply", ".", "--yes", "--output", "json"],
        cwd=fleet.root,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not _namespaces(fleet.clusters["live-a"]) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _namespaces(fleet.clusters["live-a"]), "the apply never got as far as creating a namespace"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # vfleet, pulumi, the language host and the plugin at once
        proc.wait(timeout=60)
    done = subprocess.run(
        [VFLEET, "apply", ".", "--yes", "--output", "json"],
        cwd=fleet.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for cluster, names in _desired_namespaces(fleet).items():
        assert names <= _namespaces(fleet.clusters[cluster])
    again = subprocess.run(
        [VFLEET, "apply", ".", "--yes", "--output", "json"],
        cwd=fleet.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0 and {s["result"] for s in json.loads(again.stdout)["stacks"]} == {"skipped"}
