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

from vfleet import compile as compiler
from vfleet.apply.records import state_dir
from vfleet.cli.output import Output, console, emit_json, print_findings
from vfleet.live import dashboard
from vfleet.live.connect import DEFAULT_TIMEOUT_S
from vfleet.live.status import FleetStatus, Phase, TenantStatus, fleet_status, last_apply_from

_PHASE_STYLE = {
    Phase.RUNNING: "green", Phase.STARTING: "yellow", Phase.SLEEPING: "blue", Phase.NOT_DEPLOYED: "dim",
    Phase.FAILED: "bold red", Phase.DELETING: "magenta", Phase.UNKNOWN: "bold",
}


ClusterOpt = Annotated[
    list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")]
RevOpt = Annotated[str | None, typer.Option("--rev", help="desired state from this Git revision")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table for people, json for machines")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="write the fleet dashboard: a static file")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds per API request")]


def status_cmd(
    path: Annotated[Path, typer.Argument(help="the fleet repository (or its fleet/ folder)")] = Path("."),
    cluster: ClusterOpt = None,
    rev: RevOpt = None,
    output: OutputOpt = Output.table,
    html: HtmlOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT_S,
) -> None:
    """Per tenant: phase, template, chart and values desired vs deployed; per cluster: reachable, version,
    tenants against capacity. One list call per kind per cluster."""
    root = compiler.find_root(path)
    compiled = compiler.compile_fleet(root, rev, cache=compiler.parse_cache(root))
    if compiled.findings.errors:
        if output is Output.json:
            emit_json({"findings": [f.to_json() for f in compiled.findings], "exitCode": 2})
        else:
            summary = "status: the fleet does not compile, nothing was read"
            print_findings(compiled.findings, console(), summary)
        raise typer.Exit(2)
    records = last_apply_from(state_dir(root))
    status = fleet_status(compiled, cluster or None, last_apply=records, timeout_s=timeout,
                          cache_dir=compiler.cache_dir() / "status")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(dashboard.render(status), encoding="utf-8")
    if output is Output.json:
        emit_json(status.to_json())
    else:
        _print(status, html)
    raise typer.Exit(status.exit_code)


_TENANT_COLUMNS = (
    "tenant", "cluster", "phase", "template", "chart", "values", "sleep", "auto-delete", "owner"
)


def _print(status: FleetStatus, html: Path | None) -> None:
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
    tenants = Table(title="tenants", title_justify="left", box=None, header_style="bold")
    for column in _TENANT_COLUMNS:
        tenants.add_column(column, overflow="fold")
    for t in status.tenants:
        marks = "" if t.in_fleet else " [dim](not in fleet)[/]"
        marks += " [dim]protected[/]" if t.protect else ""
        reason = f"\n[dim]{escape(t.reason)}[/]" if t.reason else ""
        tenants.add_row(
            escape(t.key) + marks,
            escape(t.cluster),
            f"[{_PHASE_STYLE[t.phase]}]{t.phase.value}[/]{reason}",
            escape(f"{t.template or '-'} {t.template_version or ''}".strip()),
            escape(_chart(t)),
            _values(t),
            escape(t.sleep or "-"),
            escape(t.auto_delete or "-"),
            escape(t.owner or "-"),
        )
    out.print(tenants)
    counts = ", ".join(f"{n} {phase}" for phase, n in status.counts().items() if n)
    out.print(f"{len(status.tenants)} tenants: {counts or 'none'} ({status.requests} API requests, "
              f"{status.seconds:.2f} s)")
    if html is not None:
        out.print(f"dashboard written to {escape(str(html))}")
    if status.findings:
        print_findings(status.findings, out, "status")


def _chart(t: TenantStatus) -> str:
    deployed = t.deployed.chart_version if t.deployed else "-"
    desired = t.desired_chart or "-"
    return desired if deployed == desired else f"{desired} (deployed {deployed})"


def _values(t: TenantStatus) -> str:
    if t.in_sync is None:
        return "-"
    if t.values_match:
        return "[green]in sync[/]"
    return "[red]differs[/]"


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
