"""Stage live/status: the compiled fleet + what each connected cluster runs -> `FleetStatus`.

Per tenant: where it should run and from what (template, chart version, values hash), what is deployed
(Helm's own release record on the cluster), and its phase; per cluster: reachable, version, tenants
against capacity. The fleet view vCluster Platform's UI gives operators, read from the clusters.

Cost does not grow with the tenant count in requests: per cluster `GET /version` (done by `connect`)
and one list call per kind — vfleet's namespaces, Helm's release Secrets, the vcluster StatefulSets —
never one request per tenant (`observe`; with a cache of decoded release records, Secrets are listed
metadata-only and the bodies of changed releases fetched with one more list call). Clusters are read
in parallel. Phases come from the live objects alone (`phases`); this module adds the fleet's side.

Bad conditions never hide the rest: a cluster that cannot be reached marks its tenants `unknown` and is
an error finding; a read the credentials may not do (RBAC) marks them `unknown` too and names the
permission that is missing; every other cluster is still reported. Nothing read from a cluster that
could carry a credential is shown (messages go through the connection's redaction).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfleet.compile import Compiled
from vfleet.core import naming, subjects
from vfleet.core.findings import Finding, Findings, error
from vfleet.core.jsonyaml import canonical_hash
from vfleet.live import releases
from vfleet.live.activity import Activity, read_activity
from vfleet.live.connect import DEFAULT_TIMEOUT_S, Connection, connect
from vfleet.live.observe import Observation, observe
from vfleet.live.phases import PHASES, SLEEP_ANNOTATIONS, Live, Phase, join_reasons, phase
from vfleet.live.status_types import ClusterStatus, Deployed, FleetStatus, TenantStatus
from vfleet.model import ResolvedTenant
from vfleet.specs import AutoDelete, Sleep

if TYPE_CHECKING:
    from vfleet.apply.store import Store

LastApply = Callable[[str], Mapping[str, Any] | None]  # cluster -> its stack's last apply record


# ------------------------------------------------------------------------------------------- deriving


def derive(
    compiled: Compiled,
    observed: Mapping[str, Observation],
    unreachable: Mapping[str, Finding],
    last_apply: LastApply | None = None,
    *,
    seconds: float = 0.0,
    activity: Mapping[str, Activity] | None = None,
) -> FleetStatus:
    """The fleet's status from what was read; pure (no I/O). Clusters neither observed nor unreachable
    were not asked for and are left out. `activity` (by cluster) adds each tenant's last activity."""
    fleet = compiled.fleet
    # A name that is no Cluster of the fleet (`--cluster typo`) is only its finding.
    clusters = sorted(name for name in set(observed) | set(unreachable) if name in fleet.clusters)
    placed: dict[str, list[ResolvedTenant]] = {name: [] for name in clusters}
    for key, cluster in sorted(compiled.placement.clusters.items()):
        if cluster in placed and key in fleet.tenants:
            placed[cluster].append(fleet.tenants[key])
    tenants: list[TenantStatus] = []
    cluster_rows: list[ClusterStatus] = []
    findings: list[Finding] = list(unreachable.values())
    for name in clusters:
        obs = observed.get(name)
        record = last_apply(name) if last_apply else None
        blind = _blind(obs, unreachable.get(name))
        rows = [
            _tenant(compiled, t, name, _live_of(obs, t.namespace, t.name, blind), record)
            for t in placed[name]
        ]
        if obs is not None:
            rows += _strays(obs, {t.namespace for t in placed[name]}, blind, record)
            where = compiled.fleet.location(fleet.clusters[name].doc, ("spec", "kubeconfig"))
            findings += [
                error("live.forbidden" if "forbidden" in p else "live.read", p, where, subjects.cluster(name))
                for p in obs.problems
            ]
        if activity is not None and name in activity:
            rows = [_with_activity(row, activity[name]) for row in rows]
        tenants += rows
        capacity = fleet.clusters[name].manifest.spec.capacity.maxTenants
        in_fleet = [row for row in rows if row.in_fleet]
        cluster_rows.append(
            ClusterStatus(
                name=name,
                reachable=obs is not None,
                version=obs.version if obs else None,
                tenants=len(in_fleet),
                deployed=sum(row.phase not in (Phase.NOT_DEPLOYED, Phase.UNKNOWN) for row in in_fleet),
                max_tenants=capacity,
                problems=obs.problems if obs else (unreachable[name].message,),
                requests=(obs.requests if obs else 1) + (activity[name].requests if activity and name in activity
                                                          else 0),
                seconds=obs.seconds if obs else 0.0,
                last_apply=record,
            )
        )
    return FleetStatus(
        revision=compiled.tree.revision,
        generated=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        clusters=tuple(cluster_rows),
        tenants=tuple(sorted(tenants, key=lambda t: (t.key, t.cluster))),
        findings=Findings.of(findings),
        seconds=seconds,
    )


def _with_activity(row: TenantStatus, read: Activity) -> TenantStatus:
    from dataclasses import replace

    found = read.by_namespace.get(row.namespace)
    if found is None:
        why = "cannot read: " + "; ".join(read.problems) if read.problems else ""
        return replace(row, activity_source=why)
    moment = found[0].astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return replace(row, last_activity=moment, activity_source=found[1])


def _blind(obs: Observation | None, unreachable: Finding | None) -> str | None:
    """Why this cluster's tenants cannot be seen, if they cannot."""
    if obs is None:
        return f"cluster unreachable: {unreachable.message}" if unreachable else "cluster not read"
    if obs.releases is None or obs.statefulsets is None or obs.namespaces is None:
        return "cannot read the cluster: " + "; ".join(obs.problems)
    return None


def _live_of(obs: Observation | None, namespace: str, name: str, blind: str | None) -> Live:
    if obs is None or blind is not None:
        return Live(None, None, None, blind or "cluster not read")
    assert obs.namespaces is not None and obs.releases is not None and obs.statefulsets is not None
    release = naming.release_name(name)
    return Live(
        obs.namespaces.get(namespace),
        obs.releases.get((namespace, release)),
        obs.statefulsets.get((namespace, release)),
    )


def _tenant(
    compiled: Compiled, t: ResolvedTenant, cluster: str, found: Live, record: Mapping[str, Any] | None
) -> TenantStatus:
    rendered = compiled.rendered.tenants.get(t.key)
    spec = t.manifest.spec
    now, reason, replicas, ready = phase(found)
    return TenantStatus(
        key=t.key,
        project=t.project,
        name=t.name,
        cluster=cluster,
        namespace=t.namespace,
        in_fleet=True,
        template=t.template,
        template_version=t.version,
        owner=spec.owner,
        protect=spec.protect,
        sleep=sleep_summary(t.sleep),
        auto_delete=auto_delete_summary(t.auto_delete),
        desired_chart=t.template_version.chartVersion,
        desired_hash=rendered.hash if rendered else None,
        deployed=_deployed(found.record),
        phase=now,
        reason=reason,
        replicas=replicas,
        ready=ready,
        last_apply=record,
        values_match=_values_match(
            found.record, rendered.values if rendered else None, rendered.hash if rendered else None
        ),
        spec_sleeping=t.sleep is not None and t.sleep.sleeping,
    )


def _values_match(
    record: releases.ReleaseRecord | str | None, values: Any, digest: str | None
) -> bool | None:
    if not isinstance(record, releases.ReleaseRecord) or digest is None:
        return None
    if record.values_hash == digest:
        return True
    # Numbers are kept by Helm as floats: compare that form too before calling the values different.
    return record.numeric_hash == canonical_hash(releases.numbers_as_floats(values))


def _strays(
    obs: Observation, placed: set[str], blind: str | None, record: Mapping[str, Any] | None
) -> list[TenantStatus]:
    """Tenants on the cluster (vfleet's namespace labels) that no spec places there: removed from Git
    and not yet deleted, or moved — an operator wants to see them."""
    rows = []
    for ns_name, ns in sorted((obs.namespaces or {}).items()):
        labels = ns["metadata"].get("labels") or {}
        project, name = labels.get("vfleet.dev/project"), labels.get("vfleet.dev/tenant")
        if ns_name in placed or not project or not name:
            continue
        found = _live_of(obs, ns_name, name, blind)
        now, reason, replicas, ready = phase(found)
        rows.append(
            TenantStatus(
                key=naming.tenant_key(project, name),
                project=project,
                name=name,
                cluster=obs.cluster,
                namespace=ns_name,
                in_fleet=False,
                template=labels.get("vfleet.dev/template"),
                template_version=None,
                owner=None,
                protect=False,
                sleep="",
                auto_delete="",
                desired_chart=None,
                desired_hash=None,
                deployed=_deployed(found.record),
                phase=now,
                reason=join_reasons(
                    "not in the fleet here (removed from Git, or placed on another cluster)", reason
                ),
                replicas=replicas,
                ready=ready,
                last_apply=record,
            )
        )
    return rows


def _deployed(record: releases.ReleaseRecord | str | None) -> Deployed | None:
    if not isinstance(record, releases.ReleaseRecord):
        return None
    return Deployed(record.revision, record.status, record.chart_version, record.values_hash, record.updated)


def sleep_summary(sleep: Sleep | None) -> str:
    if sleep is None:
        return ""
    parts = ["asleep by hand"] if sleep.sleeping else []
    if sleep.afterInactivity is not None:
        parts.append(f"after {sleep.afterInactivity.text} idle")
    if sleep.schedule is not None:
        parts.append(f"sleeps {sleep.schedule}")
    if sleep.wakeup is not None:
        parts.append(f"wakes {sleep.wakeup}")
    if sleep.timezone is not None:
        parts.append(str(sleep.timezone))
    return ", ".join(parts)


def auto_delete_summary(auto: AutoDelete | None) -> str:
    if auto is None:
        return ""
    if auto.never:
        return "never"
    parts = []
    if auto.afterInactivity is not None:
        parts.append(f"after {auto.afterInactivity.text} idle")
    if auto.expiry is not None:
        parts.append(f"expires {auto.expiry}")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------------ run


def fleet_status(
    compiled: Compiled,
    clusters: Sequence[str] | None = None,
    *,
    last_apply: LastApply | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    cache_dir: Path | None = None,
    activity: bool = False,
) -> FleetStatus:
    """Connect to `clusters` (default: all) in parallel, read each once, derive the fleet's status.

    `cache_dir` keeps decoded Helm release records between runs (one file per cluster), so a run
    after the first decodes only the releases that changed. `activity` also reads each tenant's last
    activity (vfleet.live.activity: seven metadata-only list calls more per cluster).
    """
    began = time.monotonic()
    fleet = compiled.fleet
    names = sorted(fleet.clusters if clusters is None else clusters)
    kwargs: dict[str, Any] = {"timeout_s": timeout_s} | ({"env": env} if env is not None else {})
    namespaces: dict[str, set[str]] = {name: set() for name in names}
    for key, cluster in compiled.placement.clusters.items():
        if cluster in namespaces and key in fleet.tenants:
            namespaces[cluster].add(fleet.tenants[key].namespace)

    activities: dict[str, Activity] = {}

    def read(conn: Connection) -> Observation:
        if cache_dir is None:
            observed = observe(conn, frozenset(namespaces[conn.cluster]))
        else:
            cache = releases.RecordCache(cache_dir / f"releases-{naming.file_part(conn.cluster)}.json")
            observed = observe(conn, frozenset(namespaces[conn.cluster]), cache)
            with contextlib.suppress(OSError):  # a cache that cannot be written costs time next run, nothing else
                cache.save()
        if activity:

            wanted = frozenset(namespaces[conn.cluster]) | frozenset(observed.namespaces or ())
            activities[conn.cluster] = read_activity(conn, wanted, (observed.namespaces or {}).values())
        return observed

    with connect(fleet, names, **kwargs) as conns:
        results = conns.each(read)
        unreachable = {f.subject.split(":", 1)[1]: f for f in conns.findings if f.subject}
    observed: dict[str, Observation] = {}
    for name, result in results.items():
        if isinstance(result, Observation):
            observed[name] = result
        else:  # a bug while reading, not a cluster problem: still report the rest
            unreachable[name] = error("live.read", f"cluster {name}: reading failed: {result!r}",
                                      subject=subjects.cluster(name))
    return derive(compiled, observed, unreachable, last_apply, seconds=round(time.monotonic() - began, 3),
                  activity=activities if activity else None)


def last_apply_from(where: Path | Store) -> LastApply:
    """The newest apply (or destroy) record of each cluster's stack in an apply state directory or store."""
    from vfleet.apply.records import Records  # the apply stage owns the format; read through it

    records = Records(where)

    def newest(cluster: str) -> Mapping[str, Any] | None:
        for run in records.history(cluster):
            if run.operation != "preview":  # a preview changed nothing on the cluster
                data = run.to_json()
                return {k: data[k] for k in _RECORD_FIELDS if k in data}
        return None

    return newest


# What status shows of a record: when, by whom, from which commit, with what result.
_RECORD_FIELDS = (
    "operation",
    "result",
    "started",
    "ended",
    "commit",
    "dirty",
    "user",
    "desired_hash",
    "changes",
    "message",
)


__all__ = [
    "PHASES",
    "SLEEP_ANNOTATIONS",
    "ClusterStatus",
    "Deployed",
    "FleetStatus",
    "Live",
    "Observation",
    "Phase",
    "TenantStatus",
    "derive",
    "fleet_status",
    "observe",
    "phase",
]
