"""`vfleet drift` (and the library call behind `vfleet check --live`): parse, call `vfleet.live`, render.

Exit codes: drift 0 none, 3 drift found, 2 broken input or a cluster that could not be read.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from vfleet import api
from vfleet.cli.options import PathArg
from vfleet.cli.output import console, emit_json, fail, print_findings
from vfleet.errors import VfleetError
from vfleet.findings import Findings

if TYPE_CHECKING:
    pass


class DriftOutput(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def drift_command(
    path: PathArg = Path("."),
    cluster: Annotated[
        list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable); default: all")
    ] = None,
    rev: Annotated[str | None, typer.Option("--rev", help="desired state of this Git revision")] = None,
    output: Annotated[DriftOutput, typer.Option("--output", "-o", help="table, json or markdown")] = DriftOutput.table,
) -> None:
    """Live objects against desired, field by field. Exit 0 none, 3 drift found, 2 a cluster unreadable."""
    # Imported here: the kubernetes client costs ~0.5 s to import, which no other command should pay.
    from vfleet.live import drift_output

    try:
        report = api.drift(path, rev, clusters=cluster)
    except api.FleetBroken as exc:  # a broken fleet has no trustworthy desired state to compare with
        print_findings(Findings.of(exc.findings.errors), console(stderr=True), "drift")
        raise typer.Exit(2) from None
    except VfleetError as exc:
        fail(exc)
    if output is DriftOutput.json:
        emit_json(drift_output.to_json(report))
    elif output is DriftOutput.markdown:
        typer.echo(drift_output.to_markdown(report), nl=False)
    else:
        out = console()
        if report.findings:
            print_findings(report.findings, out, "clusters")
        if report.drifts:
            table = Table(show_lines=False)
            for column in ("cluster", "change", "object", "source", "field", "live", "desired"):
                table.add_column(column, overflow="fold")
            for d in report.drifts:
                obj = f"{d.kind} {d.namespace + '/' if d.namespace else ''}{d.name}"
                where = str(d.location) if d.location else ""
                for i, fc in enumerate(d.fields or (None,)):
                    head = [d.cluster, d.change.value, obj, where] if i == 0 else ["", "", "", ""]
                    tail = [fc.path, drift_output.value(fc.live), drift_output.value(fc.desired)] if fc else []
                    table.add_row(*(escape(cell) for cell in head + tail))
            out.print(table)
        out.print(drift_output.summary(report))
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("drift")(drift_command)


__all__ = ["drift_command", "register"]
