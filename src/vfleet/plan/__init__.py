"""The PR plan: base and head compiled from Git, diffed per connected cluster, guarded, judged by policy.

    plan(root, base, head=None, Options(...)) -> Plan      (vfleet.plan.planner)

`Plan` and its parts are plain values (`changes`); `vfleet.report` renders them (table, JSON, Markdown).
`guards.check_cluster` is the deletion guard `vfleet apply` uses too.
"""

from vfleet.plan.changes import (
    Aspect,
    ClusterPlan,
    FieldChange,
    GuardHit,
    Op,
    Plan,
    PolicyFinding,
    PolicyResult,
    PolicyStatus,
    ResourceChange,
    Side,
    TenantChange,
    TenantOp,
)
from vfleet.plan.planner import Options, plan

__all__ = [
    "Aspect",
    "ClusterPlan",
    "FieldChange",
    "GuardHit",
    "Op",
    "Options",
    "Plan",
    "PolicyFinding",
    "PolicyResult",
    "PolicyStatus",
    "ResourceChange",
    "Side",
    "TenantChange",
    "TenantOp",
    "plan",
]
