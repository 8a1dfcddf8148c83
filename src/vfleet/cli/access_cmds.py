"""`vfleet codeowners` and `vfleet show platform`: who may change what, and who may do what where."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet import api
from vfleet.cli.core import RevOpt, show_app
from vfleet.cli.options import PathArg, output_option
from vfleet.cli.output import fail, show
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings
from vfleet.report import Format


def codeowners(
    path: PathArg = Path("."),
    forge: Annotated[str | None, typer.Option("--forge", help="github or gitlab (default: codeowners: in "
                                              "vfleet.yaml, else github)")] = None,
    check: Annotated[bool, typer.Option("--check", help="only compare with the committed file (exit 2: stale)")]
    = False,
    output: Annotated[Format, output_option("codeowners")] = Format.table,
) -> None:
    """Write the forge's CODEOWNERS from projects, teams and platform roles (docs/access.md)."""
    try:
        result = api.codeowners(path, forge=forge, check=check)
    except api.BadForge as exc:
        fail(exc, output)
    show("codeowners", output, result)
    raise typer.Exit(result.exit_code)


def show_platform(
    path: Annotated[Path, typer.Option("--path", help="the fleet repository")] = Path("."),
    rev: RevOpt = None,
    output: Annotated[Format, output_option("platform")] = Format.table,
) -> None:
    """Platform roles per connected cluster, and each project's host access: who can do what where."""
    try:
        compiled = api.platform(path, rev)
    except VfleetError as exc:
        fail(exc, output)
    show("platform", output, compiled)
    raise typer.Exit(Findings.of(compiled.fleet.findings).exit_code)


def register(app: typer.Typer) -> None:
    app.command("codeowners")(codeowners)
    show_app.command("platform")(show_platform)
