"""Terminal and machine output for every command: rich text for people, JSON for machines.

Colour follows rich's detection (off when stdout is not a terminal, off with NO_COLOR), so piping a
command into a file never leaves escape codes in it.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.text import Text

from vfleet.errors import VfleetError
from vfleet.findings import JSON_HINT, Findings
from vfleet.terminal import print_all


class Output(StrEnum):
    table = "table"
    json = "json"


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    sys.stdout.flush()


def print_findings(findings: Findings, out: Console, summary: str, hint: str = JSON_HINT) -> None:
    """The findings, repeated ones folded (vfleet.terminal.print_all), then a one-line summary.

    `hint`: where the full list is, for a command that has no `--output json` of its own."""
    print_all(out, findings, hint)
    counts = (
        f"{len(findings.errors)} error(s), {len(findings.denies)} denied, {len(findings.warnings)} warning(s)"
    )
    out.print(f"{summary}: {counts}")


def say_error(exc: VfleetError) -> None:
    """`error: <message>` on stderr; the message is text, never markup (it quotes user input)."""
    console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", str(exc)))


def fail(exc: VfleetError, output: Output = Output.table, findings: Findings | None = None,
         summary: str = "") -> NoReturn:
    """The one way a command stops on an error, with the error's exit code (vfleet.errors).

    Table output: the findings that led to it (if any) and the error, on stderr. JSON output: one
    object on stdout, `{"error", "findings", "exitCode"}`, so that a pipeline parsing stdout sees it.
    Errors no command catches reach `vfleet.cli.main`, which says them the same way.
    """
    if output is Output.json:
        emit_json({"error": str(exc), "findings": [f.to_json() for f in findings or ()], "exitCode": exc.exit_code})
    else:
        if findings:
            print_findings(findings, console(stderr=True), summary)
        say_error(exc)
    raise typer.Exit(exc.exit_code)
