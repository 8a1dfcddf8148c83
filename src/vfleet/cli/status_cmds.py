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
from rich.table import Table

from vfleet import api
from vfleet.cli.options import OutputOpt, PathArg
from vfleet.cli.output import Output, console, emit_json, print_findings
from vfleet.live import dashboard
from vfleet.live.connect import DEFAULT_TIMEOUT_S
from vfleet.live.status import FleetStatus, Phase, TenantStatus

_PHASE_STYLE = {
    Phase.RUNNING: "green", Phase.STARTING: "yellow", Phase.SLEEPING: "blue", Phase.NOT_DEPLOYED: "dim",
    Phase.FAILED: "bold red", Phase.DELETING: "magenta", Phase.UNKNOWN: "bold",
}


ClusterOpt = Annotated[
    list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")]
RevOpt = Annotated[str | None, typer.Option("--rev", help="desired state from this Git revision")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="write the fleet dashboard: a static file")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds per API request")]


def status_cmd(
    path: PathArg = Path("."),
    cluster: ClusterOpt = None,
    rev: RevOpt = None,
    output: OutputOpt = Output.table,
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
        if output is Output.json:
            emit_json({"findings": [f.to_json() for f in exc.findings], "exitCode": 2})
        else:
            summary = "status: the fleet does not compile, nothing was read"
            print_findings(exc.findings, console(), summary)
        raise typer.Exit(2) from None
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(dashboard.render(status), encoding="utf-8")
    if output is Output.json:
        emit_json(status.to_json())
    else:
        _print(status, html)
    raise typer.Exit(status.exit_code)


_REASON_MAX = 200  # a Helm failure can run to many lines; the JSON and the dashboard keep all of it


def _print(status: FleetStatus, html: Path | None) -> None:
    """Clusters as a small table; tenants one block each (a summary line, then details indented), which
    reads at any terminal width, as findings do — a table of ten columns folds into a column of letters."""
    out = console()
    clusters = Table(title="clusters", title_justify="left", box=None, header_style="bold")
    for column in ("cluster", "reachable", "kubernetes", "tenants", "deployed", "last apply"):
        clusters.add_column(column)
    for c in status.clusters:
        capacity = f"{c.tenants}/{c.max_tenants}" if c.max_tenants is not None else str(c.tenants)
        apply = c.last_apply or {}
        last = " ".join(str(apply.get(k) or "") for k in ("result", "ended")).strip() or "-"
        reachable = "yes" if c.reachable else "[bold red]no[/]"
        clusters.add_row(escape(c.name), reachable, escape(c.version or "-"), capacity, str(c.deployed),
                         escape(last))
    out.print(clusters)
    out.print("[bold]tenants[/]")
    key_width = max((len(t.key) for t in status.tenants), default=0)
    cluster_width = max((len(t.cluster) for t in status.tenants), default=0)
    phase_width = max(len(p.value) for p in Phase)
    for t in status.tenants:
        template = f"{t.template} {t.template_version or ''}".strip() if t.template else "-"
        head = (f"{escape(t.key.ljust(key_width))}  {escape(t.cluster.ljust(cluster_width))}  "
                f"[{_PHASE_STYLE[t.phase]}]{t.phase.value.ljust(phase_width)}[/]  {escape(template)}  "
                f"chart {escape(_chart(t))}  values {_values(t)}")
        out.print(head, soft_wrap=True)
        if t.reason:
            out.print(f"    [dim]{escape(_short(t.reason))}[/]", soft_wrap=True)
        details = [f"owner {t.owner}" if t.owner else "", "protected" if t.protect else "",
                   f"sleep: {t.sleep}" if t.sleep else "", f"auto-delete: {t.auto_delete}" if t.auto_delete else "",
                   _sleep_views(t), f"last activity {t.last_activity}" if t.last_activity else "", _last_apply(t)]
        if any(details):
            out.print(f"    {escape(' · '.join(d for d in details if d))}", soft_wrap=True)
    counts = ", ".join(f"{n} {phase}" for phase, n in status.counts().items() if n)
    out.print(f"{len(status.tenants)} tenants: {counts or 'none'} ({status.requests} API requests, "
              f"{status.seconds:.2f} s)")
    if html is not None:
        out.print(f"dashboard written to {escape(str(html))}")
    if status.findings:
        print_findings(status.findings, out, "status")


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _REASON_MAX else flat[: _REASON_MAX - 1] + "…"


def _last_apply(t: TenantStatus) -> str:
    record = t.last_apply
    if not record:
        return ""
    commit = str(record.get("commit") or "")[:12]
    return "last apply: " + " ".join(str(x) for x in (record.get("result"), record.get("ended"), commit) if x)


def _sleep_views(t: TenantStatus) -> str:
    """The spec's view of sleep next to the cluster's, when they differ."""
    asleep = t.phase is Phase.SLEEPING
    if t.spec_sleeping and not asleep:
        return "asleep by spec, not on the cluster"
    if asleep and not t.spec_sleeping:
        return "asleep on the cluster (vfleet lifecycle), awake by spec"
    return ""


def _chart(t: TenantStatus) -> str:
    desired = t.desired_chart or "-"
    if t.deployed is None or t.deployed.chart_version == desired:
        return desired
    return f"{desired} (deployed {t.deployed.chart_version})"


def _values(t: TenantStatus) -> str:
    if t.values_match is None:
        return "-"
    if t.values_match:
        return "[green]in sync[/]"
    return "[red]differs[/]"


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
