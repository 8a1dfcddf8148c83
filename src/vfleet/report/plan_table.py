"""The plan for people at a terminal (rich): summary table, refusals, then each cluster, deletions first.

`detail` limits how many resources per cluster are printed with their field and values diffs (the
JSON and Markdown reports have everything); colour follows rich's detection (none when piped).
"""

from __future__ import annotations

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vfleet.core.findings import Folded, fold
from vfleet.plan.changes import ClusterPlan, GuardHit, Op, Plan, PolicyFinding, PolicyStatus, ResourceChange
from vfleet.plan.vanished import ALLOWED
from vfleet.report.findings import print_all, print_folded
from vfleet.report.plan_json import summary

_OP_STYLE = {Op.DELETE: "bold red", Op.CREATE: "green", Op.UPDATE: "yellow"}
_STATUS = {0: "[green]no changes[/]", 1: "[bold red]refused[/]", 2: "[bold red]broken input[/]",
           3: "[yellow]changes[/]"}


def render(plan: Plan, out: Console, detail: int = 50) -> None:
    s = summary(plan)
    out.print(f"[bold]vfleet plan[/] {escape(plan.base.label)} -> {escape(plan.head.label)} "
              f"({plan.method}): {_STATUS[plan.exit_code]}, exit {plan.exit_code}")
    table = Table("cluster", "creates", "updates", "deletes", "guards", "denies", box=None, pad_edge=False)
    for c in plan.clusters:
        table.add_row(escape(c.cluster) + ("" if c.status == "changed" else f" ({c.status})"),
                      str(c.count(Op.CREATE)), str(c.count(Op.UPDATE)),
                      f"[red]{c.count(Op.DELETE)}[/]" if c.count(Op.DELETE) else "0",
                      str(sum(1 for g in c.guards if g.blocking)), str(c.policy_denies))
    if plan.clusters:
        out.print(table)
    else:
        out.print("no connected cluster changes")
    tenants = ", ".join(f"{n} {op}" for op, n in s["tenants"].items() if n)
    if tenants:
        out.print(f"tenants: {tenants}")
    for g in plan.guards:
        _guard(out, g)
    for v in plan.vanished:  # the blocking ones are guards above; these go ahead (deleted or moved in Git)
        if v.reason in ALLOWED:
            out.print(f"leaves the applied state of {escape(v.cluster)}: {escape(v.tenant)} ({v.reason.value}: "
                      f"{escape(v.detail)})")
    if plan.override is not None:
        out.print(f"override: {escape(plan.override)}")
    print_all(out, [*plan.findings, *plan.policy.errors])
    _policy(plan, out)
    for a in plan.approvals:  # per touched project, whose approval it needs (owners of the base)
        who = ", ".join(a.owners) or "nobody with a forge name"
        out.print(f"approval: {escape('project ' + a.project if a.project else 'platform')}: one of "
                  f"{escape(who)} ({len(a.paths)} file(s))")
    order = sorted(plan.clusters, key=lambda c: (not c.blocked, c.count(Op.DELETE) == 0, c.cluster))
    for c in order:
        _cluster(c, out, detail)


def _guard(out: Console, g: GuardHit) -> None:
    style = "yellow" if g.overridden else "bold red"
    state = "overridden" if g.overridden else "REFUSED"
    out.print(f"[{style}]{state}[/] {escape(g.code)}: {escape(g.message)}", soft_wrap=True)


def _policy(plan: Plan, out: Console) -> None:
    p = plan.policy
    if not p.evaluated:
        if p.note:
            out.print(f"policy: {escape(p.note)}")
        return
    counts = {s.value: sum(1 for f in p.findings if f.status is s) for s in PolicyStatus}
    out.print(f"policy: {counts['new']} new, {counts['existing']} existing, {counts['resolved']} resolved"
              + (f" ({escape(p.note)})" if p.note else ""))
    for f in fold(p.findings, PolicyFinding.kind):
        if isinstance(f, Folded):
            print_folded(out, f, "  ")
            continue
        style = "red" if f.finding.severity.value == "deny" and f.status is not PolicyStatus.RESOLVED else "dim"
        where = str(f.finding.location) if f.finding.location else (f.finding.subject or "-")
        out.print(f"  [{style}]{f.status.value} {f.finding.severity.value}[/] {escape(f.finding.code)} "
                  f"{escape(where)}: {escape(f.finding.message)}", soft_wrap=True)


def _cluster(c: ClusterPlan, out: Console, detail: int) -> None:
    out.print()
    out.rule(f"{c.cluster}: {c.count(Op.DELETE)} delete, {c.count(Op.CREATE)} create, {c.count(Op.UPDATE)} update",
             align="left")
    for g in c.guards:
        _guard(out, g)
    for t in c.tenants:
        out.print(f"  tenant [bold]{escape(t.tenant)}[/]: {escape(t.summary)}", soft_wrap=True)
    for i, r in enumerate(c.resources):
        out.print(f"  [{_OP_STYLE[r.op]}]{r.op.value:6}[/] {escape(_what(r))}", soft_wrap=True)
        if i < detail:
            _details(r, out)
    if len(c.resources) > detail:
        out.print(f"  (field changes shown for the first {detail} resources; -o json has all)")


def _what(r: ResourceChange) -> str:
    where = f"{r.namespace}/" if r.namespace else ""
    former = f" (was {r.former_id})" if r.former_id else ""
    return f"{r.kind} {where}{r.name}{former}"


def _details(r: ResourceChange, out: Console) -> None:
    for f in r.fields:
        before = orjson.dumps(f.before).decode() if f.change != "added" else "(none)"
        after = orjson.dumps(f.after).decode() if f.change != "removed" else "(none)"
        out.print(f"           {escape(f.path)}: {escape(before)} -> {escape(after)}", soft_wrap=True)
    for line in r.values_diff:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        out.print(f"           [{style}]{escape(line)}[/]", soft_wrap=True)
