"""Repeated findings fold in every report for people (terminal, Markdown); JSON keeps every one in full."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from fleetkit import write_fleet
from vfleet.core.findings import Finding, Findings, Folded, Location, Severity, fold, left_out
from vfleet.plan import Plan, PolicyFinding, PolicyResult, PolicyStatus, Side
from vfleet.report import plan_json, plan_markdown, plan_table
from vfleet.report.findings import print_all

VFLEET = str(Path(sys.executable).with_name("vfleet"))
HINT = "(full list: --output json)"


def _error(code: str, i: int, severity: Severity = Severity.ERROR) -> Finding:
    file = f"fleet/projects/p/tenants/t-{i:04d}.yaml"
    return Finding(severity, code, f"{code} for tenant {i}", Location(file, 3), f"tenant:p/t-{i:04d}")


def _mixed() -> Findings:
    """12 of one error, 2 of another, 7 warnings of one kind: interleaved by file once sorted."""
    return Findings.of([*(_error("place.no-cluster", i) for i in range(12)),
                        *(_error("ref.template", i) for i in (3, 50)),
                        *(_error("policy.dev-sleep", i, Severity.WARN) for i in range(7))])


def test_fold_keeps_the_first_five_of_a_kind_in_order_and_counts_the_rest() -> None:
    items = list(_mixed())
    folded = fold(items, Finding.kind)
    shown = [e for e in folded if isinstance(e, Finding)]
    assert shown == [f for f in items if f.code == "ref.template"
                     or f in [g for g in items if g.code == "place.no-cluster"][:5]
                     or f in [g for g in items if g.code == "policy.dev-sleep"][:5]]
    assert [e for e in folded if isinstance(e, Folded)] == [Folded("error place.no-cluster", 7),
                                                           Folded("warn policy.dev-sleep", 2)]
    fifth = [i for i, e in enumerate(folded) if isinstance(e, Finding) and e.code == "place.no-cluster"][-1]
    assert folded[fifth + 1] == Folded("error place.no-cluster", 7)  # right after the last one shown
    assert left_out(folded) == len(items)  # nothing lost: every finding is shown or counted
    assert fold(items[:5], Finding.kind) == items[:5]  # five of a kind or fewer: untouched
    assert str(Folded("error place.no-cluster", 4995)) == f"... and 4,995 more error place.no-cluster {HINT}"


def test_terminal_prints_five_of_a_kind_then_one_counted_line() -> None:
    out = Console(record=True, width=200, color_system=None)
    print_all(out, _mixed())
    text = out.export_text()
    assert text.count("error place.no-cluster\n") == 5 and text.count("error ref.template\n") == 2
    assert text.count("warn policy.dev-sleep\n") == 5
    assert f"... and 7 more error place.no-cluster {HINT}" in text
    assert f"... and 2 more warn policy.dev-sleep {HINT}" in text
    assert "t-0005.yaml:3: error place.no-cluster" not in text  # the sixth is only counted


def test_a_command_without_output_json_names_one_that_lists_them_all() -> None:
    out = Console(record=True, width=200, color_system=None)
    print_all(out, _mixed(), hint="vfleet stacks check --output json")
    text = out.export_text()
    assert "... and 7 more error place.no-cluster (full list: vfleet stacks check --output json)" in text
    assert "(full list: --output json)" not in text


def _plan(findings: Findings, policy: tuple[PolicyFinding, ...]) -> Plan:
    side = Side("HEAD", "b" * 40, "commit bbbbbbbbbbbb", "k")
    return Plan(Side("main", "a" * 40, "commit aaaaaaaaaaaa", "k0"), side, (), findings,
                PolicyResult(True, policy, Findings(), ""), None, "incremental")


def test_plan_reports_fold_findings_and_policy_findings_but_json_keeps_all() -> None:
    denies = tuple(PolicyFinding(_error("policy.owner-member", i, Severity.DENY), PolicyStatus.NEW)
                   for i in range(9))
    plan = _plan(_mixed(), denies)
    md = plan_markdown.to_markdown(plan)
    assert md.count("error `place.no-cluster`") == 5 and md.count("error `ref.template`") == 2
    assert "- … and 7 more error place.no-cluster (full list: `vfleet plan --output json`)" in md
    assert "- … and 2 more warn policy.dev-sleep (full list: `vfleet plan --output json`)" in md
    assert md.count("**new** deny `policy.owner-member`") == 5
    assert "- … and 4 more new deny policy.owner-member (full list: `vfleet plan --output json`)" in md
    out = Console(record=True, width=200, color_system=None)
    plan_table.render(plan, out)
    text = out.export_text()
    assert text.count("error place.no-cluster\n") == 5 and f"... and 7 more error place.no-cluster {HINT}" in text
    assert text.count("  new deny policy.owner-member fleet/") == 5
    assert f"\n  ... and 4 more new deny policy.owner-member {HINT}\n" in text
    data = plan_json.to_json(plan)
    assert len(data["findings"]) == 21 and len(data["policy"]["findings"]) == 9


# -------------------------------------------------------------------------------------- the CLI, end to end

PROJECT = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Project
    metadata: {name: alpha}
    spec:
      members:
        - {user: alice, role: admin}
      templates: [{name: shared, versions: ["1.x"]}]
      defaultTemplate: {name: shared, version: "1.x"}
      clusters: {names: [eu-1, us-1, full-0, full-1, full-2, full-3]}
    """
CLUSTER = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Cluster
    metadata: {{name: {name}, labels: {{env: prod}}}}
    spec:
      kubeconfig: {{context: {name}}}
      capacity: {{maxTenants: {most}}}
    """
TENANT = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Tenant
    metadata: {{name: {name}}}
    spec:
      owner: alice
    """


def _overfull(root: Path) -> Path:
    """Six candidate clusters with room for one more tenant (us-1), nine new tenants: eight find none."""
    files: dict[str, str | None] = {"fleet/projects/alpha/project.yaml": PROJECT}
    for name, most in (("eu-1", 1), ("us-1", 1), ("full-0", 0), ("full-1", 0), ("full-2", 0), ("full-3", 0),
                       ("spare", 9)):  # spare: not allowed for alpha
        files[f"fleet/clusters/{name}.yaml"] = CLUSTER.format(name=name, most=most)
    for i in range(9):
        files[f"fleet/projects/alpha/tenants/t-{i}.yaml"] = TENANT.format(name=f"t-{i}")
    return write_fleet(root, files)


def _place(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([VFLEET, "place", str(root), *args], env=env, capture_output=True, text=True, timeout=120)


def test_place_cli_folds_for_people_and_its_json_has_every_finding_and_candidate(tmp_path: Path) -> None:
    root = _overfull(tmp_path / "repo")
    table = _place(root)
    assert table.returncode == 2, table.stdout + table.stderr
    assert table.stdout.count(": error place.no-cluster") == 5
    assert f"... and 3 more error place.no-cluster {HINT}" in table.stdout
    assert "place: 8 error(s)" in table.stdout
    result = _place(root, "--output", "json")
    assert result.returncode == 2
    found = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "place.no-cluster"]
    assert sorted(f["subject"] for f in found) == [f"tenant:alpha/t-{i}" for i in range(1, 9)]
    for f in found:
        assert f["details"]["notAllowed"] == 1
        assert {c["cluster"]: c["reason"] for c in f["details"]["candidates"]} == {
            "eu-1": "maxTenants 1 reached", "us-1": "maxTenants 1 reached",
            **{f"full-{i}": "maxTenants 0 reached" for i in range(4)}}
        assert "6 full (maxTenants): eu-1 (maxTenants 1 reached), full-0 (maxTenants 0 reached), full-1 " \
            "(maxTenants 0 reached) and 3 more; 1 other cluster is not allowed by project 'alpha'" in f["message"]


def test_details_are_json_only_where_a_finding_has_some_and_read_back() -> None:
    from vfleet.plan.index import finding_from_json

    plain = _error("ref.template", 1)
    assert "details" not in plain.to_json()  # every other finding's JSON is as it was
    detailed = Finding(Severity.ERROR, "place.no-cluster", "m", None, "tenant:p/t",
                       {"candidates": [{"cluster": "a", "kind": "maxTenants", "reason": "maxTenants 0 reached"}]})
    back = finding_from_json(json.loads(json.dumps(detailed.to_json())))
    assert back == detailed and back.details == detailed.details
