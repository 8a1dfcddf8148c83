"""Options that several commands share, defined once so that their spelling and help never drift apart.

Options whose help says what *this* command does with them (`--rev`: compile, check, or take the desired
state of a revision) stay with their command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet.cli.output import Output

PathArg = Annotated[Path, typer.Argument(help="the fleet repository (or its fleet/ folder)")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table for people, json for machines")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not reuse parsed documents from earlier runs")]
