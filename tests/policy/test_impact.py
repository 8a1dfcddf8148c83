"""`vfleet policy impact`: base and head policies evaluated against the same (head) fleet, on Git history."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from policykit import fleet_with_policies, vfleet
from vfleet import policy

pytestmark = pytest.mark.policy

TENANTS = "fleet/projects/team/tenants"


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """tests/fixtures/policy/impact with the repository's policies, committed once as the base."""
    root = fleet_with_policies("impact", tmp_path / "repo")
    repository = git.Repo.init(root)
    with repository.config_writer() as config:
        config.set_value("user", "name", "vfleet tests")
        config.set_value("user", "email", "tests@vfleet.invalid")
    repository.git.add(A=True)
    repository.index.commit("base: fleet and policies")
    return repository


def _root(repository: git.Repo) -> Path:
    return Path(repository.working_tree_dir or "")


def _raise_the_pod_security_floor(root: Path) -> None:
    data = root / "policies" / "data.yaml"
    data.write_text(data.read_text().replace("podSecurityFloor: baseline", "podSecurityFloor: restricted"))


def test_a_stricter_floor_newly_denies_the_two_baseline_tenants(repo: git.Repo) -> None:
    root = _root(repo)
    _raise_the_pod_security_floor(root)  # the head: the work tree, not committed
    run = vfleet("policy", "impact", "--base", "HEAD", str(root), "--output", "json")
    assert run.exit_code == 0, run.stdout
    report = run.json()
    rows = {(c["change"], c["subject"], c["rule"], c["file"], c["line"]) for c in report["changes"]}
    assert rows == {
        ("new-deny", "tenant:team/batch", "pod-security-floor", f"{TENANTS}/batch.yaml", 5),
        ("new-deny", "tenant:team/jobs", "pod-security-floor", f"{TENANTS}/jobs.yaml", 5),
    }
    assert report["counts"] == {"new-deny": 2, "cleared-deny": 0, "new-warn": 0, "cleared-warn": 0}
    assert "commit" in report["base"] and "work tree" in report["head"]


def test_the_same_policies_change_nothing(repo: git.Repo) -> None:
    run = vfleet("policy", "impact", "--base", "HEAD", str(_root(repo)))
    assert run.exit_code == 0
    assert "policy impact: no verdict changes" in run.stdout


def test_rego_changes_between_two_commits(repo: git.Repo) -> None:
    """Head commit: dev-sleep becomes a deny, and the owner rule is deleted; the base still has both."""
    root = _root(repo)
    _raise_the_pod_security_floor(root)
    repo.git.add(A=True)
    repo.index.commit("floor: restricted")
    data = root / "policies" / "data.yaml"
    data.write_text(data.read_text().replace("dev-sleep: warn", "dev-sleep: deny"))
    hygiene = root / "policies" / "rules" / "hygiene.rego"
    text = hygiene.read_text()
    start = text.index("violation contains lib.violation(\n\t\"pod-security-floor\"")
    end = text.index("# The levels that pass")
    hygiene.write_text(text[:start] + text[end:])  # drop both pod-security-floor rules
    repo.git.add(A=True)
    repo.index.commit("dev-sleep denies; pod security no longer checked")
    (root / "policies" / "data.yaml").write_text("garbage: [")  # the work tree must not be read

    report = policy.impact(root, "HEAD~1", "HEAD")
    assert report.exit_code == 0, [f.message for f in report.findings]
    rows = {(c.change.value, c.subject, c.rule) for c in report.changes}
    assert rows == {
        ("cleared-deny", "tenant:team/batch", "pod-security-floor"),
        ("cleared-deny", "tenant:team/jobs", "pod-security-floor"),
        ("new-deny", "tenant:team/scratch", "dev-sleep"),
        ("cleared-warn", "tenant:team/scratch", "dev-sleep"),
    }


def test_the_table_lists_each_changed_subject(repo: git.Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    root = _root(repo)
    _raise_the_pod_security_floor(root)
    run = vfleet("policy", "impact", "--base", "HEAD", str(root))
    assert run.exit_code == 0
    assert "tenant:team/batch" in run.stdout and "tenant:team/jobs" in run.stdout
    assert "2 new-deny, 0 cleared-deny, 0 new-warn, 0 cleared-warn (2 subjects)" in run.stdout
    assert "\x1b[" not in run.stdout


def test_broken_head_policies_are_an_error_not_an_empty_impact(repo: git.Repo) -> None:
    root = _root(repo)
    (root / "policies" / "rules" / "broken.rego").write_text("package vfleet.rules.broken\n\nx := \n")
    run = vfleet("policy", "impact", "--base", "HEAD", str(root), "--output", "json")
    assert run.exit_code == 2
    report = run.json()
    assert report["changes"] == []
    assert [f["code"] for f in report["findings"]] == ["policy.compile"]
    assert report["findings"][0]["message"].startswith("head policies:")


def test_an_unknown_base_revision_is_an_error(repo: git.Repo) -> None:
    run = vfleet("policy", "impact", "--base", "no-such-branch", str(_root(repo)), "--output", "json")
    assert run.exit_code == 2
    assert "no-such-branch" in run.json()["findings"][0]["message"]


def test_policies_introduced_by_the_change_make_every_verdict_new(tmp_path: Path) -> None:
    root = fleet_with_policies("impact", tmp_path / "repo")
    repository = git.Repo.init(root)
    with repository.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@t.invalid")
    repository.git.add("fleet", "templates")
    repository.index.commit("fleet without policies")
    report = policy.impact(root, "HEAD")
    assert {(c.change.value, c.subject) for c in report.changes} == {("new-warn", "tenant:team/scratch")}
