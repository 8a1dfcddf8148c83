"""`vfleet status`: every tenant's phase and deployed versions, read from the connected clusters.

Exit codes: 0 every cluster was read; 2 the fleet does not compile (nothing is read), or a cluster
could not be read (unreachable, or a read its credentials may not do) — the rest is still reported
and `--html` is still written, but a script must not take a partial picture for a whole one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from vfleet import api
from vfleet.cli.options import PathArg, output_option
from vfleet.cli.output import broken, console, show
from vfleet.live.connect import DEFAULT_TIMEOUT_S
from vfleet.report import Format, render_to

ClusterOpt = Annotated[
    list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")]
RevOpt = Annotated[str | None, typer.Option("--rev", help="desired state from this Git revision")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="write the fleet dashboard: a static file")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds per API request")]


def status_cmd(
    path: PathArg = Path("."),
    cluster: ClusterOpt = None,
    rev: RevOpt = None,
    output: Annotated[Format, output_option("status")] = Format.table,
    html: HtmlOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT_S,
    activity: Annotated[bool, typer.Option("--activity/--no-activity", help="also read each tenant's last "
                                           "activity (docs/lifecycle.md; seven list calls more per cluster)")
                        ] = True,
) -> None:
    """Per tenant: phase, template, chart and values desired vs deployed; per cluster: reachable, version,
    tenants against capacity. One list call per kind per cluster."""
    try:
        status = api.status(path, rev, clusters=cluster, timeout_s=timeout, activity=activity)
    except api.FleetBroken as exc:
        broken(exc.findings, output, "status: the fleet does not compile, nothing was read")
    if html is not None:
        render_to(html, "status", Format.html, status)
    show("status", output, status)
    if html is not None and output is Format.table:
        console().print(f"dashboard written to {escape(str(html))}")
    raise typer.Exit(status.exit_code)


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
