"""A tenant's phase from its live objects: the namespace, Helm's newest release record, the StatefulSet.

Pure: `observe` reads the objects, `status` puts the phases together with the fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vfleet.core.naming import SLEEPING_ANNOTATION
from vfleet.live.releases import ReleaseRecord


class Phase(StrEnum):
    NOT_DEPLOYED = "not deployed"
    STARTING = "starting"
    RUNNING = "running"
    SLEEPING = "sleeping"
    FAILED = "failed"
    DELETING = "deleting"
    UNKNOWN = "unknown"  # the cluster could not be read


PHASES = tuple(Phase)
# A StatefulSet scaled to 0 under one of these annotations (value "true") sleeps: vfleet's own (manual
# sleep, see overlays.tenant_overlay) and the one `vcluster pause` and the Platform's sleep mode set.
SLEEP_ANNOTATIONS = (SLEEPING_ANNOTATION, "loft.sh/paused")
_PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


@dataclass(frozen=True, slots=True)
class Live:
    """The live objects of one tenant, and whether each kind could be read at all."""

    namespace: Mapping[str, Any] | None
    record: ReleaseRecord | str | None
    statefulset: Mapping[str, Any] | None
    unreadable: str | None = None  # why the phase cannot be known (unreachable, forbidden)


def phase(found: Live) -> tuple[Phase, str, int | None, int | None]:
    """(phase, reason, replicas, ready replicas) of one tenant from its live objects."""
    if found.unreadable is not None:
        return Phase.UNKNOWN, found.unreadable, None, None
    ns, record, sts = found.namespace, found.record, found.statefulset
    replicas = ready = None
    if sts is not None:
        replicas = int((sts.get("spec") or {}).get("replicas", 1))
        ready = int((sts.get("status") or {}).get("readyReplicas") or 0)
    if ns is not None and (ns["metadata"].get("deletionTimestamp") or _ns_phase(ns) == "Terminating"):
        return Phase.DELETING, "its namespace is terminating", replicas, ready
    if isinstance(record, str):
        return Phase.FAILED, record, replicas, ready
    status = record.status if record is not None else None
    if status == "uninstalling" or (sts is not None and sts["metadata"].get("deletionTimestamp")):
        why = "helm is uninstalling it" if status == "uninstalling" else "its StatefulSet is being deleted"
        return Phase.DELETING, why, replicas, ready
    if sts is None and (record is None or status == "uninstalled"):
        return Phase.NOT_DEPLOYED, "", None, None
    if status == "failed":
        why = record.description if record is not None and record.description else "failed"
        return Phase.FAILED, f"helm: {why}", replicas, ready
    if status in _PENDING:
        return Phase.STARTING, f"helm: {status}", replicas, ready
    if sts is None:
        return Phase.FAILED, f"helm release {status} but its StatefulSet is missing", None, None
    note = "" if record is not None else "no Helm release record (not installed by Helm?)"
    if replicas == 0:
        annotations = sts["metadata"].get("annotations") or {}
        if any(annotations.get(a) == "true" for a in SLEEP_ANNOTATIONS):
            return Phase.SLEEPING, note, replicas, ready
        return Phase.FAILED, join_reasons("scaled to 0 replicas without a sleep annotation", note), replicas, ready
    assert replicas is not None and ready is not None
    if ready >= replicas:
        return Phase.RUNNING, note, replicas, ready
    return Phase.STARTING, join_reasons(f"{ready}/{replicas} replicas ready", note), replicas, ready


def _ns_phase(ns: Mapping[str, Any]) -> str:
    return str((ns.get("status") or {}).get("phase") or "")


def join_reasons(*parts: str) -> str:
    """Reasons joined for one line; empty ones left out."""
    return "; ".join(p for p in parts if p)
