"""Options that several commands share, defined once so that their spelling and help never drift apart.

Options whose help says what *this* command does with them (`--rev`: compile, check, or take the desired
state of a revision) stay with their command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vfleet.report import Format, formats

_FOR = {Format.table: "table for people", Format.json: "json for machines",
        Format.markdown: "markdown for a PR comment", Format.html: "html: the dashboard page"}


def output_option(what: str | None = None, help: str | None = None) -> Any:
    """`--output/-o` offering the formats `vfleet.report` has for `what` (table and json when None).

    The choices are checked here, so a command never asks the registry for a report it does not have."""
    choices = formats(what) if what is not None else (Format.table, Format.json)

    def supported(value: Format) -> Format:
        if value not in choices:
            offered = ", ".join(c.value for c in choices)
            raise typer.BadParameter(f"this command writes {offered}, not {value.value}")
        return value

    return typer.Option("--output", "-o", help=help or ", ".join(_FOR[c] for c in choices), callback=supported,
                        show_choices=False)


PathArg = Annotated[Path, typer.Argument(help="the fleet repository (or its fleet/ folder)")]
OutputOpt = Annotated[Format, output_option()]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not reuse parsed documents from earlier runs")]
