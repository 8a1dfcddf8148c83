"""Commands of the compiler core: validate, compile, place, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet import api
from vfleet.cli.options import NoCacheOpt, PathArg, output_option
from vfleet.cli.output import fail, show
from vfleet.core.errors import VfleetError
from vfleet.report import Format

RevOpt = Annotated[str | None, typer.Option("--rev", help="compile this Git revision instead of the work tree")]


def validate(path: PathArg = Path("."), rev: RevOpt = None,
             output: Annotated[Format, output_option("validate")] = Format.table,
             no_cache: NoCacheOpt = False) -> None:
    """Validate specs, references, parameters, placement and rendered values. Exit 0 valid, 2 broken."""
    compiled = api.validate(path, rev, no_cache=no_cache)
    show("validate", output, compiled)
    raise typer.Exit(compiled.findings.exit_code)


def compile_cmd(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", help="output directory (replaced atomically)")] = Path("build"),
    rev: RevOpt = None,
    output: Annotated[Format, output_option("compile")] = Format.table,
    no_cache: NoCacheOpt = False,
) -> None:
    """Compile the fleet: one desired-state file per cluster and each tenant's vcluster.yaml."""
    result = api.compile(path, rev, out=out, no_cache=no_cache)
    show("compile", output, result)
    raise typer.Exit(result.exit_code)


def place_cmd(path: PathArg = Path("."), output: Annotated[Format, output_option("place")] = Format.table,
              no_cache: NoCacheOpt = False) -> None:
    """Place new tenants (sticky for placed ones) and write fleet/placement.lock."""
    placed = api.place(path, no_cache=no_cache)
    show("place", output, placed)
    raise typer.Exit(placed.exit_code)


show_app = typer.Typer(help="Show resolved specs and what vfleet computes from them.", no_args_is_help=True)


@show_app.command("tenant")
def show_tenant(
    key: Annotated[str, typer.Argument(help="<project>/<tenant>")],
    path: Annotated[Path, typer.Option("--path", help="the fleet repository")] = Path("."),
    rev: RevOpt = None,
    output: Annotated[Format, output_option("tenant")] = Format.table,
) -> None:
    """The tenant's resolved spec and its computed vcluster.yaml, as the Platform shows before deploying."""
    try:
        view = api.show_tenant(key, path, rev)
    except VfleetError as exc:
        fail(exc)
    show("tenant", output, view)
    raise typer.Exit(view.exit_code)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("compile")(compile_cmd)
    app.command("place")(place_cmd)
    app.add_typer(show_app, name="show")
