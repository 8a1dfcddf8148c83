"""Terminal and machine output for every command: rich text for people, JSON for machines.

Colour follows rich's detection (off when stdout is not a terminal, off with NO_COLOR), so piping a
command into a file never leaves escape codes in it.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings
from vfleet.report import Format, render, write_json
from vfleet.report.findings import print_findings


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def show(what: str, output: Format, result: Any) -> None:
    """The `output` report of `result` (vfleet.report) on stdout."""
    render(what, output, result, console())


def emit_json(data: Any) -> None:
    write_json(data, console())


def say_error(exc: VfleetError) -> None:
    """`error: <message>` on stderr; the message is text, never markup (it quotes user input)."""
    console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", str(exc)))


def fail(exc: VfleetError, output: Format = Format.table, findings: Findings | None = None,
         summary: str = "") -> NoReturn:
    """The one way a command stops on an error, with the error's exit code (vfleet.core.errors).

    Table output: the findings that led to it (if any) and the error, on stderr. JSON output: one
    object on stdout, `{"error", "findings", "exitCode"}`, so that a pipeline parsing stdout sees it.
    Errors no command catches reach `vfleet.cli.main`, which says them the same way.
    """
    if output is Format.json:
        emit_json({"error": str(exc), "findings": [f.to_json() for f in findings or ()], "exitCode": exc.exit_code})
    else:
        if findings:
            print_findings(findings, console(stderr=True), summary)
        say_error(exc)
    raise typer.Exit(exc.exit_code)


def broken(findings: Findings, output: Format, summary: str) -> NoReturn:
    """The fleet does not compile, so nothing was read or done: its findings (JSON: `{"findings",
    "exitCode": 2}` on stdout), exit 2."""
    if output is Format.json:
        emit_json({"findings": [f.to_json() for f in findings], "exitCode": 2})
    else:
        print_findings(findings, console(), summary)
    raise typer.Exit(2)


__all__ = ["broken", "console", "emit_json", "fail", "print_findings", "say_error", "show"]
