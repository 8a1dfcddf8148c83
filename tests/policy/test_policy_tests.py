"""`vfleet policy test`: the policies' own unit tests, run by the pinned OPA."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from policykit import POLICIES, REPO, vfleet

pytestmark = pytest.mark.policy


def test_the_guardrail_library_passes_its_tests() -> None:
    run = vfleet("policy", "test", str(REPO), "--output", "json")
    report = run.json()
    assert run.exit_code == 0, [t for t in report["tests"] if not t["passed"]]
    assert report["failed"] == 0 and report["passed"] >= 60
    assert all(t["file"].startswith("policies/") and t["line"] > 0 for t in report["tests"])


def test_the_guardrail_library_is_formatted_as_opa_fmt_writes_it() -> None:
    """Policy changes are reviewed as diffs: `opa fmt` of the pinned OPA leaves every file as it is."""
    from vfleet import toolchain

    done = subprocess.run([str(toolchain.binary("opa")), "fmt", "--list", str(POLICIES)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"run `opa fmt -w policies` on: {done.stdout}"


def test_every_rule_has_an_allow_and_a_deny_test() -> None:
    """The coverage `vfleet policy test` reports: each configured rule, its allow and deny tests."""
    report = vfleet("policy", "test", str(REPO), "--output", "json").json()
    coverage = report["coverage"]
    config = yaml.safe_load((REPO / "policies" / "data.yaml").read_text())["vfleet"]["config"]
    assert {r["rule"] for r in coverage["rules"]} == set(config["severity"])
    incomplete = [r for r in coverage["rules"] if not (r["allows"] and r["denies"])]
    assert not incomplete
    assert coverage["uncovered"] == [] and coverage["complete"] is True
    owner = next(r for r in coverage["rules"] if r["rule"] == "owner-member")
    assert "test_owner_member_denies_a_stranger" in owner["denies"]
    assert "test_owner_member_allows_a_user_member" in owner["allows"]


def test_a_rule_without_an_allow_test_fails_and_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    root = _copy(tmp_path)
    tests = root / "policies" / "rules" / "hygiene_test.rego"
    text = tests.read_text()
    start = text.index("test_prod_protected_allows_a_protected_prod_tenant if {")
    tests.write_text(text[:start] + text[text.index("}\n", start) + 2:])
    run = vfleet("policy", "test", str(root))
    assert run.exit_code == 1, run.stdout
    assert "0 failed" in run.stdout
    row = next(line for line in run.stdout.splitlines() if "prod-protected" in line)
    assert "none" in row and "test_prod_protected_denies_an_unprotected_prod_tenant" in row
    assert "25/26 rules with an allow and a deny test" in run.stdout


def test_lines_of_a_rule_no_test_reaches_fail_and_are_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "policies" / "rules" / "extra.rego").write_text(
        "package vfleet.rules.extra\n\nimport data.vfleet.lib\n\n"
        "violation contains lib.violation(\"extra-rule\", t.subject, \"bad\", []) if {\n"
        "\tsome t in input.tenants\n\tt.labels.extra == \"bad\"\n}\n\n"
        "violation contains lib.violation(\"extra-rule\", t.subject, \"worse\", []) if {\n"
        "\tsome t in input.tenants\n\tt.labels.extra == \"worse\"\n}\n"
    )
    (root / "policies" / "rules" / "extra_test.rego").write_text(
        "package vfleet.rules.extra_test\n\nimport data.vfleet.test.fixture\n\n"
        "test_extra_rule_allows_no_label if {\n\tnot \"extra-rule\" in fixture.rules(fixture.clean)\n}\n\n"
        "test_extra_rule_denies_bad if {\n"
        "\t\"extra-rule\" in fixture.rules(fixture.with_t1({\"labels\": {\"extra\": \"bad\"}}))\n}\n"
    )
    report = vfleet("policy", "test", str(root), "--output", "json").json()
    assert report["failed"] == 0 and report["exitCode"] == 1
    extra = next(r for r in report["coverage"]["rules"] if r["rule"] == "extra-rule")  # a rule id found in code
    assert extra["allows"] == ["test_extra_rule_allows_no_label"]
    assert report["coverage"]["uncovered"] == [{"file": "policies/rules/extra.rego", "start": 10, "end": 10}]


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
