"""Deletion guards: the function `vfleet apply` shares with the plan, on real compiled desired states."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fleetkit import write_fleet
from plankit import History, tenant
from vfleet import compile as compiler
from vfleet.apply import prechecks
from vfleet.core.findings import Severity
from vfleet.desired import DesiredState
from vfleet.plan import guards
from vfleet.plan.diff import diff_cluster


def _states(root: Path, tenants: dict[str, str | None]) -> dict[str, DesiredState]:
    write_fleet(root, {f"fleet/projects/alpha/tenants/{k}.yaml": v for k, v in tenants.items()})
    compiled = compiler.compile_fleet(root, check_lock=False, env={"VFLEET_CACHE_DIR": str(root / ".cache")})
    assert compiled.ok, compiled.findings.errors
    return compiled.desired


def test_apply_uses_the_plan_guard() -> None:
    applied = prechecks.deletion_guard()
    assert isinstance(applied, type(guards.configured(guards.GuardConfig())))
    assert applied == guards.configured(guards.GuardConfig())  # the same guard, default limits


def test_check_cluster_on_desired_states(tmp_path: Path) -> None:
    names = ["a", "b", "c", "d"]
    before = _states(tmp_path / "before", {n: tenant(n, cluster="us-1", protect=n == "d") for n in names})
    after = _states(tmp_path / "after", {n: tenant(n, cluster="us-1") if n == "a" else None for n in names})
    found = guards.check_cluster("us-1", before["us-1"], after["us-1"], override=None)
    assert {(f.severity, f.code) for f in found} == {(Severity.DENY, "guard.protected"),
                                                     (Severity.DENY, "guard.mass-delete")}
    overridden = guards.check_cluster("us-1", before["us-1"], after["us-1"], override="retire")
    assert [f.code for f in overridden] == ["guard.protected"]  # never overridable
    assert guards.check_cluster("us-1", None, after["us-1"], override=None) == []  # nothing known before
    removed = guards.check_cluster("us-1", before["us-1"], None, override=None)
    assert "guard.cluster-removed" in [f.code for f in removed]
    assert guards.check_cluster("us-1", before["us-1"], before["us-1"], override=None) == []


def test_limits(tmp_path: Path) -> None:
    state = _states(tmp_path / "s", {n: tenant(n, cluster="us-1") for n in "abcdefghij"})["us-1"]
    view = guards.ClusterTenants.of(state)

    def keep(n: int) -> guards.ClusterTenants:
        kept = dict(list(view.tenants.items())[:n])
        return guards.ClusterTenants(kept, {ns: k for ns, k in view.namespaces.items() if k in kept})

    loose = guards.GuardConfig(max_deletes=100, max_delete_share=1.0)
    assert guards.evaluate("us-1", view, keep(1), loose, None) == []
    assert guards.evaluate("us-1", view, keep(9), guards.GuardConfig(), None) == []  # one deletion: never share
    assert [h.code for h in guards.evaluate("us-1", view, keep(7), guards.GuardConfig(), None)] == \
        ["guard.mass-delete"]  # 3 of 10 > 25 %
    assert [h.code for h in guards.evaluate("us-1", view, keep(8), replace(loose, max_deletes=1), None)] == \
        ["guard.mass-delete"]  # 2 > 1


def test_namespace_deleted_while_tenant_lives_on(tmp_path: Path) -> None:
    before = guards.ClusterTenants({"alpha/a": False}, {"vc-alpha-a": "alpha/a"})
    after = guards.ClusterTenants({"alpha/a": False}, {"vc-alpha-a-2": "alpha/a"})
    [hit] = guards.evaluate("eu-1", before, after, guards.GuardConfig(), None)
    assert hit.code == "guard.namespace-delete" and hit.overridable and hit.blocking


def test_same_object_under_a_new_api_version_is_an_update(tmp_path: Path) -> None:
    state = _states(tmp_path / "s", {"a": tenant("a", cluster="us-1")})["us-1"]
    policy = next(r for r in state.resources if r.kind == "NetworkPolicy")
    moved = replace(policy, api_version="networking.k8s.io/v2",
                    id=policy.id.replace("networking.k8s.io/v1", "networking.k8s.io/v2"))
    head = [moved if r is policy else r for r in state.resources]
    [change] = diff_cluster("us-1", state.resources, head)
    assert change.op.value == "update" and change.former_id == policy.id and change.id == moved.id


def test_bad_guard_config_is_broken_input(tmp_path: Path) -> None:
    h = History(tmp_path / "repo")
    h.write("vfleet.yaml", (h.root / "vfleet.yaml").read_text() + "guards: {maxDeleteShare: 3}\n")
    base = h.commit("bad limits")
    p = h.plan(base, base)
    assert p.exit_code == 2
    [f] = p.findings.errors
    assert f.code == "config.guards" and f.location is not None and f.location.file == "vfleet.yaml"
