"""`vfleet policy test`: the policies' own unit tests, run by the pinned OPA."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from conftest import POLICIES, REPO, vfleet

pytestmark = pytest.mark.policy


def test_the_guardrail_library_passes_its_tests() -> None:
    run = vfleet("policy", "test", str(REPO), "--output", "json")
    report = run.json()
    assert run.exit_code == 0, [t for t in report["tests"] if not t["passed"]]
    assert report["failed"] == 0 and report["passed"] >= 60
    assert all(t["file"].startswith("policies/") and t["line"] > 0 for t in report["tests"])


def test_every_rule_line_is_covered_by_a_test(opa: Path) -> None:
    """Each rule body runs to the end in some test: every rule has a test in which it fires."""
    done = subprocess.run([str(opa), "test", "--coverage", "policies"], cwd=REPO, capture_output=True, check=True)
    files = orjson.loads(done.stdout)["files"]
    rules = {name: cov for name, cov in files.items() if name.startswith("policies/rules/")
             and not name.endswith("_test.rego")}
    assert rules, files.keys()
    uncovered = {name: cov.get("not_covered") for name, cov in rules.items() if cov.get("not_covered")}
    assert not uncovered


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "fleet").mkdir(parents=True)
    shutil.copytree(POLICIES, root / "policies")
    return root


def test_a_failing_test_exits_1_and_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    root = _copy(tmp_path)
    (root / "policies" / "extra_test.rego").write_text(
        "package vfleet.extra_test\n\nimport data.vfleet.test.fixture\n\n"
        "test_wrong_expectation if {\n\t\"owner-member\" in fixture.rules(fixture.clean)\n}\n"
    )
    run = vfleet("policy", "test", str(root))
    assert run.exit_code == 1
    assert "FAIL" in run.stdout and "policies/extra_test.rego:5" in run.stdout
    assert "data.vfleet.extra_test.test_wrong_expectation" in run.stdout
    assert "1 failed" in run.stdout


def test_policies_that_do_not_compile_exit_2(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "policies" / "rules" / "broken.rego").write_text("package vfleet.rules.broken\n\nx if {\n")
    run = vfleet("policy", "test", str(root), "--output", "json")
    assert run.exit_code == 2
    (finding,) = run.json()["findings"]
    assert finding["code"] == "policy.compile" and "policies/rules/broken.rego:4" in finding["message"]


def test_no_tests_is_a_failure(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for test in (root / "policies").rglob("*_test.rego"):
        test.unlink()
    run = vfleet("policy", "test", str(root))
    assert run.exit_code == 1
    assert "no tests found" in run.stdout


def test_missing_opa_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFLEET_OPA_BIN", "/nonexistent")
    run = vfleet("policy", "test", str(REPO), "--output", "json")
    assert run.exit_code == 2
    assert run.json()["findings"][0]["code"] == "policy.opa-missing"
