"""Due deletions -> protected and guarded -> a commit on a branch that `vfleet plan` shows as deletions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import git

from plankit import History, tenant
from vfleet import compile as compiler
from vfleet.lifecycle import propose
from vfleet.plan import guards

EXPIRED = "  autoDelete: {expiry: 2026-01-31}\n"
REASON = ("expired at 2026-02-01T00:00:00Z (expiry 2026-01-31)",)


def history(tmp_path: Path, extra: Mapping[str, str | None] | None = None) -> History:
    files: dict[str, str | None] = {
        "fleet/projects/alpha/tenants/old.yaml": tenant("old", extra=EXPIRED),
        "fleet/projects/alpha/tenants/keep.yaml": tenant("keep", protect=True, extra=EXPIRED),
        "fleet/projects/alpha/tenants/pair.yaml": tenant("first") + "---\n# the second of two\n"
        + tenant("second", extra=EXPIRED),
        **(extra or {}),
    }
    h = History(tmp_path / "fleet", files)
    h.commit("fleet")
    return h


def test_protected_tenants_are_held_and_others_written(tmp_path: Path) -> None:
    h = history(tmp_path)
    compiled = compiler.compile_fleet(h.root, "HEAD", env=h.env)
    due = {"alpha/old": REASON, "alpha/keep": REASON, "alpha/second": REASON}
    proposals, _hits = propose.screen(compiled, due, guards.GuardConfig(max_delete_share=1.0), None)
    assert [(p.key, p.protected, p.held) for p in proposals] == [
        ("alpha/keep", True, "guard.protected"), ("alpha/old", False, ""), ("alpha/second", False, "")]
    files = propose.changes(compiled, ["alpha/old", "alpha/second"])
    assert files["fleet/projects/alpha/tenants/old.yaml"] is None
    pair = files["fleet/projects/alpha/tenants/pair.yaml"]
    assert pair is not None and b"name: first" in pair and b"second" not in pair
    lock = files["fleet/placement.lock"]
    assert lock is not None and b"alpha/old" not in lock and b"alpha/second" not in lock
    assert b"alpha/keep" in lock and b"alpha/first" in lock


def test_the_branch_is_a_plan_of_deletions(tmp_path: Path) -> None:
    h = history(tmp_path)
    base = h.repo.head.commit.hexsha
    status_before = h.repo.git.status("--porcelain")
    compiled = compiler.compile_fleet(h.root, "HEAD", env=h.env)
    proposals, _ = propose.screen(compiled, {"alpha/old": REASON, "alpha/second": REASON},
                                  guards.GuardConfig(max_delete_share=1.0), None)
    files = propose.changes(compiled, [p.key for p in proposals])
    sha = propose.commit_branch(h.root, base, files, propose.DEFAULT_BRANCH, propose.message(proposals))
    repo = git.Repo(h.root)
    assert repo.commit(propose.DEFAULT_BRANCH).hexsha == sha
    assert repo.commit(sha).parents[0].hexsha == base
    assert repo.head.commit.hexsha == base and h.repo.git.status("--porcelain") == status_before  # untouched
    assert "alpha/old (cluster eu-1): expired at" in repo.commit(sha).message
    planned = h.plan(base, propose.DEFAULT_BRANCH)
    assert not planned.findings.errors, [f.message for f in planned.findings.errors]
    eu = next(c for c in planned.clusters if c.cluster == "eu-1")
    assert sorted(t.tenant for t in eu.tenants if t.op.value == "delete") == ["alpha/old", "alpha/second"]
    # The plan guards the deletion again, with the base's own limits (2 of 5 tenants: over 25%).
    assert [g.code for g in eu.guards] == ["guard.mass-delete"] and eu.blocked


def test_a_mass_expiry_is_held_like_a_mass_delete(tmp_path: Path) -> None:
    many = {f"fleet/projects/alpha/tenants/t{i}.yaml": tenant(f"t{i}", extra=EXPIRED) for i in range(4)}
    h = history(tmp_path, many)
    compiled = compiler.compile_fleet(h.root, "HEAD", env=h.env)
    due = {f"alpha/t{i}": REASON for i in range(4)}
    proposals, hits = propose.screen(compiled, due, guards.GuardConfig(max_deletes=2), None)
    assert {p.held for p in proposals} == {"guard.mass-delete"}
    assert [h.code for h in hits] == ["guard.mass-delete"]
    passed, hits = propose.screen(compiled, due, guards.GuardConfig(max_deletes=2), "end of the quarter")
    assert {p.held for p in passed} == {""} and hits[0].overridden
