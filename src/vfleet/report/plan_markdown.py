"""The plan as Markdown for a pull-request comment (GitHub limits a comment to 65,536 characters).

One summary table (per cluster: creates / updates / deletes / guards / denies), what refuses the plan,
the policy findings, then one collapsible section per cluster — refused and deleting clusters first, and
within a section guards, then deletions, then the rest. When the whole does not fit in `limit`, the
largest sections are summarised step by step (first with tenants grouped by identical change, then as
counts and a shortened tenant list, at last left out but still counted in the table), and what was folded
is said at the top. Resources with the same change are always listed once (a template edit gives every
tenant the same values diff). Nothing is ever cut silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson
from rich.console import Console

from vfleet.core.findings import JSON_HINT, Finding, Folded, Severity, fold, left_out
from vfleet.plan.changes import (
    ClusterPlan,
    GuardHit,
    Op,
    Plan,
    PolicyFinding,
    PolicyStatus,
    ResourceChange,
    TenantOp,
)
from vfleet.plan.vanished import ALLOWED
from vfleet.report import write_text
from vfleet.report.plan_json import summary

LIMIT = 65_000
_DETAIL, _COMPACT, _BRIEF = 0, 1, 2  # levels of detail of a cluster section
_BRIEF_TENANTS = 20
_GROUP_SHOWN = 10
_TABLE_ROWS = 200  # clusters listed in the summary table; the rest are summed in one row
_POLICY_SHOWN = 50
_FIELD_VALUE = 80
_STATUS = {0: "no changes", 1: "refused", 2: "broken input", 3: "changes"}


def to_markdown(plan: Plan, limit: int = LIMIT) -> str:
    head = _header(plan)
    order = sorted(plan.clusters, key=lambda c: (not c.blocked, c.count(Op.DELETE) == 0, c.cluster))
    levels = {c.cluster: _DETAIL for c in order}
    sections = {c.cluster: _section(c, _DETAIL) for c in order}

    def total() -> int:
        return len(head) + sum(len(s) for s in sections.values()) + 400  # room for the folding note

    while total() > limit:
        candidates = [c for c in order if levels[c.cluster] < _BRIEF]
        if not candidates:
            break
        biggest = max(candidates, key=lambda c: (len(sections[c.cluster]), c.cluster))
        levels[biggest.cluster] += 1
        sections[biggest.cluster] = _section(biggest, levels[biggest.cluster])
    shown = list(order)
    dropped: list[ClusterPlan] = []
    while shown and total() > limit:  # thousands of clusters: even one line each is too much
        last = shown.pop()
        dropped.insert(0, last)
        del sections[last.cluster]
    note = _folding_note(levels, dropped)
    body = "".join(sections[c.cluster] for c in shown)
    text = head + note + body
    if len(text) > limit:  # a header alone over the limit (huge findings): cut with a visible marker
        marker = "\n\n… (truncated: see `vfleet plan -o json`)\n"
        text = text[: limit - len(marker)] + marker
    return text


def write(plan: Plan, out: Console) -> None:
    write_text(to_markdown(plan), out)


def _folding_note(levels: dict[str, int], dropped: Sequence[ClusterPlan]) -> str:
    brief = [name for name, level in levels.items() if level == _BRIEF]
    short = [name for name, level in levels.items() if level == _COMPACT]
    if not brief and not short and not dropped:
        return ""
    parts = []
    if short:
        parts.append(f"{len(short)} cluster section(s) with tenants grouped by change ({_names(short)})")
    if brief:
        parts.append(f"{len(brief)} cluster section(s) summarised as counts and tenants ({_names(brief)})")
    if dropped:
        parts.append(f"{len(dropped)} cluster section(s) left out ({_names([c.cluster for c in dropped])}); "
                     "they are counted in the table above")
    return (f"\n> **Folded to fit a comment ({LIMIT:,} characters):** " + "; ".join(parts) +
            ". The full plan: `vfleet plan -o json` (or the CI artifact).\n")


def _names(names: Sequence[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(f"`{n}`" for n in names[:shown]) + more


# ---------------------------------------------------------------------------------------------- header


def _header(plan: Plan) -> str:
    s = summary(plan)
    lines = [
        f"### vfleet plan: {_STATUS[plan.exit_code]} (exit {plan.exit_code})",
        "",
        f"base `{_short(plan.base.commit, plan.base.label)}` → head `{_short(plan.head.commit, plan.head.label)}`"
        f" · {s['clusters']} cluster(s) to apply · tenants: {_tenant_counts(s['tenants'])}",
        "",
    ]
    lines += _table(plan)
    blocking = [g for g in plan.guards if g.blocking]
    if blocking:
        lines += ["", f"**⛔ Refused by {len(blocking)} deletion guard(s):**", ""]
        lines += [f"- {_guard(g)}" for g in blocking[:20]]
        if len(blocking) > 20:
            lines.append(f"- … and {len(blocking) - 20} more (every one is in its cluster's section)")
    going = [v for v in plan.vanished if v.reason in ALLOWED]
    if going:
        lines += ["", f"**Leaving the last applied state ({len(going)} tenant(s), the next apply deletes or moves "
                  "them):**", ""]
        lines += [f"- {_escape(v.tenant)} from {_escape(v.cluster)}: {v.reason.value}, {_escape(v.detail)}"
                  for v in going[:20]]
        if len(going) > 20:
            lines.append(f"- … and {len(going) - 20} more (all of them are in the JSON report)")
    overridden = [g for g in plan.guards if g.overridden]
    if plan.override is not None:
        lines += ["", f"**Override given:** {_escape(plan.override)} ({len(overridden)} guard(s) overridden)"]
    errors = [*plan.findings.errors, *plan.policy.errors]
    if errors:
        lines += ["", f"**Broken input ({len(errors)}):**", ""]
        lines += _listed(errors, Finding.kind, _finding, 30)
    lines += _policy(plan)
    lines += _approvals(plan)
    warnings = plan.findings.warnings
    if warnings:
        lines += ["", f"<details><summary>{len(warnings)} warning(s)</summary>", ""]
        lines += _listed(warnings, Finding.kind, _finding, 30)
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _approvals(plan: Plan) -> list[str]:
    """Per touched project, whose approval the change needs (the base's CODEOWNERS, vfleet.owners)."""
    if not plan.approvals:
        return []
    lines = ["", "**Approval needed** (owners from the base revision):", ""]
    for a in plan.approvals:
        who = ", ".join(f"`{o}`" for o in a.owners) or "nobody with a forge name (see `vfleet codeowners`)"
        what = f"project `{a.project}`" if a.project is not None else "platform"
        lines.append(f"- {what}: one of {who} ({len(a.paths)} file(s): {_names(list(a.paths), 4)})")
    return lines


def _short(commit: str | None, label: str) -> str:
    return commit[:12] if commit else label


def _tenant_counts(counts: dict[str, int]) -> str:
    shown = [f"{n} {op}" for op, n in counts.items() if n]
    return ", ".join(shown) or "none"


def _table(plan: Plan) -> list[str]:
    rows = ["| cluster | creates | updates | deletes | guards | denies |", "|---|--:|--:|--:|--:|--:|"]
    ordered = sorted(plan.clusters, key=lambda c: (not c.blocked, c.count(Op.DELETE) == 0, c.cluster))
    listed = sorted(ordered[:_TABLE_ROWS], key=lambda c: c.cluster)
    rest = ordered[_TABLE_ROWS:]
    for c in listed:
        guards = sum(1 for g in c.guards if g.blocking)
        mark = " ⛔" if c.blocked else ""
        status = f" ({c.status})" if c.status != "changed" else ""
        rows.append(f"| `{c.cluster}`{status}{mark} | {c.count(Op.CREATE)} | {c.count(Op.UPDATE)} | "
                    f"{c.count(Op.DELETE)} | {guards} | {c.policy_denies} |")
    if rest:
        rows.append(f"| … {len(rest)} more cluster(s) | {sum(c.count(Op.CREATE) for c in rest)} | "
                    f"{sum(c.count(Op.UPDATE) for c in rest)} | {sum(c.count(Op.DELETE) for c in rest)} | "
                    f"{sum(1 for c in rest for g in c.guards if g.blocking)} | {sum(c.policy_denies for c in rest)} |")
    other = len(plan.policy.denies) - sum(c.policy_denies for c in plan.clusters)
    fleet = sum(1 for g in plan.fleet_guards if g.blocking)
    if other or fleet:
        rows.append(f"| (fleet-wide) | | | | {fleet} | {other} |")
    rows.append(f"| **total** | **{plan.count(Op.CREATE)}** | **{plan.count(Op.UPDATE)}** | "
                f"**{plan.count(Op.DELETE)}** | **{sum(1 for g in plan.guards if g.blocking)}** | "
                f"**{len(plan.policy.denies)}** |")
    if not plan.clusters:
        rows.append("")
        rows.append("No connected cluster changes.")
    return rows


def _policy(plan: Plan) -> list[str]:
    p = plan.policy
    if not p.evaluated:
        return ["", f"**Policy:** {p.note}"] if p.note else []
    counts = {s.value: sum(1 for f in p.findings if f.status is s) for s in PolicyStatus}
    lines = ["", f"**Policy:** {counts['new']} new, {counts['existing']} existing, {counts['resolved']} resolved"
             + (f" — {p.note}" if p.note else "")]
    if p.findings:
        lines.append("")
        lines += _listed(p.findings, PolicyFinding.kind, _policy_line, _POLICY_SHOWN)
    return lines


_T = TypeVar("_T")


def _listed(items: Sequence[_T], kind: Callable[[_T], str], line: Callable[[_T], str], most: int) -> list[str]:
    """One bullet per item, repeated kinds folded (`findings.fold`, as at the terminal), at most `most`."""
    entries = fold(items, kind)
    lines = [f"- {_folded(e)}" if isinstance(e, Folded) else f"- {line(e)}" for e in entries[:most]]
    rest = left_out(entries[most:])
    if rest:
        lines.append(f"- … and {rest:,} more (folded; `vfleet plan {JSON_HINT}` lists all)")
    return lines


def _folded(f: Folded) -> str:
    return f"… and {f.count:,} more {_escape(f.kind)} (full list: `vfleet plan {JSON_HINT}`)"


def _policy_line(f: PolicyFinding) -> str:
    icon = "⛔" if f.finding.severity is Severity.DENY and f.status is not PolicyStatus.RESOLVED else "•"
    return f"{icon} **{f.status.value}** {_finding(f.finding)}"


def _finding(f: Finding) -> str:
    where = f" `{f.location}`" if f.location else (f" `{f.subject}`" if f.subject else "")
    return f"{f.severity.value} `{f.code}`{where}: {_escape(f.message)}"


def _guard(g: GuardHit) -> str:
    state = "overridden" if g.overridden else ("refused" if g.overridable else "refused, no override")
    return f"`{g.code}` ({state}) — {_escape(g.message)}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


# --------------------------------------------------------------------------------------------- sections


def _section(c: ClusterPlan, level: int) -> str:
    counts = f"{c.count(Op.DELETE)} delete(s), {c.count(Op.CREATE)} create(s), {c.count(Op.UPDATE)} update(s)"
    flag = " ⛔" if c.blocked else ""
    lines = ["", f"<details><summary><b>{c.cluster}</b>{flag} — {counts}</summary>", ""]
    if c.guards:
        lines += ["**Guards**", ""] + [f"- {'⛔' if g.blocking else '⚠️'} {_guard(g)}" for g in c.guards] + [""]
    if c.policy_denies:
        lines += [f"**Policy denies:** {c.policy_denies} (listed above)", ""]
    if level == _BRIEF:
        lines += _brief(c)
    else:
        lines += _tenants(c) if level == _DETAIL else _grouped_tenants(c)
        lines += _resources(c, with_diffs=True)
    lines += ["</details>", ""]
    return "\n".join(lines)


def _tenants(c: ClusterPlan) -> list[str]:
    if not c.tenants:
        return []
    lines = ["**Tenants**", ""]
    for t in c.tenants:
        icon = {TenantOp.DELETE: "🗑️", TenantOp.MOVE: "↔️", TenantOp.CREATE: "➕", TenantOp.UPDATE: "✏️"}[t.op]
        lines.append(f"- {icon} `{t.tenant}` {_escape(t.summary)}")
    return [*lines, ""]


def _grouped_tenants(c: ClusterPlan) -> list[str]:
    """Tenants with the same change on one line each (a template edit: one line for all its tenants)."""
    groups: dict[str, list[str]] = {}
    for t in c.tenants:
        groups.setdefault(t.summary, []).append(t.tenant)
    lines = ["**Tenants** (grouped by change)", ""]
    for summary_, keys in groups.items():
        more = f" and {len(keys) - _GROUP_SHOWN} more" if len(keys) > _GROUP_SHOWN else ""
        lines.append(f"- {len(keys)} × {_escape(summary_)}: " + ", ".join(f"`{k}`" for k in keys[:_GROUP_SHOWN])
                     + more)
    return [*lines, ""]


def _brief(c: ClusterPlan) -> list[str]:
    by_op: dict[TenantOp, list[str]] = {}
    for t in c.tenants:
        by_op.setdefault(t.op, []).append(t.tenant)
    lines = ["*Summarised to fit the comment.*", ""]
    for op in (TenantOp.DELETE, TenantOp.MOVE, TenantOp.CREATE, TenantOp.UPDATE):
        keys = by_op.get(op, [])
        if keys:
            more = f" and {len(keys) - _BRIEF_TENANTS} more" if len(keys) > _BRIEF_TENANTS else ""
            lines.append(f"- {op.value}: {len(keys)} tenant(s): "
                         + ", ".join(f"`{k}`" for k in keys[:_BRIEF_TENANTS]) + more)
    return [*lines, ""]


def _resources(c: ClusterPlan, with_diffs: bool) -> list[str]:
    """Resources with the same change (a template edit gives every tenant the same values diff) are
    listed once, with the objects they concern."""
    groups: dict[tuple[object, ...], list[ResourceChange]] = {}
    for r in c.resources:
        fields = tuple((f.path, f.change, _value(f.before, True), _value(f.after, True)) for f in r.fields)
        signature = (r.op, r.kind, fields, r.values_diff) if r.op is Op.UPDATE else (id(r),)
        groups.setdefault(signature, []).append(r)
    lines = ["**Resources**", ""]
    for same in groups.values():
        first = same[0]
        if len(same) == 1:
            lines.append(f"- **{first.op.value}** {_what(first)}")
        else:
            names = ", ".join(f"`{_where(r)}`" for r in same[:_GROUP_SHOWN])
            more = f" and {len(same) - _GROUP_SHOWN} more" if len(same) > _GROUP_SHOWN else ""
            lines.append(f"- **{first.op.value}** `{first.kind}` ×{len(same)}, the same change: {names}{more}")
        if with_diffs:
            lines += _details(first)
    return [*lines, ""]


def _where(r: ResourceChange) -> str:
    return f"{r.namespace}/{r.name}" if r.namespace else r.name


def _what(r: ResourceChange) -> str:
    where = f"{r.namespace}/" if r.namespace else ""
    former = f" (was `{r.former_id}`)" if r.former_id else ""
    protect = " 🔒" if r.protect and r.op is Op.DELETE else ""
    return f"`{r.kind}` `{where}{r.name}`{former}{protect}"


def _details(r: ResourceChange) -> list[str]:
    lines = [f"  - `{f.path}`: {_value(f.before, f.change != 'added')} → {_value(f.after, f.change != 'removed')}"
             for f in r.fields]
    if r.values_diff:
        fence = _fence(r.values_diff)
        lines += ["", f"  {fence}diff", *(f"  {line}" for line in r.values_diff), f"  {fence}", ""]
    return lines


def _fence(lines: Sequence[str]) -> str:
    """A code fence longer than any run of backticks in the block (values may hold Markdown)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _value(value: object, present: bool, dump: Callable[[object], bytes] = orjson.dumps) -> str:
    if not present:
        return "*(none)*"
    text = dump(value).decode()
    if len(text) > _FIELD_VALUE:
        text = text[: _FIELD_VALUE - 1] + "…"
    return "`" + text.replace("`", "'") + "`"
