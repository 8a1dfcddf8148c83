"""`vfleet status` reports: per tenant its phase and versions, per cluster reachability and capacity.

The HTML dashboard of the same `FleetStatus` is `vfleet.report.dashboard`.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vfleet.live.phases import Phase
from vfleet.live.status_types import FleetStatus, TenantStatus
from vfleet.report import write_json
from vfleet.report.findings import print_findings

_PHASE_STYLE = {
    Phase.RUNNING: "green", Phase.STARTING: "yellow", Phase.SLEEPING: "blue", Phase.NOT_DEPLOYED: "dim",
    Phase.FAILED: "bold red", Phase.DELETING: "magenta", Phase.UNKNOWN: "bold",
}


def json(status: FleetStatus, out: Console) -> None:
    write_json(status.to_json(), out)


_REASON_MAX = 200  # a Helm failure can run to many lines; the JSON and the dashboard keep all of it


def table(status: FleetStatus, out: Console) -> None:
    """Clusters as a small table; tenants one block each (a summary line, then details indented), which
    reads at any terminal width, as findings do — a table of ten columns folds into a column of letters."""
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

