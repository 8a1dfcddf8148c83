"""Policy in the plan, with a real OPA: head findings marked new / existing / resolved; fail closed."""

from __future__ import annotations

import shutil
from pathlib import Path

from plankit import History, tenant
from policykit import POLICIES
from vfleet.core.findings import Severity
from vfleet.plan import PolicyStatus

pytestmark = __import__("pytest").mark.policy


def _history(tmp_path: Path) -> History:
    h = History(tmp_path / "repo")
    shutil.copytree(POLICIES, h.root / "policies")
    h.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1"))
    return h


def _statuses(p: object) -> set[tuple[str, str, str]]:
    return {(f.status.value, f.finding.code, f.finding.subject or "") for f in p.policy.findings}  # type: ignore[attr-defined]


def test_new_deny_refuses_and_a_fix_resolves_it(tmp_path: Path) -> None:
    h = _history(tmp_path)
    base = h.commit("base")
    clean = h.plan(base, base, policy=True)
    assert clean.exit_code == 0 and not clean.policy.denies, clean.policy.findings
    existing = {(f.finding.code, f.finding.subject) for f in clean.policy.findings}

    rogue = tenant("rogue", cluster="us-1").replace("owner: alice", "owner: mallory")
    h.write("fleet/projects/alpha/tenants/rogue.yaml", rogue)
    bad = h.commit("owner outside the project")
    p = h.plan(base, bad, policy=True)
    assert p.exit_code == 1
    [deny] = p.policy.denies
    assert (deny.status, deny.cluster, deny.finding.subject) == (PolicyStatus.NEW, "us-1", "tenant:alpha/rogue")
    assert deny.finding.severity is Severity.DENY and "owner-member" in deny.finding.code
    assert {c.cluster: c.policy_denies for c in p.clusters}["us-1"] == 1
    assert all(f.status is PolicyStatus.EXISTING for f in p.policy.findings
               if (f.finding.code, f.finding.subject) in existing)

    h.write("fleet/projects/alpha/tenants/rogue.yaml", tenant("rogue", cluster="us-1"))
    fixed = h.plan(bad, h.commit("fix owner"), policy=True)
    assert fixed.exit_code == 0 and not fixed.policy.denies  # the owner is in no desired object
    assert ("resolved", deny.finding.code, "tenant:alpha/rogue") in _statuses(fixed)


def test_policy_that_does_not_compile_fails_closed(tmp_path: Path) -> None:
    h = _history(tmp_path)
    base = h.commit("base")
    h.write("policies/broken.rego", "package vfleet.rules.broken\n\nviolation contains x if {\n")
    p = h.plan(base, h.commit("broken policy"), policy=True)
    assert p.exit_code == 2 and p.policy.errors.errors


def test_base_without_policies_makes_every_finding_new(tmp_path: Path) -> None:
    h = History(tmp_path / "repo")
    h.write("fleet/projects/alpha/tenants/rogue.yaml",
            tenant("rogue", cluster="us-1").replace("owner: alice", "owner: mallory"))
    base = h.commit("no policies yet")
    shutil.copytree(POLICIES, h.root / "policies")
    p = h.plan(base, h.commit("add policies"), policy=True)
    assert "no policies/" in p.policy.note and p.exit_code == 1
    assert {f.status for f in p.policy.findings} == {PolicyStatus.NEW}
