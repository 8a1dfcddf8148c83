"""Reading one cluster for the lifecycle: a fixed number of list calls, turned into `Facts` per tenant.

Per cluster, whatever the number of tenants: vfleet's namespaces, all StatefulSets, all Deployments (full
objects: replicas and annotations), and — metadata only — Pods, Services, ConfigMaps, Secrets and
PersistentVolumeClaims. Lists are paged (5,000 per page), so the count grows with the objects only by
pages, never by a request per tenant.

Activity is what `vfleet.live.activity` defines (status shows the same reading).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vfleet.core import naming
from vfleet.lifecycle import act
from vfleet.lifecycle.decide import Facts, Workload, parse_time
from vfleet.live.activity import ACTIVITY_KINDS, WORKLOADS, list_pages, note_activity
from vfleet.live.connect import ApiError, Connection, Unreachable, describe
from vfleet.live.observe import NAMESPACE_SELECTOR


@dataclass(frozen=True)
class ClusterFacts:
    """What one cluster told about its tenants. `facts` is None when a needed list could not be read."""

    cluster: str
    facts: dict[str, Facts] | None  # by tenant namespace (every namespace asked for)
    activity: dict[str, tuple[datetime, str]]  # by namespace: newest activity and where it came from
    problems: tuple[str, ...]
    requests: int
    seconds: float


def read(conn: Connection, tenants: Mapping[str, str]) -> ClusterFacts:
    """`tenants` maps each tenant namespace on this cluster to the tenant's name (its release name)."""
    began, before = time.monotonic(), conn.requests
    problems: list[str] = []

    def listed(path: str, resource: str, group: str, selector: str | None = None, metadata: bool = False
               ) -> list[Mapping[str, Any]] | None:
        try:
            return list_pages(conn, path, selector, metadata)
        except (ApiError, Unreachable) as exc:
            problems.append(describe(conn, exc, "list", resource, group=group))
            return None

    namespaces = listed("/api/v1/namespaces", "namespaces", "", NAMESPACE_SELECTOR)
    workloads = {kind: listed(path, resource, "apps") for path, resource, kind in WORKLOADS}
    activity: dict[str, tuple[datetime, str]] = {}
    wanted = frozenset(tenants)
    for ns in namespaces or ():
        note_activity(activity, wanted, "Namespace", ns, ns["metadata"].get("name"))
    for path, resource, kind in ACTIVITY_KINDS:
        for item in listed(path, resource, "", metadata=True) or ():
            note_activity(activity, wanted, kind, item)
    for kind, items in workloads.items():
        for item in items or ():
            note_activity(activity, wanted, kind, item)
    facts: dict[str, Facts] | None = None
    if namespaces is not None and all(items is not None for items in workloads.values()):
        by_ns: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for kind, items in workloads.items():
            for item in items or ():
                ns_name = str(item["metadata"].get("namespace") or "")
                if ns_name in wanted:
                    by_ns.setdefault(ns_name, []).append((kind, item))
        present = {str(n["metadata"]["name"]): n for n in namespaces}
        facts = {ns: _facts(ns, tenants[ns], present.get(ns), by_ns.get(ns, []), activity.get(ns))
                 for ns in sorted(tenants)}
    return ClusterFacts(conn.cluster, facts, activity, tuple(problems), conn.requests - before,
                        round(time.monotonic() - began, 3))


def _facts(namespace: str, tenant: str, ns: Mapping[str, Any] | None, items: Iterable[tuple[str, Mapping[str, Any]]],
           activity: tuple[datetime, str] | None) -> Facts:
    release = naming.release_name(tenant)
    control_plane: Workload | None = None
    annotations: Mapping[str, Any] = {}
    others: list[Workload] = []
    for kind, item in sorted(items, key=lambda ki: (ki[0], str(ki[1]["metadata"]["name"]))):
        workload = _workload(kind, item)
        if kind == "StatefulSet" and workload.name == release:
            control_plane = workload
            annotations = item["metadata"].get("annotations") or {}
        else:
            others.append(workload)
    deleting = ns is not None and bool(ns["metadata"].get("deletionTimestamp"))
    return Facts(
        namespace=namespace,
        namespace_exists=ns is not None,
        deleting=deleting,
        control_plane=control_plane,
        workloads=tuple(others),
        slept_at=parse_time(annotations.get(act.SLEPT_AT)),
        slept_reason=annotations.get(act.SLEPT_REASON),
        woken_at=parse_time(annotations.get(act.WOKEN_AT)),
        last_activity=activity[0] if activity else None,
        activity_source=activity[1] if activity else "",
    )


def _workload(kind: str, item: Mapping[str, Any]) -> Workload:
    meta = item["metadata"]
    recorded = (meta.get("annotations") or {}).get(act.REPLICAS)
    try:
        count = int(recorded) if recorded is not None else None
    except ValueError:
        count = None
    spec = item.get("spec") or {}
    version = str(meta.get("resourceVersion") or "")
    return Workload(kind, str(meta["name"]), int(spec.get("replicas", 1)), count, version)




__all__ = ["ClusterFacts", "read"]
