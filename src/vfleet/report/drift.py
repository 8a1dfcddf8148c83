"""`vfleet drift` reports: a table for people, JSON for machines, Markdown for a PR or issue comment."""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vfleet.live.drift import Change, DriftReport, FieldChange
from vfleet.report import write_json, write_text
from vfleet.report.findings import print_findings

_MAX_VALUE = 80  # characters of a value shown in a table cell; JSON output keeps every value whole


def to_json(report: DriftReport) -> dict[str, Any]:
    return {
        "clusters": list(report.clusters),
        "drift": [d.to_json() for d in report.drifts],
        "counts": {change.value: report.count(change) for change in Change},
        "findings": [f.to_json() for f in report.findings],
        "requests": report.requests,
        "dryRuns": report.dry_runs,
        "exitCode": report.exit_code,
    }


def value(v: Any) -> str:
    """A field value on one line: JSON, shortened."""
    if v is None:
        return "(absent)"
    text = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def summary(report: DriftReport) -> str:
    counts = ", ".join(f"{report.count(c)} {c.value}" for c in Change)
    clusters = ", ".join(report.clusters) or "no clusters"
    if report.findings.errors:
        return f"drift ({clusters}): {counts}; {len(report.findings.errors)} cluster(s) could not be read"
    return f"drift ({clusters}): " + ("no drift" if not report.drifts else counts)


def to_markdown(report: DriftReport) -> str:
    lines = [f"### {summary(report)}", ""]
    for f in report.findings:
        where = f" (`{f.location}`)" if f.location else ""
        lines.append(f"- **{f.severity.value}** `{f.code}`{where}: {_cell(f.message)}")
    if report.findings:
        lines.append("")
    if report.drifts:
        lines += [
            "| cluster | change | object | tenant | source | field | live | desired |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for d in report.drifts:
            obj = f"{d.kind} {d.namespace + '/' if d.namespace else ''}{d.name}"
            source = f"`{d.location}`" if d.location else ""
            rows: list[FieldChange | None] = list(d.fields) or [None]
            for i, fc in enumerate(rows):
                head = [d.cluster, d.change.value, _cell(obj), d.tenant or "", source] if i == 0 else [""] * 5
                tail = (
                    [f"`{_cell(fc.path)}`", f"`{_cell(value(fc.before))}`", f"`{_cell(value(fc.after))}`"]
                    if fc
                    else ["", "", ""]
                )
                lines.append("| " + " | ".join(head + tail) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def json(report: DriftReport, out: Console) -> None:
    write_json(to_json(report), out)


def markdown(report: DriftReport, out: Console) -> None:
    write_text(to_markdown(report), out)


def table(report: DriftReport, out: Console) -> None:
    """Clusters that could not be read (findings), one row per drifted field, then the summary line."""
    if report.findings:
        print_findings(report.findings, out, "clusters")
    if report.drifts:
        rows = Table(show_lines=False)
        for column in ("cluster", "change", "object", "source", "field", "live", "desired"):
            rows.add_column(column, overflow="fold")
        for d in report.drifts:
            obj = f"{d.kind} {d.namespace + '/' if d.namespace else ''}{d.name}"
            where = str(d.location) if d.location else ""
            for i, fc in enumerate(d.fields or (None,)):
                head = [d.cluster, d.change.value, obj, where] if i == 0 else ["", "", "", ""]
                tail = [fc.path, value(fc.before), value(fc.after)] if fc else []
                rows.add_row(*(escape(cell) for cell in head + tail))
        out.print(rows)
    out.print(summary(report))
