"""A shrinking desired state is always visible: every tenant that leaves a stack's last applied state is
named with its reason before anything runs, and an apply goes ahead only for a deletion Git knows about.

The fleet is a copy of the example fleet in a real Git repository (real `git`); the engine is the fake of
test_apply_orchestrate (these tests are about what is decided before any engine call)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_apply_orchestrate import (
    FakeEngine,
    allow,
    fleet,  # noqa: F401  (the fixture `repo` builds on)
    results,
)

from vfleet import compile as compiler
from vfleet.api import applied_tenants
from vfleet.apply import orchestrate, prechecks
from vfleet.apply.decide import Result
from vfleet.apply.orchestrate import Options
from vfleet.apply.records import Records, RecordsError
from vfleet.core.findings import Severity
from vfleet.plan import Options as PlanOptions
from vfleet.plan import Plan, plan, vanished
from vfleet.plan.vanished import Reason
from vfleet.report import plan_json, plan_markdown

LEDGER = "fleet/projects/payments/tenants/ledger-dev.yaml"  # one tenant, payments/ledger-dev, on eu-dev
PREVIEWS = "fleet/projects/web/tenants/previews.yaml"  # web/preview-pr-4812 (eu-dev) and -4827 (eu-central)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(fleet: Path) -> Path:  # noqa: F811
    """test_apply_orchestrate's copy of the example fleet, committed to a Git repository of its own."""
    (fleet / ".gitignore").write_text(".vfleet/\n")
    git(fleet, "init", "-q", "-b", "main")
    git(fleet, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    commit(fleet, "fleet")
    return fleet


def commit(root: Path, message: str) -> None:
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-a", "-m", message)


def apply(root: Path, options: Options | None = None) -> orchestrate.Report:
    compiled = compiler.compile_fleet(root)
    assert compiled.ok, [str(f) for f in compiled.findings.errors]
    return orchestrate.run(compiled, options or Options(), runner=FakeEngine, records=Records(root / ".vfleet/state"),
                           policy=allow, guard=prechecks.deletion_guard(), user="tester")


def unlock(root: Path, *tenants: str) -> None:
    lock = root / "fleet/placement.lock"
    lock.write_text("".join(line for line in lock.read_text().splitlines(keepends=True)
                            if not any(f"  {t}:" in line for t in tenants)))


def drop_first_document(root: Path, path: str) -> None:
    file = root / path
    file.write_text(file.read_text().split("\n---\n", 1)[1])


def leaving(report: orchestrate.Report) -> dict[tuple[str, str], Reason]:
    return {(v.cluster, v.tenant): v.reason for v in report.vanished}


def test_the_apply_records_where_each_tenant_came_from(repo: Path) -> None:
    apply(repo)
    sources = Records(repo / ".vfleet/state").applied_sources("eu-dev")
    assert sources is not None and sources.untracked == frozenset()
    assert sources.tenants["payments/ledger-dev"] == f"{LEDGER}:1"
    assert sources.tenants["web/preview-pr-4812"].startswith(f"{PREVIEWS}:")


def test_a_tenant_whose_file_git_deleted_is_named_and_the_apply_goes_ahead(repo: Path) -> None:
    apply(repo)
    git(repo, "rm", "-q", LEDGER)
    unlock(repo, "payments/ledger-dev")
    commit(repo, "delete ledger-dev")
    report = apply(repo)
    assert leaving(report) == {("eu-dev", "payments/ledger-dev"): Reason.DELETED}
    (item,) = report.vanished
    assert not item.blocking and f"{LEDGER} was deleted in Git" in item.detail
    finding = item.finding()
    assert finding.severity is Severity.INFO and finding.location is not None and finding.location.file == LEDGER
    assert results(report)["eu-dev"] is Result.APPLIED


def test_a_staged_git_rm_is_a_deletion_git_knows_about(repo: Path) -> None:
    apply(repo)
    git(repo, "rm", "-q", LEDGER)
    unlock(repo, "payments/ledger-dev")
    report = apply(repo)
    assert leaving(report) == {("eu-dev", "payments/ledger-dev"): Reason.DELETED}
    assert results(report)["eu-dev"] is Result.APPLIED


def test_a_document_removed_and_committed_is_a_deletion(repo: Path) -> None:
    apply(repo)
    drop_first_document(repo, PREVIEWS)
    unlock(repo, "web/preview-pr-4812")
    commit(repo, "close PR 4812")
    report = apply(repo)
    (item,) = report.vanished
    assert (item.reason, item.tenant) == (Reason.DELETED, "web/preview-pr-4812")
    assert "no longer defines it" in item.detail
    assert results(report)["eu-dev"] is Result.APPLIED


def test_an_uncommitted_removal_is_refused_before_anything_runs_and_an_override_passes(repo: Path) -> None:
    apply(repo)
    drop_first_document(repo, PREVIEWS)
    unlock(repo, "web/preview-pr-4812")
    engine = FakeEngine()
    compiled = compiler.compile_fleet(repo)
    report = orchestrate.run(compiled, Options(), runner=lambda: engine, records=Records(repo / ".vfleet/state"),
                             policy=allow, guard=prechecks.deletion_guard(), user="tester")
    assert leaving(report) == {("eu-dev", "web/preview-pr-4812"): Reason.UNCOMMITTED}
    assert results(report)["eu-dev"] is Result.REFUSED and "eu-dev" not in engine.clusters
    codes = [f.code for f in report.refusals["eu-dev"]]
    assert codes == ["guard.vanished.uncommitted"]
    assert f"{PREVIEWS} differs from Git's index" in report.refusals["eu-dev"][0].message
    assert report.exit_code == 1
    # The later waves wait for eu-dev (wave 0): nothing else ran either.
    assert engine.clusters == []
    again = apply(repo, Options(override="closing PR 4812 by hand"))
    assert results(again)["eu-dev"] is Result.APPLIED
    (item,) = again.vanished
    assert item.overridden and item.finding().severity is Severity.WARN


def test_an_untracked_file_that_loses_a_tenant_is_not_a_deletion_in_git(repo: Path) -> None:
    extra = repo / "fleet/projects/payments/tenants/ledger-copy.yaml"
    extra.write_text((repo / LEDGER).read_text().replace("name: ledger-dev", "name: ledger-copy"))
    lock = repo / "fleet/placement.lock"
    text = lock.read_text()
    lock.write_text(text.replace("  payments/ledger-dev:", "  payments/ledger-copy: eu-dev\n  payments/ledger-dev:"))
    apply(repo)  # applied from a file Git has never seen
    extra.unlink()
    unlock(repo, "payments/ledger-copy")
    sources = Records(repo / ".vfleet/state").applied_sources("eu-dev")
    assert sources is not None and sources.untracked == {"fleet/projects/payments/tenants/ledger-copy.yaml"}
    report = apply(repo)
    assert leaving(report) == {("eu-dev", "payments/ledger-copy"): Reason.UNCOMMITTED}
    assert "never in Git" in report.vanished[0].detail
    assert results(report)["eu-dev"] is Result.REFUSED


def test_a_tenant_moved_to_another_cluster_is_named_as_moved(repo: Path) -> None:
    apply(repo)
    path = repo / LEDGER
    path.write_text(path.read_text().replace("cluster: eu-dev", "cluster: eu-central"))
    lock = repo / "fleet/placement.lock"
    lock.write_text(lock.read_text().replace("payments/ledger-dev: eu-dev", "payments/ledger-dev: eu-central"))
    commit(repo, "move ledger-dev")
    report = apply(repo, Options(override="move"))
    assert leaving(report) == {("eu-dev", "payments/ledger-dev"): Reason.MOVED}
    assert "now lives on cluster eu-central" in report.vanished[0].detail


def test_without_recorded_sources_the_project_folder_is_compared_with_git(repo: Path) -> None:
    apply(repo)
    state = repo / ".vfleet/state/applied"
    (state / "eu-dev.sources.json").unlink()  # as an apply by an older vfleet left it
    drop_first_document(repo, PREVIEWS)
    unlock(repo, "web/preview-pr-4812")
    refused = apply(repo)
    (item,) = refused.vanished
    assert item.reason is Reason.UNCOMMITTED and item.source is None
    assert "fleet/projects/web/tenants/ differs from Git's index: " + PREVIEWS in item.detail
    commit(repo, "close PR 4812")
    (item,) = apply(repo).vanished
    assert item.reason is Reason.DELETED and "exactly as Git's index has it" in item.detail


def test_outside_git_nothing_shows_a_deletion_was_meant(repo: Path) -> None:
    apply(repo)
    shutil.rmtree(repo / ".git")
    (repo / LEDGER).unlink()
    unlock(repo, "payments/ledger-dev")
    report = apply(repo)
    assert leaving(report) == {("eu-dev", "payments/ledger-dev"): Reason.NO_GIT}
    assert results(report)["eu-dev"] is Result.REFUSED
    assert results(apply(repo, Options(override="no Git here")))["eu-dev"] is Result.APPLIED


def test_a_corrupted_sources_record_is_an_error_naming_it(repo: Path) -> None:
    apply(repo)
    path = repo / ".vfleet/state/applied/eu-dev.sources.json"
    path.write_bytes(b'{"payments/ledger-dev": "fleet/proj')
    git(repo, "rm", "-q", LEDGER)
    unlock(repo, "payments/ledger-dev")
    with pytest.raises(RecordsError, match=r"eu-dev\.sources\.json"):
        apply(repo)


# --------------------------------------------------------------------------- the reasons, one by one


def side(git_blobs: dict[str, str] | None, read: dict[str, str], present: set[str]) -> vanished.Side:
    def folder(prefix: str) -> tuple[dict[str, str], dict[str, str]]:
        return ({p: b for p, b in (git_blobs or {}).items() if p.startswith(prefix)},
                {p: b for p, b in read.items() if p.startswith(prefix)})

    return vanished.Side(None if git_blobs is None else git_blobs.get, read.get, present.__contains__,
                         "Git's index", folder)


F = "fleet/projects/p/tenants/a.yaml"


@pytest.mark.parametrize(
    ("git_blobs", "read", "present", "reason"),
    [
        ({}, {}, set(), Reason.DELETED),  # gone from Git and from the work tree
        ({F: "1"}, {F: "1"}, {F}, Reason.DELETED),  # the file as Git has it, without the tenant
        ({F: "1"}, {F: "2"}, {F}, Reason.UNCOMMITTED),  # an edit Git does not know about
        ({}, {F: "2"}, {F}, Reason.UNCOMMITTED),  # an untracked file
        ({F: "1"}, {}, set(), Reason.UNCOMMITTED),  # in Git, missing from the work tree
        ({F: "1"}, {}, {F}, Reason.UNREADABLE),  # there, in Git, and not read: vfleet missed it
        (None, {}, set(), Reason.NO_GIT),
    ],
)
def test_each_reason(git_blobs: dict[str, str] | None, read: dict[str, str], present: set[str],
                     reason: Reason) -> None:
    (item,) = vanished.find("c1", {"p/a", "p/b"}, {"p/a": f"{F}:3"}, {"p/b"}, {"p/b": "c1"},
                            side(git_blobs, read, present))
    assert (item.tenant, item.reason, item.source) == ("p/a", reason, f"{F}:3")
    assert item.blocking is (reason not in (Reason.DELETED, Reason.MOVED))
    assert item.finding().location is not None and item.finding().location.line == 3  # type: ignore[union-attr]


def test_an_unreadable_file_is_refused_even_with_an_override() -> None:
    (item,) = vanished.find("c1", {"p/a"}, {"p/a": f"{F}:1"}, set(), {}, side({F: "1"}, {}, {F}), override="x")
    assert item.blocking and not item.overridden
    assert "no override" in item.finding().message


def test_the_revision_side_reads_every_spec_file_it_has() -> None:
    rev = vanished.revision_side({F: "1", "fleet/projects/p/tenants/README.md": "9"}, "commit abc")
    (gone,) = vanished.find("c1", {"p/a"}, {"p/a": f"{F}:1"}, set(), {}, rev)
    assert gone.reason is Reason.DELETED and "as commit abc has it" in gone.detail
    (deleted,) = vanished.find("c1", {"p/x"}, {"p/x": "fleet/projects/p/tenants/x.yaml:1"}, set(), {}, rev)
    assert deleted.reason is Reason.DELETED and "deleted in Git" in deleted.detail
    (unknown,) = vanished.find("c1", {"p/y"}, None, set(), {}, rev)
    assert unknown.reason is Reason.DELETED  # the folder is the revision itself; README.md is not a spec


# ------------------------------------------------------------------------------------------- the plan


def plan_of(root: Path, base: str, head: str | None = None) -> Plan:
    options = PlanOptions(policy=False, cache=False, applied=applied_tenants(root))
    return plan(root, base, head, options)


def test_the_plan_names_what_leaves_the_applied_state_even_when_the_change_is_older(repo: Path) -> None:
    apply(repo)
    git(repo, "rm", "-q", LEDGER)
    unlock(repo, "payments/ledger-dev")
    commit(repo, "delete ledger-dev")  # merged, not applied yet
    (repo / "fleet/projects/web/tenants/previews.yaml").write_text((repo / PREVIEWS).read_text() + "\n")
    commit(repo, "an unrelated change")
    result = plan_of(repo, "HEAD~1", "HEAD")
    assert [(v.tenant, v.reason) for v in result.vanished] == [("payments/ledger-dev", Reason.DELETED)]
    assert not any(g.blocking for g in result.guards)
    assert "payments/ledger-dev" in plan_markdown.to_markdown(result)
    data = plan_json.to_json(result)
    assert data["vanished"][0]["reason"] == "deleted" and data["vanished"][0]["blocking"] is False


def test_the_plan_of_the_work_tree_refuses_an_uncommitted_removal_like_the_apply(repo: Path) -> None:
    apply(repo)
    drop_first_document(repo, PREVIEWS)
    unlock(repo, "web/preview-pr-4812")
    result = plan_of(repo, "HEAD")
    assert [(v.tenant, v.reason) for v in result.vanished] == [("web/preview-pr-4812", Reason.UNCOMMITTED)]
    assert [g.code for g in result.guards if g.blocking] == ["guard.vanished.uncommitted"]
    assert result.exit_code == 1
    commit(repo, "close PR 4812")
    assert [v.reason for v in plan_of(repo, "HEAD~1").vanished] == [Reason.DELETED]
