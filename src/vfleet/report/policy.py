"""Policy reports: `vfleet check` (a `CheckReport`), `vfleet policy test` and `vfleet policy impact`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from vfleet import policy
from vfleet.policy.gate import CheckReport, ImpactReport
from vfleet.report import write_json
from vfleet.report.findings import print_findings


def check_json(report: CheckReport, out: Console) -> None:
    compiled = report.compiled
    write_json({
        "revision": compiled.tree.revision if compiled else None,
        "tenants": len(compiled.fleet.tenants) if compiled else 0,
        "findings": [f.to_json() for f in report.findings],
        "exitCode": report.exit_code,
        "timings": {k: round(v, 4) for k, v in sorted(report.timings.items())},
        # requests sent to OPA, and projects answered by verdicts kept from earlier runs
        "policy": {"requests": report.requests, "reused": report.reused},
    }, out)


def check_table(report: CheckReport, out: Console) -> None:
    tenants = len(report.compiled.fleet.tenants) if report.compiled else 0
    print_findings(report.findings, out, f"check ({tenants} tenants)")


@dataclass(frozen=True)
class TestListing:
    """`vfleet policy test`'s result as shown: `verbose` lists passing tests and every rule's tests too."""

    __test__ = False  # not a pytest class

    report: policy.TestReport
    verbose: bool = False


def test_json(listing: TestListing, out: Console) -> None:
    report = listing.report
    coverage = report.coverage
    write_json({
        "tests": [
            {"name": r.name, "file": r.file, "line": r.line, "passed": r.passed, "error": r.error}
            for r in report.results
        ],
        "passed": len(report.results) - len(report.failed),
        "failed": len(report.failed),
        "coverage": None if coverage is None else {
            "percent": round(coverage.percent, 2),
            "complete": coverage.complete,
            "rules": [{"rule": r.rule, "allows": list(r.allows), "denies": list(r.denies)} for r in coverage.rules],
            "uncovered": [_gap(g) for g in coverage.uncovered],
            "uncoveredHelpers": [_gap(g) for g in coverage.uncovered_elsewhere],
        },
        "findings": [f.to_json() for f in report.findings],
        "exitCode": report.exit_code,
    }, out)


def test_table(listing: TestListing, out: Console) -> None:
    report, verbose = listing.report, listing.verbose
    if report.findings:
        print_findings(report.findings, out, "policy test")
        return
    shown = report.results if verbose else report.failed
    if shown:
        table = Table(show_lines=False)
        for column in ("result", "where", "test"):
            table.add_column(column, overflow="fold")
        for r in shown:
            verdict = "[green]PASS[/]" if r.passed else "[red]FAIL[/]"
            table.add_row(verdict, f"{r.file}:{r.line}", r.name + (f"\n{r.error}" if r.error else ""))
        out.print(table)
    if not report.results:
        out.print("policy test: no tests found in policies/ (every rule needs *_test.rego tests)")
    else:
        out.print(
            f"policy test: {len(report.results) - len(report.failed)} passed, {len(report.failed)} failed"
        )
    if report.coverage is not None:
        _print_coverage(report.coverage, out, verbose)


def _print_coverage(coverage: policy.Coverage, out: Console, verbose: bool) -> None:
    rules = coverage.rules if verbose else tuple(r for r in coverage.rules if not r.complete)
    if rules:
        table = Table(title="tests per rule (test_<rule>_allows… / test_<rule>_denies…)", show_lines=False)
        for column in ("rule", "allows", "denies"):
            table.add_column(column, overflow="fold")
        for r in rules:
            table.add_row(r.rule, "\n".join(r.allows) or "[red]none[/]", "\n".join(r.denies) or "[red]none[/]")
        out.print(table)
    for gap in coverage.uncovered:
        out.print(f"{gap}: [red]not covered[/] by any test")
    if verbose:
        for gap in coverage.uncovered_elsewhere:
            out.print(f"{gap}: not covered (helper module; not required)")
    complete = sum(1 for r in coverage.rules if r.complete)
    out.print(
        f"coverage: {complete}/{len(coverage.rules)} rules with an allow and a deny test; "
        f"{len(coverage.uncovered)} uncovered line range(s) in rule modules; "
        f"{coverage.percent:.1f}% of all policy lines"
    )


def _gap(gap: Any) -> dict[str, Any]:
    return {"file": gap.file, "start": gap.start, "end": gap.end}


_CHANGE_STYLE = {
    policy.Change.NEW_DENY: "red",
    policy.Change.CLEARED_DENY: "green",
    policy.Change.NEW_WARN: "yellow",
    policy.Change.CLEARED_WARN: "cyan",
}


def impact_json(report: ImpactReport, out: Console) -> None:
    write_json({
        "base": report.base,
        "head": report.head,
        "changes": [c.to_json() for c in report.changes],
        "counts": {c.value: report.count(c) for c in policy.Change},
        "findings": [f.to_json() for f in report.findings],
        "exitCode": report.exit_code,
    }, out)


def impact_table(report: ImpactReport, out: Console) -> None:
    if report.findings:
        print_findings(report.findings, out, "policy impact")
    if report.changes:
        table = Table(title=f"{report.head} vs {report.base}", show_lines=False)
        for column in ("change", "subject", "rule", "where", "message"):
            table.add_column(column, overflow="fold", no_wrap=column == "change")
        for c in report.changes:
            where = str(c.location) if c.location else ""
            table.add_row(
                f"[{_CHANGE_STYLE[c.change]}]{c.change.value}[/]", c.subject, c.rule, where, c.message
            )
        out.print(table)
    summary = ", ".join(f"{report.count(c)} {c.value}" for c in policy.Change)
    verdict = "no verdict changes" if not report.changes else summary
    out.print(f"policy impact: {verdict} ({len({c.subject for c in report.changes})} subjects)")
