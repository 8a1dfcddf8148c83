"""`vfleet lifecycle`: sleep and wake tenants by their schedules and inactivity; propose due deletions in Git.

Exit codes: 0 done (or, with --dry-run, decided); 1 a cluster could not be handled, a patch failed, or a
guard held proposed deletions; 2 the fleet does not compile (nothing is read or changed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from vfleet import compile as compiler
from vfleet.cli.options import PathArg
from vfleet.cli.output import Output, console, emit_json, print_findings
from vfleet.errors import VfleetError
from vfleet.lifecycle import propose
from vfleet.lifecycle.decide import Action, parse_time, rfc3339
from vfleet.lifecycle.run import Options, Report, lifecycle
from vfleet.live.connect import DEFAULT_TIMEOUT_S


class BadTime(VfleetError):
    """--now is not an RFC 3339 time with an offset."""


def lifecycle_cmd(
    path: PathArg = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would happen; change nothing")] = False,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")
                       ] = None,
    rev: Annotated[str, typer.Option("--rev", help="the Git revision whose specs decide (and the proposal "
                                     "branch's base)")] = "HEAD",
    work_tree: Annotated[bool, typer.Option("--work-tree", help="read the specs from the work tree instead "
                                            "(deletions can then only be printed)")] = False,
    branch: Annotated[str, typer.Option("--branch", help="the branch proposed deletions are committed on")
                      ] = propose.DEFAULT_BRANCH,
    override: Annotated[str | None, typer.Option("--override-guard", help="a reason that lets an overridable "
                                                 "deletion guard pass the proposals")] = None,
    max_deletes: Annotated[int | None, typer.Option("--max-deletes", help="guard limit (default: vfleet.yaml)")
                           ] = None,
    max_delete_share: Annotated[float | None, typer.Option("--max-delete-share", help="guard limit (0..1)")
                                ] = None,
    now: Annotated[str | None, typer.Option("--now", help="decide as of this RFC 3339 time (what-ifs, tests)")
                   ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="table for people, json for machines")
                      ] = Output.table,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds per API request")] = DEFAULT_TIMEOUT_S,
) -> None:
    """Sleep and wake tenants on their schedules and inactivity; commit due deletions on a branch for review."""
    clock: datetime | None = None
    if now is not None:
        clock = parse_time(now)
        if clock is None or "T" not in now:
            raise BadTime(f"--now {now!r}: expected an RFC 3339 time such as 2026-03-29T01:30:00Z")
    compiled = compiler.compile_path(path, None if work_tree else rev)
    if compiled.findings.errors:
        if output is Output.json:
            emit_json({"findings": [f.to_json() for f in compiled.findings], "exitCode": 2})
        else:
            print_findings(compiled.findings, console(), "lifecycle: the fleet does not compile, nothing was done")
        raise typer.Exit(2)
    report = lifecycle(compiled, Options(dry_run=dry_run, clusters=cluster or None, now=clock, override=override,
                                         max_deletes=max_deletes, max_delete_share=max_delete_share,
                                         branch=branch, timeout_s=timeout))
    if output is Output.json:
        emit_json(report.to_json())
    else:
        _print(report)
    raise typer.Exit(report.exit_code)


_STYLE = {Action.SLEEP: "blue", Action.WAKE: "green", Action.FINISH: "yellow", Action.NONE: "dim"}


def _print(report: Report) -> None:
    out = console()
    would = "would " if report.dry_run else ""
    out.print(f"[bold]lifecycle[/] as of {rfc3339(report.now)}" + (" (dry run: nothing changed)"
                                                                  if report.dry_run else ""))
    for c in report.clusters:
        state = "read" if c.reachable and not c.problems else "[bold red]not handled[/]"
        out.print(f"  cluster {escape(c.name)}: {state} ({c.requests} API requests, {c.seconds:.2f} s)")
    acting = [t for t in report.tenants if t.action is not Action.NONE or t.error]
    for t in acting:
        verb = {Action.SLEEP: "sleep", Action.WAKE: "wake", Action.FINISH: "finish"}.get(t.action, "")
        out.print(f"[{_STYLE[t.action]}]{would}{verb}[/] {escape(t.key)} on {escape(t.cluster)}: {escape(t.reason)}",
                  soft_wrap=True)
        for step in t.planned:
            mark = "" if report.dry_run or step in t.done else " [red](not sent)[/]"
            out.print(f"    {escape(step)}{mark}", soft_wrap=True)
        if t.error:
            out.print(f"    [bold red]failed:[/] {escape(t.error)}", soft_wrap=True)
    untouched = len(report.tenants) - len(acting)
    out.print(f"{len(acting)} tenant(s) {would}changed, {untouched} left as they are "
              f"({report.requests} API requests, {report.seconds:.2f} s)")
    for p in report.proposals:
        why = "; ".join(p.reasons)
        if p.protected:
            out.print(f"[magenta]protected, not proposed[/] {escape(p.key)}: {escape(why)}", soft_wrap=True)
        elif p.held:
            out.print(f"[bold red]held by {p.held}[/] {escape(p.key)}: {escape(why)}", soft_wrap=True)
        else:
            out.print(f"[red]{would}propose deletion[/] {escape(p.key)}: {escape(why)}", soft_wrap=True)
    for h in report.guard_hits:
        out.print(f"  {h.code}: {escape(h.message)}" + (" (overridden)" if h.overridden else ""), soft_wrap=True)
    if report.files:
        verb = "committed on branch " + escape(report.branch or "") if report.branch else "the Git change"
        out.print(f"{verb}" + (f" ({report.commit[:12]})" if report.commit else "") + ":")
        for path_, content in sorted(report.files.items()):
            out.print(f"    {'delete' if content is None else 'edit  '} {escape(path_)}")
        if report.branch:
            out.print("  push it and open a pull request: `vfleet plan` shows the deletions and their guards")
    if report.findings:
        print_findings(report.findings, out, "lifecycle")


def register(app: typer.Typer) -> None:
    app.command("lifecycle")(lifecycle_cmd)
