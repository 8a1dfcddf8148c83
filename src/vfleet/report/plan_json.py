"""The plan as JSON: a stable schema for machines (documented in docs/plan.md; `schema` is its version).

Field names and meanings only ever grow within a schema version; `timings` is informational and not part
of the contract. Lists are in a stable order: clusters by name; within a cluster deletions first.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from vfleet import waves
from vfleet.apply import shards
from vfleet.plan.changes import (
    Aspect,
    ClusterPlan,
    FieldChange,
    GuardHit,
    Op,
    Plan,
    PolicyStatus,
    ResourceChange,
    Side,
    TenantChange,
    TenantOp,
)
from vfleet.report import write_json

SCHEMA = 1


def to_json(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "vfleet.dev/v1alpha1",
        "kind": "Plan",
        "schema": SCHEMA,
        "status": plan.status,
        "exitCode": plan.exit_code,
        "base": _side(plan.base),
        "head": _side(plan.head),
        "method": plan.method,
        "fullCompileReason": plan.reason or None,
        "override": {"reason": plan.override} if plan.override is not None else None,
        "guardLimits": plan.guard_limits,
        "summary": summary(plan),
        "clusters": [_cluster(c) for c in plan.clusters],
        "fleetGuards": [_guard(g) for g in plan.fleet_guards],
        "vanished": [{"cluster": v.cluster, "tenant": v.tenant, "reason": v.reason.value, "detail": v.detail,
                      "source": v.source, "blocking": v.blocking} for v in plan.vanished],
        "policy": {
            "evaluated": plan.policy.evaluated,
            "note": plan.policy.note or None,
            "findings": [f.finding.to_json() | {"status": f.status.value, "cluster": f.cluster}
                         for f in plan.policy.findings],
            "errors": [f.to_json() for f in plan.policy.errors],
        },
        "findings": [f.to_json() for f in plan.findings],
        "approvals": [{"project": a.project, "owners": list(a.owners), "paths": list(a.paths)}
                      for a in plan.approvals],
        "matrix": matrix(plan),
        "timings": {k: round(v, 4) for k, v in sorted(plan.timings.items())},
    }


def render(plan: Plan, out: Console) -> None:
    write_json(to_json(plan), out)


def matrix(plan: Plan, shard_count: int | None = None) -> dict[str, Any]:
    """A GitHub Actions matrix: one job per connected cluster whose desired state changes (with its wave),
    and `waves`: the same clusters per rollout wave, ascending, for one job per wave (docs/plan.md).
    With `shard_count`, also `shards`: per changed wave at most that many runners of
    `vfleet apply --wave W --shard I/N` (docs/apply.md)."""
    grouped = waves.matrix(plan.affected_clusters, plan.waves)
    found: dict[str, Any] = {
        "include": [{"cluster": c, "wave": w.wave} for w in grouped for c in w.clusters],
        "waves": [{"wave": w.wave, "include": [{"cluster": c} for c in w.clusters]} for w in grouped],
    }
    if shard_count is not None:
        found["shards"] = shards.matrix(grouped, shard_count)
    return found


def summary(plan: Plan) -> dict[str, Any]:
    tenants = {op.value: 0 for op in TenantOp}
    seen: set[tuple[str, str]] = set()
    for c in plan.clusters:
        for t in c.tenants:
            if (t.tenant, t.op.value) not in seen:  # a move is listed on both of its clusters
                seen.add((t.tenant, t.op.value))
                tenants[t.op.value] += 1
    return {
        "clusters": len(plan.affected_clusters),
        "creates": plan.count(Op.CREATE),
        "updates": plan.count(Op.UPDATE),
        "deletes": plan.count(Op.DELETE),
        "tenants": tenants,
        "guards": sum(1 for g in plan.guards if g.blocking),
        "overriddenGuards": sum(1 for g in plan.guards if g.overridden),
        "policy": {s.value: sum(1 for f in plan.policy.findings if f.status is s) for s in PolicyStatus},
        "policyDenies": len(plan.policy.denies),
    }


def _side(side: Side) -> dict[str, Any]:
    return {"rev": side.rev, "commit": side.commit, "label": side.label, "key": side.key}


def _cluster(c: ClusterPlan) -> dict[str, Any]:
    return {
        "cluster": c.cluster,
        "status": c.status,
        "creates": c.count(Op.CREATE),
        "updates": c.count(Op.UPDATE),
        "deletes": c.count(Op.DELETE),
        "policyDenies": c.policy_denies,
        "guards": [_guard(g) for g in c.guards],
        "tenants": [_tenant(t) for t in c.tenants],
        "resources": [_resource(r) for r in c.resources],
    }


def _guard(g: GuardHit) -> dict[str, Any]:
    return {"code": g.code, "cluster": g.cluster, "message": g.message, "subject": g.subject,
            "overridable": g.overridable, "overridden": g.overridden}


def _tenant(t: TenantChange) -> dict[str, Any]:
    return {"tenant": t.tenant, "op": t.op.value, "from": t.source, "to": t.target, "summary": t.summary,
            "aspects": [_aspect(a) for a in t.aspects]}


def _aspect(a: Aspect) -> dict[str, Any]:
    return {"name": a.name, "before": a.before, "after": a.after, "text": a.text}


def _resource(r: ResourceChange) -> dict[str, Any]:
    return {
        "op": r.op.value,
        "id": r.id,
        "formerId": r.former_id,
        "apiVersion": r.api_version,
        "kind": r.kind,
        "namespace": r.namespace,
        "name": r.name,
        "tenant": r.tenant,
        "protect": r.protect,
        "fields": [_field(f) for f in r.fields],
        "valuesDiff": list(r.values_diff),
    }


def _field(f: FieldChange) -> dict[str, Any]:
    return {"path": f.path, "change": f.change, "before": f.before, "after": f.after}
