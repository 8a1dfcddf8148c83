"""The last activity in a tenant namespace, from what a host cluster records without a Platform.

Activity (docs/lifecycle.md) is the newest of, over the tenant namespace itself and every object in it
of seven kinds (StatefulSets, Deployments, Pods, Services, ConfigMaps, Secrets, PersistentVolumeClaims),

- its creationTimestamp, unless the object has a controller owner (a Pod of a ReplicaSet, a
  StatefulSet's Pod: created by a controller in reaction to a change that is itself counted on the owner);
- the `time` of each of its managedFields entries, except entries on a subresource (`status`, `scale`:
  controllers and kubelets report there all the time) and entries of the managers that only react:
  vfleet lifecycle itself (`vfleet-lifecycle`: sleeping and waking is not use), kube-controller-manager,
  kube-scheduler and kubelet.

Leases, Endpoints, EndpointSlices and Events are not read: controllers renew or write them continuously
(a crash-looping Pod produces Events forever), which would make every tenant look active.

The lifecycle (`vfleet.lifecycle.observe`) and `vfleet status` read it the same way, from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vfleet.live.connect import ApiError, Connection, Unreachable, describe

# The field manager of `vfleet lifecycle` (vfleet.lifecycle.act): its sleeping and waking is not use.
LIFECYCLE_MANAGER = "vfleet-lifecycle"
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
_PAGE = 5000
REACTIVE_MANAGERS = frozenset({LIFECYCLE_MANAGER, "kube-controller-manager", "kube-scheduler", "kubelet"})
# (path, resource name for messages, kind); workloads are read as full objects by the lifecycle
WORKLOADS = (("/apis/apps/v1/statefulsets", "statefulsets", "StatefulSet"),
             ("/apis/apps/v1/deployments", "deployments", "Deployment"))
ACTIVITY_KINDS = (("/api/v1/pods", "pods", "Pod"), ("/api/v1/services", "services", "Service"),
                  ("/api/v1/configmaps", "configmaps", "ConfigMap"), ("/api/v1/secrets", "secrets", "Secret"),
                  ("/api/v1/persistentvolumeclaims", "persistentvolumeclaims", "PersistentVolumeClaim"))


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


def note_activity(activity: dict[str, tuple[datetime, str]], wanted: frozenset[str], kind: str,
          item: Mapping[str, Any], namespace: Any = None) -> None:
    ns = str(namespace if namespace is not None else (item.get("metadata") or {}).get("namespace") or "")
    if ns not in wanted:
        return
    found = activity_of(kind, item)
    if found is not None and (ns not in activity or found[0] > activity[ns][0]):
        activity[ns] = found


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as Kubernetes writes it ('2026-01-02T03:04:05Z'); None when absent or garbled."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
        note_activity(activity, wanted, "Namespace", ns, ns["metadata"].get("name"))
    kinds = (*ACTIVITY_KINDS, *((path, resource, kind) for path, resource, kind in WORKLOADS))
    for path, resource, kind in kinds:
        try:
            items = list_pages(conn, path, metadata=True)
        except (ApiError, Unreachable) as exc:
            problems.append(describe(conn, exc, "list", resource, group="apps" if "/apis/" in path else ""))
            continue
        for item in items:
            note_activity(activity, wanted, kind, item)
    return Activity(activity, tuple(problems), conn.requests - before)


