"""Findings as people read them at a terminal (rich), shared by every table report and the CLI's errors.

`file:line (field): severity code` on one line and the message indented below it: grep-able in CI logs,
clickable in editors, and readable at any width (a table folds long paths and messages into unreadable
columns at 80 characters). Colour follows rich's detection (none when piped or with NO_COLOR).
`print_all` folds repeated findings (`findings.fold`): every command prints findings through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from rich.console import Console
from rich.markup import escape

from vfleet.core.findings import JSON_HINT, Finding, Findings, Folded, Severity, fold

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.DENY: "red", Severity.WARN: "yellow", Severity.INFO: "dim"}


def print_finding(out: Console, finding: Finding) -> None:
    where = str(finding.location) if finding.location else (finding.subject or "-")
    severity = f"[{SEVERITY_STYLE[finding.severity]}]{finding.severity.value}[/]"
    out.print(f"[bold]{escape(where)}[/]: {severity} {escape(finding.code)}", soft_wrap=True)
    out.print(f"    {escape(finding.message)}", soft_wrap=True)


def print_all(out: Console, findings: Iterable[Finding], hint: str = JSON_HINT) -> None:
    """Each finding, but of a kind (severity, code) seen more than FOLD_SHOWN times only the first few
    and one line counting the rest (and naming `hint`, where the full list is)."""
    for entry in fold(list(findings), Finding.kind):
        if isinstance(entry, Folded):
            print_folded(out, replace(entry, hint=hint))
        else:
            print_finding(out, entry)


def print_folded(out: Console, folded: Folded, indent: str = "") -> None:
    out.print(f"{indent}[dim]{escape(str(folded))}[/]", soft_wrap=True)


def print_findings(findings: Findings, out: Console, summary: str, hint: str = JSON_HINT) -> None:
    """The findings, repeated ones folded (`print_all`), then a one-line summary with their counts.

    `hint`: where the full list is, for a command that has no `--output json` of its own."""
    print_all(out, findings, hint)
    counts = (
        f"{len(findings.errors)} error(s), {len(findings.denies)} denied, {len(findings.warnings)} warning(s)"
    )
    out.print(f"{summary}: {counts}")
