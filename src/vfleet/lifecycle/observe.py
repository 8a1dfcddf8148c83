"""Reading one cluster for the lifecycle: a fixed number of list calls, turned into `Facts` per tenant.

Per cluster, whatever the number of tenants: vfleet's namespaces, all StatefulSets, all Deployments (full
objects: replicas and annotations), and — metadata only — Pods, Services, ConfigMaps, Secrets and
PersistentVolumeClaims. Lists are paged (5,000 per page), so the count grows with the objects only by
pages, never by a request per tenant.

Activity, from what a host cluster records without a Platform (docs/lifecycle.md): the newest of, over
the tenant namespace itself and every object of those seven kinds in it,

- its creationTimestamp, unless the object has a controller owner (a Pod of a ReplicaSet, a
  StatefulSet's Pod: created by a controller in reaction to a change that is itself counted on the owner);
- the `time` of each of its managedFields entries, except entries on a subresource (`status`, `scale`:
  controllers and kubelets report there all the time) and entries of the managers that only react:
  vfleet lifecycle itself (`vfleet-lifecycle`: sleeping and waking is not use), kube-controller-manager,
  kube-scheduler and kubelet.

Leases, Endpoints, EndpointSlices and Events are not read: controllers renew or write them continuously
(a crash-looping Pod produces Events forever), which would make every tenant look active.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vfleet import naming
from vfleet.lifecycle import act
from vfleet.lifecycle.decide import Facts, Workload, parse_time
from vfleet.live.connect import ApiError, Connection, Unreachable, describe
from vfleet.live.observe import NAMESPACE_SELECTOR

_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
_PAGE = 5000
REACTIVE_MANAGERS = frozenset({act.FIELD_MANAGER, "kube-controller-manager", "kube-scheduler", "kubelet"})
# (path, resource name for messages, API group, full objects?)
_WORKLOADS = (("/apis/apps/v1/statefulsets", "statefulsets", "StatefulSet"),
              ("/apis/apps/v1/deployments", "deployments", "Deployment"))
ACTIVITY_KINDS = (("/api/v1/pods", "pods", "Pod"), ("/api/v1/services", "services", "Service"),
                  ("/api/v1/configmaps", "configmaps", "ConfigMap"), ("/api/v1/secrets", "secrets", "Secret"),
                  ("/api/v1/persistentvolumeclaims", "persistentvolumeclaims", "PersistentVolumeClaim"))


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
    workloads = {kind: listed(path, resource, "apps") for path, resource, kind in _WORKLOADS}
    activity: dict[str, tuple[datetime, str]] = {}
    wanted = frozenset(tenants)
    for ns in namespaces or ():
        _note(activity, wanted, "Namespace", ns, ns["metadata"].get("name"))
    for path, resource, kind in ACTIVITY_KINDS:
        for item in listed(path, resource, "", metadata=True) or ():
            _note(activity, wanted, kind, item)
    for kind, items in workloads.items():
        for item in items or ():
            _note(activity, wanted, kind, item)
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


def list_pages(conn: Connection, path: str, selector: str | None = None, metadata: bool = False
               ) -> list[Mapping[str, Any]]:
    """Every item of a list call, page by page."""
    query: dict[str, str] = {"limit": str(_PAGE)}
    if selector:
        query["labelSelector"] = selector
    accept = _METADATA_ONLY if metadata else "application/json"
    out: list[Mapping[str, Any]] = []
    while True:
        page = conn.request("GET", path, query=query, accept=accept)
        out += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return out
        query["continue"] = token


def activity_of(kind: str, item: Mapping[str, Any]) -> tuple[datetime, str] | None:
    """The newest activity one object records (module docstring), and what it was."""
    meta = item.get("metadata") or {}
    name = f"{kind} {meta.get('name')}"
    best: tuple[datetime, str] | None = None
    owned = any(ref.get("controller") for ref in meta.get("ownerReferences") or ())
    created = parse_time(meta.get("creationTimestamp"))
    if created is not None and not owned:
        best = (created, f"{name} created")
    for entry in meta.get("managedFields") or ():
        if entry.get("subresource") or entry.get("manager") in REACTIVE_MANAGERS:
            continue
        moment = parse_time(entry.get("time"))
        if moment is not None and (best is None or moment > best[0]):
            best = (moment, f"{name} changed by {entry.get('manager') or 'an unnamed manager'}")
    return best


def _note(activity: dict[str, tuple[datetime, str]], wanted: frozenset[str], kind: str,
          item: Mapping[str, Any], namespace: Any = None) -> None:
    ns = str(namespace if namespace is not None else (item.get("metadata") or {}).get("namespace") or "")
    if ns not in wanted:
        return
    found = activity_of(kind, item)
    if found is not None and (ns not in activity or found[0] > activity[ns][0]):
        activity[ns] = found


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




@dataclass(frozen=True)
class Activity:
    """The last activity per tenant namespace of one cluster, for `status` (metadata-only lists)."""

    by_namespace: dict[str, tuple[datetime, str]]
    problems: tuple[str, ...]
    requests: int


def read_activity(conn: Connection, wanted: frozenset[str], namespaces: Iterable[Mapping[str, Any]] = ()
                  ) -> Activity:
    """The activity of the `wanted` namespaces (the `namespaces` objects already read count too): seven
    metadata-only list calls, whatever the number of tenants."""
    before = conn.requests
    activity: dict[str, tuple[datetime, str]] = {}
    problems: list[str] = []
    for ns in namespaces:
        _note(activity, wanted, "Namespace", ns, ns["metadata"].get("name"))
    kinds = (*ACTIVITY_KINDS, *((path, resource, kind) for path, resource, kind in _WORKLOADS))
    for path, resource, kind in kinds:
        try:
            items = list_pages(conn, path, metadata=True)
        except (ApiError, Unreachable) as exc:
            problems.append(describe(conn, exc, "list", resource, group="apps" if "/apis/" in path else ""))
            continue
        for item in items:
            _note(activity, wanted, kind, item)
    return Activity(activity, tuple(problems), conn.requests - before)


__all__ = ["ACTIVITY_KINDS", "REACTIVE_MANAGERS", "Activity", "ClusterFacts", "activity_of", "list_pages", "read",
           "read_activity"]
