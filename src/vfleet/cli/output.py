"""Terminal and machine output for every command: rich text for people, JSON for machines.

Colour follows rich's detection (off when stdout is not a terminal, off with NO_COLOR), so piping a
command into a file never leaves escape codes in it.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape

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


def print_findings(findings: Findings, out: Console, summary: str) -> None:
    """Findings in compiler style, then a one-line summary.

    `file:line (field): severity code` on one line and the message indented below it: grep-able in
    CI logs, clickable in editors, and readable at any terminal width (a table folds long paths and
    messages into unreadable columns at 80 characters).
    """
    for f in findings:
        where = str(f.location) if f.location else (f.subject or "-")
        severity = f"[{_STYLE[f.severity]}]{f.severity.value}[/]"
        out.print(f"[bold]{escape(where)}[/]: {severity} {escape(f.code)}", soft_wrap=True)
        out.print(f"    {escape(f.message)}", soft_wrap=True)
    counts = (
        f"{len(findings.errors)} error(s), {len(findings.denies)} denied, {len(findings.warnings)} warning(s)"
    )
    out.print(f"{summary}: {counts}")
