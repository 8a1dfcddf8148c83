"""`vfleet drift` against a real loopback cluster: nothing on a freshly applied fleet; a field changed by
another client, a deleted object, an orphan and a release upgraded by hand are each found, exit 3.

The module runs its own cluster: orphans are every vfleet-labelled object no spec declares, so a cluster
shared with other tests' fleets would show theirs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes import client as k8s
from livefleet import PROJECT, cluster_env, compile_placed, install_release, put_on_cluster, write_fleet

from livekit import kube_client
from vfleet import devclusters, toolchain
from vfleet.compile import Compiled
from vfleet.devclusters import DevCluster
from vfleet.live.drift import Change, drift
from vfleet.report.drift import to_markdown

pytestmark = pytest.mark.live

CLUSTER = "drift-a"
VFLEET = str(Path(sys.executable).with_name("vfleet"))
TENANTS: dict[str, dict[str, Any]] = {
    "api": {"cluster": CLUSTER, "parameters": {"replicas": 2}},
    "jobs": {"cluster": CLUSTER},
}


@dataclass
class Fleet:
    compiled: Compiled
    dev: DevCluster
    env: dict[str, str]
    helm_home: Path


@pytest.fixture(scope="module")
def fleet(test_chart: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    try:
        clusters = devclusters.start_clusters([CLUSTER])
    except toolchain.ToolMissing as missing:
        pytest.fail(f"the live tier needs {missing.tool}: {missing}", pytrace=False)
    try:
        (dev,) = clusters
        root = write_fleet(tmp_path_factory.mktemp("drift") / "repo", [CLUSTER], test_chart, TENANTS)
        compiled = compile_placed(root)
        home = tmp_path_factory.mktemp("helm")
        put_on_cluster(compiled, CLUSTER, dev, home)
        yield Fleet(compiled, dev, cluster_env({CLUSTER: dev}), home)
    finally:
        devclusters.stop_clusters(clusters)


def vfleet(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "250", "VFLEET_CACHE_DIR": str(cwd / ".cache"), **env}
    return subprocess.run([VFLEET, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def test_a_freshly_applied_fleet_has_no_drift(fleet: Fleet, tmp_path: Path) -> None:
    report = drift(fleet.compiled, env=fleet.env)
    assert report.drifts == ()
    assert report.findings.items == ()
    assert report.exit_code == 0
    # In sync, every object is decided without a dry run: discovery per group-version (5), one list per
    # managed kind the cluster serves (9 of 10: no NodeClaim CRD here), release records (1), /version (1).
    assert report.dry_runs == 0
    assert report.requests == 5 + 9 + 1 + 1
    done = vfleet("drift", str(fleet.compiled.root), env=fleet.env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"drift ({CLUSTER}): no drift" in done.stdout


def test_changes_by_other_clients_are_found(fleet: Fleet, tmp_path: Path) -> None:
    api = kube_client(fleet.dev)
    core = k8s.CoreV1Api(api)
    ns = f"vc-{PROJECT}-api"
    # another client (kubectl edit, say) lowers the quota: an Update by a different field manager
    core.patch_namespaced_resource_quota(
        "vfleet-quota", ns, {"spec": {"hard": {"pods": "5"}}}, field_manager="kubectl-edit"
    )
    core.delete_namespaced_limit_range("vfleet-limits", f"vc-{PROJECT}-jobs")
    # an object labelled as vfleet's that no spec declares, and one that is not vfleet's at all
    for name, labels in (("left-over", {"app.kubernetes.io/managed-by": "vfleet"}), ("someone-elses", {})):
        k8s.NetworkingV1Api(api).create_namespaced_network_policy(
            ns,
            k8s.V1NetworkPolicy(
                metadata=k8s.V1ObjectMeta(name=name, labels=labels),
                spec=k8s.V1NetworkPolicySpec(pod_selector=k8s.V1LabelSelector(), policy_types=["Ingress"]),
            ),
        )
    # a release upgraded by hand with other values
    release = next(
        r for r in fleet.compiled.desired[CLUSTER].resources if r.kind == "HelmRelease" and r.name == "jobs"
    )
    by_hand = {
        **release.body["spec"]["values"],
        "controlPlane": {"statefulSet": {"highAvailability": {"replicas": 3}}},
    }
    install_release(fleet.dev, release.body["spec"], fleet.helm_home, values=by_hand)

    report = drift(fleet.compiled, env=fleet.env)
    found = {(d.change, d.kind, d.namespace, d.name): d for d in report.drifts}
    assert set(found) == {
        (Change.CHANGED, "ResourceQuota", ns, "vfleet-quota"),
        (Change.MISSING, "LimitRange", f"vc-{PROJECT}-jobs", "vfleet-limits"),
        (Change.ORPHAN, "NetworkPolicy", ns, "left-over"),
        (Change.CHANGED, "HelmRelease", f"vc-{PROJECT}-jobs", "jobs"),
    }, [d.to_json() for d in report.drifts]
    quota = found[(Change.CHANGED, "ResourceQuota", ns, "vfleet-quota")]
    assert [(f.path, f.before, f.after) for f in quota.fields] == [("spec.hard.pods", "5", "20")]
    assert quota.location is not None and quota.location.file == f"fleet/projects/{PROJECT}/tenants/api.yaml"
    values = found[(Change.CHANGED, "HelmRelease", f"vc-{PROJECT}-jobs", "jobs")]
    paths = {f.path: (f.before, f.after) for f in values.fields}
    assert paths["values.controlPlane.statefulSet.highAvailability.replicas"] == (3.0, 1.0)
    assert report.exit_code == 3

    done = vfleet("drift", str(fleet.compiled.root), "-o", "json", env=fleet.env, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    data = orjson.loads(done.stdout)
    assert data["counts"] == {"changed": 2, "missing": 1, "orphan": 1}
    table = vfleet("drift", str(fleet.compiled.root), "--cluster", CLUSTER, env=fleet.env, cwd=tmp_path)
    assert table.returncode == 3
    assert "spec.hard.pods" in table.stdout and "left-over" in table.stdout
    markdown = to_markdown(report)
    assert "| drift-a | changed | ResourceQuota vc-shop-api/vfleet-quota |" in markdown
    assert '| `spec.hard.pods` | `"5"` | `"20"` |' in markdown


def test_an_unreachable_cluster_exits_2_naming_it(fleet: Fleet, tmp_path: Path) -> None:
    config = yaml.safe_load(fleet.dev.admin_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    done = vfleet("drift", str(fleet.compiled.root), env={"KUBE_DRIFT_A": str(dead)}, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cluster {CLUSTER} is unreachable" in done.stdout
    assert fleet.dev.admin_token not in done.stdout + done.stderr
