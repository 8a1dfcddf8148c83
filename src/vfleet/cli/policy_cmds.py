"""`vfleet check` and `vfleet policy test|impact|input`: parse, call `vfleet.policy`, render, exit code.

Exit codes: 0 clean, 1 denied (check) or failing tests (policy test), 2 broken input, or no verdict at
all (OPA missing or unreachable, a policy that does not compile, an evaluation error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vfleet import api, policy
from vfleet import compile as compiler
from vfleet.cli.options import OutputOpt, PathArg
from vfleet.cli.output import Output, console, emit_json, fail, print_findings
from vfleet.errors import VfleetError
from vfleet.findings import Findings
from vfleet.load import ParseCache

RevOpt = Annotated[str | None, typer.Option("--rev", help="check this Git revision instead of the work tree")]
OpaUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--opa-url",
        envvar=policy.URL_ENV,
        show_envvar=True,
        help="use this OPA server (policies are pushed under a private root and removed after) "
        "instead of starting a local one",
    ),
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="do not reuse parsed documents from earlier runs")
]

CheckNoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="do not reuse parsed documents or policy verdicts from earlier runs")
]

LiveOpt = Annotated[
    bool,
    typer.Option("--live", help="also dry-run every changed object on its connected cluster (server-side, "
                 "dryRun=All): rejections exit 1, an unreachable cluster exits 2"),
]
LiveBaseOpt = Annotated[
    str | None,
    typer.Option("--live-base", help="with --live: only the clusters whose desired state differs from this "
                 "revision's (e.g. the pull request's base)"),
]

policy_app = typer.Typer(help="Policy tests and policy-change review.", no_args_is_help=True)


def _root_and_cache(path: Path, no_cache: bool) -> tuple[Path, ParseCache | None]:
    root = compiler.find_root(path)
    return root, None if no_cache else compiler.parse_cache(root)


def check_command(
    path: PathArg = Path("."),
    rev: RevOpt = None,
    output: OutputOpt = Output.table,
    opa_url: OpaUrlOpt = None,
    no_cache: CheckNoCacheOpt = False,
    live: LiveOpt = False,
    live_base: LiveBaseOpt = None,
) -> None:
    """Compile the fleet and check it against policies/. Exit 0 clean, 1 denied, 2 broken input or policy."""
    try:
        report = api.check(path, rev, opa_url=opa_url, no_cache=no_cache, live=live, live_base=live_base)
    except VfleetError as exc:
        fail(exc)
    compiled = report.compiled
    if output is Output.json:
        emit_json(
            {
                "revision": compiled.tree.revision if compiled else None,
                "tenants": len(compiled.fleet.tenants) if compiled else 0,
                "findings": [f.to_json() for f in report.findings],
                "exitCode": report.exit_code,
                "timings": {k: round(v, 4) for k, v in sorted(report.timings.items())},
                # requests sent to OPA, and projects answered by verdicts kept from earlier runs
                "policy": {"requests": report.requests, "reused": report.reused},
            }
        )
    else:
        tenants = len(compiled.fleet.tenants) if compiled else 0
        print_findings(report.findings, console(), f"check ({tenants} tenants)")
    raise typer.Exit(report.exit_code)


@policy_app.command("test")
def test_command(
    path: PathArg = Path("."),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing tests and every rule's tests")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """Run the policies' unit tests (`opa test policies/`) and report coverage per rule.

    Exit 0 when every test passes and every rule has a passing allow and deny test and all its lines
    ran; 1 otherwise; 2 when the tests cannot run (OPA missing, policies that do not compile).
    """
    try:
        root = compiler.find_root(path)
    except VfleetError as exc:
        fail(exc)
    report = policy.run_tests(root)
    if output is Output.json:
        emit_json(_test_json(report))
        raise typer.Exit(report.exit_code)
    out = console()
    if report.findings:
        print_findings(report.findings, out, "policy test")
        raise typer.Exit(report.exit_code)
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
    raise typer.Exit(report.exit_code)


def _print_coverage(coverage: policy.Coverage, out: Any, verbose: bool) -> None:
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


def _test_json(report: policy.TestReport) -> dict[str, Any]:
    coverage = report.coverage
    return {
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
    }


_CHANGE_STYLE = {
    policy.Change.NEW_DENY: "red",
    policy.Change.CLEARED_DENY: "green",
    policy.Change.NEW_WARN: "yellow",
    policy.Change.CLEARED_WARN: "cyan",
}


@policy_app.command("impact")
def impact_command(
    base: Annotated[
        str, typer.Option("--base", help="the revision whose policies/ are the baseline (e.g. main)")
    ],
    path: PathArg = Path("."),
    head: Annotated[
        str | None, typer.Option("--head", help="the fleet and policies to compare (default: the work tree)")
    ] = None,
    output: OutputOpt = Output.table,
    opa_url: OpaUrlOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """What a policy change does to the fleet: base and head policies on the same (head) fleet.

    Lists every subject whose verdict changes: new denies, cleared denies, new warns, cleared warns.
    Exit 0 (the report informs; `vfleet check` is the gate), 2 when either verdict cannot be computed.
    """
    try:
        root, cache = _root_and_cache(path, no_cache)
        report = policy.impact(root, base, head, opa_url=opa_url, cache=cache)
    except VfleetError as exc:
        fail(exc)
    counts = {c.value: report.count(c) for c in policy.Change}
    if output is Output.json:
        emit_json(
            {
                "base": report.base,
                "head": report.head,
                "changes": [c.to_json() for c in report.changes],
                "counts": counts,
                "findings": [f.to_json() for f in report.findings],
                "exitCode": report.exit_code,
            }
        )
        raise typer.Exit(report.exit_code)
    out = console()
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
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    verdict = "no verdict changes" if not report.changes else summary
    out.print(f"policy impact: {verdict} ({len({c.subject for c in report.changes})} subjects)")
    raise typer.Exit(report.exit_code)


@policy_app.command("input")
def input_command(path: PathArg = Path("."), rev: RevOpt = None, no_cache: NoCacheOpt = False) -> None:
    """Print the policy input document of the fleet (JSON), e.g. for `opa eval -I` while writing a policy."""
    try:
        root, cache = _root_and_cache(path, no_cache)
        compiled = compiler.compile_fleet(root, rev, cache=cache)
    except VfleetError as exc:
        fail(exc)
    if compiled.findings.errors:
        print_findings(Findings.of(compiled.findings.errors), console(stderr=True), "policy input (partial)",
                       hint="vfleet compile --output json")
    document: Any = policy.input_for(compiled).document
    emit_json(document)
    raise typer.Exit(2 if compiled.findings.errors else 0)


def register(app: typer.Typer) -> None:
    """What the lead's CLI adds: `vfleet check` and the `vfleet policy` group."""
    app.command("check")(check_command)
    app.add_typer(policy_app, name="policy")


__all__ = ["check_command", "policy_app", "register"]
