"""`vfleet drift` (and the library call behind `vfleet check --live`): parse, call `vfleet.live`, render.

Exit codes: drift 0 none, 3 drift found, 2 broken input or a cluster that could not be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet import api
from vfleet.cli.options import PathArg, output_option
from vfleet.cli.output import broken, fail, show
from vfleet.core.errors import VfleetError
from vfleet.report import Format


def drift_command(
    path: PathArg = Path("."),
    cluster: Annotated[
        list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable); default: all")
    ] = None,
    rev: Annotated[str | None, typer.Option("--rev", help="desired state of this Git revision")] = None,
    output: Annotated[Format, output_option("drift")] = Format.table,
) -> None:
    """Live objects against desired, field by field. Exit 0 none, 3 drift found, 2 a cluster unreadable."""
    try:
        report = api.drift(path, rev, clusters=cluster)
    except api.FleetBroken as exc:  # a broken fleet has no trustworthy desired state to compare with
        broken(exc.findings, output, "drift: the fleet does not compile, nothing was read")
    except VfleetError as exc:
        fail(exc, output)
    show("drift", output, report)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("drift")(drift_command)


__all__ = ["drift_command", "register"]
