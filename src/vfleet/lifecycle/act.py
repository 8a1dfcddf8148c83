"""Sleeping and waking a tenant on its cluster: the patches (pure), then sending them in a safe order.

Sleeping scales the tenant namespace's workloads (StatefulSets and Deployments other than the control
plane) to 0, each recording its previous replica count in the annotation `vfleet.dev/sleep-replicas`
(as vCluster's sleep mode records them), then the vcluster StatefulSet, in one patch that also records
who, why and when (`vfleet.dev/slept-by`, `-reason`, `-at`) and sets `vfleet.dev/sleeping: "true"`, which
`status` reads. Waking patches the control plane first (its recorded count back, the marks removed,
`vfleet.dev/woken-at` / `-reason` written), then restores each workload to exactly its recorded count.

Every patch is one JSON merge patch of one object, so each step is atomic; a patch carries the object's
resourceVersion, so a concurrent change makes it fail (409) rather than be overwritten. Because the marks
are on the objects, an interrupted run is finished by the next: a workload already recorded keeps its
recorded count (it is not recorded again as 0), and workloads left scaled down while the control plane is
awake are restored (`Action.FINISH`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vfleet.core.naming import SLEEPING_ANNOTATION
from vfleet.lifecycle.decide import Action, Facts, Workload, rfc3339
from vfleet.live.activity import LIFECYCLE_MANAGER
from vfleet.live.connect import MERGE_PATCH, ApiError, Connection, Unreachable, describe

FIELD_MANAGER = LIFECYCLE_MANAGER
REPLICAS = "vfleet.dev/sleep-replicas"
SLEPT_BY = "vfleet.dev/slept-by"
SLEPT_REASON = "vfleet.dev/slept-reason"
SLEPT_AT = "vfleet.dev/slept-at"
WOKEN_AT = "vfleet.dev/woken-at"
WOKEN_REASON = "vfleet.dev/woken-reason"
_PATHS = {"StatefulSet": "statefulsets", "Deployment": "deployments"}


@dataclass(frozen=True, slots=True)
class Patch:
    """One merge patch of one workload."""

    kind: str
    namespace: str
    name: str
    body: dict[str, Any]
    what: str  # for reports: "StatefulSet/web 2 -> 0"

    @property
    def path(self) -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/{_PATHS[self.kind]}/{self.name}"


def patches(action: Action, facts: Facts, now: datetime, reason: str, actor: str) -> list[Patch]:
    """The patches that carry out `action` on the tenant described by `facts`, in the order to send them."""
    if action is Action.SLEEP:
        return _sleep(facts, now, reason, actor)
    if action is Action.WAKE:
        return _wake(facts, now, reason)
    if action is Action.FINISH:
        return [_restore(w, facts.namespace) for w in facts.leftovers]
    return []


def _sleep(facts: Facts, now: datetime, reason: str, actor: str) -> list[Patch]:
    cp = facts.control_plane
    assert cp is not None
    out: list[Patch] = []
    for w in facts.workloads:
        if w.recorded is None and w.replicas > 0:
            out.append(_patch(w, facts.namespace, 0, {REPLICAS: str(w.replicas)}, f"{w.replicas} -> 0"))
        elif w.recorded is not None and w.replicas > 0:  # recorded by an interrupted run, scaled up since
            out.append(_patch(w, facts.namespace, 0, {}, f"{w.replicas} -> 0 (recorded {w.recorded})"))
    marks: dict[str, str | None] = {
        REPLICAS: str(cp.replicas), SLEEPING_ANNOTATION: "true", SLEPT_BY: actor, SLEPT_REASON: reason,
        SLEPT_AT: rfc3339(now), WOKEN_AT: None, WOKEN_REASON: None,
    }
    out.append(_patch(cp, facts.namespace, 0, marks, f"{cp.replicas} -> 0"))
    return out


def _wake(facts: Facts, now: datetime, reason: str) -> list[Patch]:
    cp = facts.control_plane
    assert cp is not None
    # Scaled up by someone else meanwhile: keep their count, only finish the wake.
    target = cp.replicas if cp.replicas > 0 else (cp.recorded if cp.recorded is not None else 1)
    marks: dict[str, str | None] = {
        REPLICAS: None, SLEEPING_ANNOTATION: None, SLEPT_BY: None, SLEPT_REASON: None, SLEPT_AT: None,
        WOKEN_AT: rfc3339(now), WOKEN_REASON: reason,
    }
    out = [_patch(cp, facts.namespace, target, marks, f"{cp.replicas} -> {target}")]
    out += [_restore(w, facts.namespace) for w in facts.leftovers]
    return out


def _restore(w: Workload, namespace: str) -> Patch:
    assert w.recorded is not None
    return _patch(w, namespace, w.recorded, {REPLICAS: None}, f"{w.replicas} -> {w.recorded}")


def _patch(w: Workload, namespace: str, replicas: int, annotations: dict[str, str | None], what: str) -> Patch:
    metadata: dict[str, Any] = {"annotations": annotations} if annotations else {}
    if w.resource_version:
        metadata["resourceVersion"] = w.resource_version  # a precondition: fail rather than overwrite
    body: dict[str, Any] = {"spec": {"replicas": replicas}}
    if metadata:
        body["metadata"] = metadata
    return Patch(w.kind, namespace, w.name, body, f"{w.kind}/{w.name} {what}")


@dataclass(frozen=True, slots=True)
class Outcome:
    done: tuple[str, ...]  # what each sent patch did
    error: str | None  # the first failure; the patches after it were not sent
    conflict: bool = False  # that failure was the resourceVersion precondition (409): the object changed


def send(conn: Connection, planned: Sequence[Patch]) -> Outcome:
    """Send `planned` in order; stop at the first failure (the next run starts from what is there)."""
    done: list[str] = []
    for p in planned:
        try:
            conn.request("PATCH", p.path, query={"fieldManager": FIELD_MANAGER}, body=p.body,
                         content_type=MERGE_PATCH)
        except (ApiError, Unreachable) as exc:
            why = describe(conn, exc, "patch", _PATHS[p.kind], p.namespace, "apps")
            conflict = isinstance(exc, ApiError) and exc.status == 409
            return Outcome(tuple(done), f"{p.what}: {why}", conflict)
        done.append(p.what)
    return Outcome(tuple(done), None)


__all__ = ["FIELD_MANAGER", "REPLICAS", "SLEPT_AT", "WOKEN_AT", "Outcome", "Patch", "patches", "send"]
