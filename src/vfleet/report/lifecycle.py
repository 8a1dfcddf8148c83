"""`vfleet lifecycle` reports: what was slept, woken and proposed for deletion (a `lifecycle.run.Report`)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from vfleet.lifecycle.decide import Action, rfc3339
from vfleet.lifecycle.run import Report
from vfleet.report import write_json
from vfleet.report.findings import print_findings


def json(report: Report, out: Console) -> None:
    write_json(report.to_json(), out)


_STYLE = {Action.SLEEP: "blue", Action.WAKE: "green", Action.FINISH: "yellow", Action.NONE: "dim"}


def table(report: Report, out: Console) -> None:
    """Clusters handled, each tenant acted on with its steps, proposed deletions, the Git change."""
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
