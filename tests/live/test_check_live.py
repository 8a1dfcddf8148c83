"""`vfleet check --live` against a real loopback cluster: the API server's own rejections, as findings at
the tenant's file:line, exit 1; an unreachable cluster or credentials without rights, exit 2."""

from __future__ import annotations

import os
import shutil
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
from livefleet import PROJECT, cluster_env, compile_placed, put_on_cluster, write_fleet

from livekit import REPO, kube_client
from vfleet.compile import Compiled
from vfleet.core.findings import Severity
from vfleet.devclusters import DevCluster
from vfleet.live.dryrun import check_live

pytestmark = pytest.mark.live

CLUSTER = "check-a"
VFLEET = str(Path(sys.executable).with_name("vfleet"))
BASE_TENANTS: dict[str, dict[str, Any]] = {
    "web": {"cluster": CLUSTER},
    "db": {"cluster": CLUSTER, "parameters": {"persist": True, "size": "5Gi"}},
}


def tenant_file(name: str) -> str:
    return f"fleet/projects/{PROJECT}/tenants/{name}.yaml"


@dataclass
class Applied:
    root: Path
    base: Compiled
    dev: DevCluster
    env: dict[str, str]
    chart: Path


@pytest.fixture(scope="module")
def applied(
    live_clusters: list[DevCluster], test_chart: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Applied]:
    """The base fleet (two tenants) put on the session's first cluster, shared by this module's tests."""
    dev = live_clusters[0]
    root = write_fleet(tmp_path_factory.mktemp("check") / "repo", [CLUSTER], test_chart, BASE_TENANTS)
    base = compile_placed(root)
    put_on_cluster(base, CLUSTER, dev, tmp_path_factory.mktemp("helm"))
    yield Applied(root, base, dev, cluster_env({CLUSTER: dev}), test_chart)


def changed_fleet(applied: Applied, tmp_path: Path) -> Compiled:
    """The pull request: db's volume grows (immutable), a tenant with a ServiceMonitor (no CRD on the
    cluster), a tenant whose memory request is not a quantity (schema)."""
    root = tmp_path / "repo"
    shutil.copytree(applied.root, root)
    tenants = {
        **BASE_TENANTS,
        "db": {"cluster": CLUSTER, "parameters": {"persist": True, "size": "10Gi"}},
        "metrics": {"cluster": CLUSTER, "parameters": {"monitor": True}},
        "typo": {"cluster": CLUSTER, "parameters": {"memory": "lots"}},
    }
    write_fleet(root, [CLUSTER], applied.chart, tenants)
    return compile_placed(root)


def test_the_applied_fleet_passes(applied: Applied) -> None:
    result = check_live(applied.base, env=applied.env)
    assert [f for f in result.findings if f.severity is not Severity.INFO] == []
    assert result.exit_code == 0
    assert result.clusters == (CLUSTER,)
    assert result.releases == 2
    # every desired object (2 tenants x 7) and every object the two releases render (5 + 5, the tenant's
    # kubeconfig Secret included)
    assert result.objects == len(applied.base.desired[CLUSTER].resources) - 2 + 10


def test_rejections_become_findings_at_the_tenant(applied: Applied, tmp_path: Path) -> None:
    head = changed_fleet(applied, tmp_path)
    result = check_live(head, base=applied.base, env=applied.env)
    by_code = {(f.code, f.subject): f for f in result.findings if f.severity is Severity.DENY}
    assert set(by_code) == {
        ("live.immutable", f"tenant:{PROJECT}/db"),
        ("live.unknown-kind", f"tenant:{PROJECT}/metrics"),
        ("live.invalid", f"tenant:{PROJECT}/typo"),
    }, [str(f) for f in result.findings]
    immutable = by_code[("live.immutable", f"tenant:{PROJECT}/db")]
    assert immutable.location is not None and (immutable.location.file, immutable.location.line) == (
        tenant_file("db"),
        1,
    )
    assert "StatefulSet vc-shop-db/db" in immutable.message and "Forbidden" in immutable.message
    missing_crd = by_code[("live.unknown-kind", f"tenant:{PROJECT}/metrics")]
    assert "ServiceMonitor" in missing_crd.message and "monitoring.coreos.com" in missing_crd.message
    assert missing_crd.location is not None and missing_crd.location.file == tenant_file("metrics")
    invalid = by_code[("live.invalid", f"tenant:{PROJECT}/typo")]
    assert "quantities must match" in invalid.message
    assert "default/" not in invalid.message  # the real namespace is named, not the stand-in
    assert result.exit_code == 1
    # Only what the change touches: the 3 changed releases rendered (5 objects each, the ServiceMonitor
    # is not served), the 2 new tenants' 7 objects; web's and db's own objects are in sync and unchanged.
    assert result.releases == 3
    assert result.objects == 3 * 5 + 2 * 7


def vfleet(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "250", "VFLEET_CACHE_DIR": str(cwd / ".cache"), **env}
    return subprocess.run([VFLEET, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def with_policies(root: Path) -> Path:
    shutil.copytree(REPO / "policies", root / "policies", dirs_exist_ok=True)
    return root


def test_cli_check_live_exits_1_with_file_and_line(applied: Applied, tmp_path: Path) -> None:
    head = changed_fleet(applied, tmp_path)
    root = with_policies(head.root)
    done = vfleet("check", str(root), "--live", "-o", "json", env=applied.env, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    report = orjson.loads(done.stdout)
    codes = {(f["code"], f["file"], f["line"]) for f in report["findings"] if f["severity"] == "deny"}
    assert ("live.immutable", tenant_file("db"), 1) in codes
    assert ("live.unknown-kind", tenant_file("metrics"), 1) in codes
    assert ("live.invalid", tenant_file("typo"), 1) in codes
    assert not [c for c in codes if not c[0].startswith("live.")], "the test fleet must pass the policies"
    table = vfleet("check", str(root), "--live", env=applied.env, cwd=tmp_path)
    assert table.returncode == 1
    assert f"{tenant_file('db')}:1: deny live.immutable" in table.stdout


def test_unreachable_cluster_exits_2_naming_it(applied: Applied, tmp_path: Path) -> None:
    """A kubeconfig whose server does not answer: fail closed, nothing reported as passing."""
    config = yaml.safe_load(applied.dev.admin_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"  # nothing listens on port 1
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    root = with_policies(changed_fleet(applied, tmp_path).root)
    env = {"KUBE_CHECK_A": str(dead)}
    done = vfleet("check", str(root), "--live", env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error live.unreachable" in done.stdout
    assert "cluster check-a is unreachable (https://127.0.0.1:1" in done.stdout
    assert "fleet/clusters/check-a.yaml" in done.stdout  # the spec whose kubeconfig reference failed
    assert applied.dev.admin_token not in done.stdout + done.stderr


def test_missing_kubeconfig_exits_2(applied: Applied, tmp_path: Path) -> None:
    result = check_live(applied.base, env={})
    (finding,) = result.findings
    assert finding.code == "live.kubeconfig" and finding.subject == "cluster:check-a"
    assert "KUBE_CHECK_A is not set" in finding.message
    assert result.exit_code == 2


def test_credentials_without_rights_name_the_missing_permission(applied: Applied) -> None:
    result = check_live(applied.base, env=cluster_env({CLUSTER: applied.dev}, admin=False))
    (finding,) = result.findings
    assert finding.code == "live.forbidden"
    assert "may not list namespaces cluster-wide" in finding.message
    assert applied.dev.user_token not in finding.message
    assert result.exit_code == 2


def test_a_chart_that_cannot_be_had_leaves_the_release_unchecked(applied: Applied, tmp_path: Path) -> None:
    """Not a rejection of the change (exit 1) but no verdict on it (exit 2): fail closed."""
    root = tmp_path / "repo"
    shutil.copytree(applied.root, root)
    write_fleet(root, [CLUSTER], tmp_path / "no-such-chart", BASE_TENANTS)
    result = check_live(compile_placed(root), env=applied.env)
    assert {(f.severity, f.code) for f in result.findings} == {(Severity.ERROR, "live.chart")}
    assert len(result.findings) == 2  # one per release
    assert result.exit_code == 2

def test_an_unchanged_object_that_drifted_is_still_checked(applied: Applied, tmp_path: Path) -> None:
    """web is not part of the change, but another client recreated its RoleBinding with another roleRef:
    the apply would have to change an immutable field, and the check says so (runs last: it drifts web)."""
    rbac = k8s.RbacAuthorizationV1Api(kube_client(applied.dev))
    ns = f"vc-{PROJECT}-web"
    rbac.delete_namespaced_role_binding("vfleet-host-view", ns)
    rbac.create_namespaced_role_binding(
        ns,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="vfleet-host-view"),
            role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
            subjects=[k8s.RbacV1Subject(kind="User", name="alice@example.com", api_group="rbac.authorization.k8s.io")],
        ),
    )
    result = check_live(changed_fleet(applied, tmp_path), base=applied.base, env=applied.env)
    web = [(f.severity, f.code) for f in result.findings if f.subject == f"tenant:{PROJECT}/web"]
    assert web == [(Severity.DENY, "live.immutable"), (Severity.WARN, "live.conflict")]
    assert result.exit_code == 1
