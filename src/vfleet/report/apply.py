"""`vfleet apply | preview | destroy` reports (an `orchestrate.Report`), `vfleet history` (run records) and
`vfleet stacks check` (the project and stack files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vfleet.apply import decide
from vfleet.apply.decide import Result, StackResult
from vfleet.apply.orchestrate import Report
from vfleet.apply.project import StackFiles
from vfleet.apply.records import Record
from vfleet.report import write_json
from vfleet.report.findings import print_findings

STYLE = {
    Result.APPLIED: "green",
    Result.SKIPPED: "dim",
    Result.FAILED: "bold red",
    Result.REFUSED: "red",
    Result.NOT_STARTED: "yellow",
}
_MESSAGE = 300  # characters of an engine message in the table; the JSON keeps all of it


def result_json(r: StackResult) -> dict[str, Any]:
    return {
        "cluster": r.cluster,
        "wave": r.wave,
        "result": r.result.value,
        "changes": dict(r.changes),
        "message": r.message,
        "adopted": list(r.adopted),
        "scope": r.scope or None,
        "started": r.started or None,
        "ended": r.ended or None,
    }


def to_json(report: Report) -> dict[str, Any]:
    return {
        "operation": report.operation.value,
        "exitCode": report.exit_code,
        "stacks": [result_json(r) for r in report.results],
        "summary": decide.summary(report.results),
        "refusals": {c: [f.to_json() for f in found] for c, found in sorted(report.refusals.items())},
        "orphans": list(report.orphans),
        "vanished": [
            {"cluster": v.cluster, "tenant": v.tenant, "reason": v.reason.value, "detail": v.detail,
             "source": v.source, "blocking": v.blocking}
            for v in report.vanished
        ],
        "findings": [f.to_json() for f in report.warnings],
    } | ({"shard": str(report.shard)} if report.shard else {})


def json(report: Report, out: Console) -> None:
    write_json(to_json(report), out)


def changes(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "same") or "-"


def table(report: Report, out: Console) -> None:
    """Warnings, one row per stack (wave, result, changes, message), adoptions, orphans, the counts."""
    if report.warnings:
        print_findings(report.warnings, out, report.operation.value)
    rows = Table("wave", "stack", "result", "changes", "adopted", "message", box=None)
    for r in report.results:
        rows.add_row(
            str(r.wave),
            r.cluster,
            f"[{STYLE[r.result]}]{r.result.value}[/]",
            changes(r.changes),
            str(len(r.adopted)) if r.adopted else "-",
            escape((r.message or r.scope)[:_MESSAGE]),
        )
    out.print(rows)
    for r in report.results:
        for rid in r.adopted:
            out.print(f"adopted on {r.cluster}: {escape(rid)}")
    for name in report.orphans:
        shown = escape(name)
        out.print(f"[yellow]stack {shown} has no Cluster spec[/]: destroy it with `vfleet destroy --cluster {shown}`")
    counts = ", ".join(f"{len(v)} {k}" for k, v in decide.summary(report.results).items())
    where = f" (shard {report.shard})" if report.shard else ""
    out.print(f"{report.operation.value}{where}: {counts or 'no stacks selected'}")


def history_json(found: Sequence[Record], out: Console) -> None:
    write_json({"records": [r.to_json() for r in found]}, out)


def history_table(found: Sequence[Record], out: Console) -> None:
    """The run records, newest first: one row each."""
    if not found:
        out.print("no records yet")
        return
    rows = Table("started", "cluster", "op", "result", "changes", "commit", "user", "message", box=None)
    for r in found:
        commit = (r.commit or "-")[:10] + ("+dirty" if r.dirty else "")
        rows.add_row(
            r.started[:19],
            r.cluster,
            r.operation,
            f"[{STYLE[Result(r.result)]}]{r.result}[/]",
            changes(r.changes),
            commit,
            escape(r.user),
            escape(r.message[:100]),
        )
    out.print(rows)


def stacks_json(files: StackFiles, out: Console) -> None:
    write_json({"findings": [f.to_json() for f in files.findings], "orphans": list(files.orphans),
                "exitCode": files.findings.exit_code}, out)


def stacks_table(files: StackFiles, out: Console) -> None:
    print_findings(files.findings, out, "stacks")
