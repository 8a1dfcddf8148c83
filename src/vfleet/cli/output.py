"""Terminal and machine output for every command: rich tables for people, JSON for machines.

Colour follows rich's detection (off when stdout is not a terminal, off with NO_COLOR), so piping a
command into a file never leaves escape codes in it.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from vfleet.findings import Findings, Severity


class Output(StrEnum):
    table = "table"
    json = "json"


_STYLE = {Severity.ERROR: "bold red", Severity.DENY: "red", Severity.WARN: "yellow", Severity.INFO: "dim"}


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    sys.stdout.flush()


def findings_table(findings: Findings, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("where", overflow="fold")
    table.add_column("code", no_wrap=True)
    table.add_column("message", overflow="fold")
    for f in findings:
        table.add_row(
            f"[{_STYLE[f.severity]}]{f.severity.value}[/]",
            str(f.location) if f.location else (f.subject or ""),
            f.code,
            f.message,
        )
    return table


def print_findings(findings: Findings, out: Console, summary: str) -> None:
    """Findings as a table (or nothing when clean), then a one-line summary."""
    if findings:
        out.print(findings_table(findings))
    counts = (
        f"{len(findings.errors)} error(s), {len(findings.denies)} denied, {len(findings.warnings)} warning(s)"
    )
    out.print(f"{summary}: {counts}")
