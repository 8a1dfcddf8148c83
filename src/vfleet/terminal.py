"""Findings as people read them at a terminal (rich), shared by the CLI and the plan's terminal report.

`file:line (field): severity code` on one line and the message indented below it: grep-able in CI logs,
clickable in editors, and readable at any width (a table folds long paths and messages into unreadable
columns at 80 characters). Colour follows rich's detection (none when piped or with NO_COLOR).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from vfleet.findings import Finding, Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.DENY: "red", Severity.WARN: "yellow", Severity.INFO: "dim"}


def print_finding(out: Console, finding: Finding) -> None:
    where = str(finding.location) if finding.location else (finding.subject or "-")
    severity = f"[{SEVERITY_STYLE[finding.severity]}]{finding.severity.value}[/]"
    out.print(f"[bold]{escape(where)}[/]: {severity} {escape(finding.code)}", soft_wrap=True)
    out.print(f"    {escape(finding.message)}", soft_wrap=True)
