"""What a plan is made of: plain, immutable values (the reports render them, the CLI maps them to an exit code).

A plan is data, never text: per connected cluster the resource changes `(op, id, field changes)`, what each
touched tenant's change reads as (created, deleted, moved, chart upgrade, sleep, quota ...), and the deletion
guards it trips. The JSON report writes these fields one to one (docs/plan.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vfleet.core.fielddiff import FieldChange as FieldChange  # one field of a resource body: the plan's and drift's
from vfleet.core.findings import Finding, Findings, Severity
from vfleet.owners import Approval
from vfleet.plan.vanished import Vanished


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class TenantOp(StrEnum):
    CREATE = "create"
    DELETE = "delete"
    MOVE = "move"  # deleted on one connected cluster, created on another
    UPDATE = "update"


class PolicyStatus(StrEnum):
    NEW = "new"  # in head, not in base
    EXISTING = "existing"  # in both
    RESOLVED = "resolved"  # in base, gone in head


# How often each op is listed: deletions first, loudly (DESIGN.md).
OP_ORDER = {Op.DELETE: 0, Op.CREATE: 1, Op.UPDATE: 2}


@dataclass(frozen=True, slots=True)
class ResourceChange:
    op: Op
    id: str  # the head id (the base id for a delete)
    cluster: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    tenant: str | None
    protect: bool
    former_id: str | None = None  # the base id when it differs (same object under a new apiVersion)
    fields: tuple[FieldChange, ...] = ()
    values_diff: tuple[str, ...] = ()  # HelmRelease: unified diff of the rendered vcluster.yaml


@dataclass(frozen=True, slots=True)
class Aspect:
    """One way a tenant's change reads: `chart` 0.35.3 -> 0.36.0, `sleep`, `quota`, `parameters` ..."""

    name: str
    before: Any
    after: Any
    text: str  # one line for people


@dataclass(frozen=True, slots=True)
class TenantChange:
    tenant: str
    op: TenantOp
    cluster: str  # the cluster whose section lists this entry
    source: str | None  # cluster before (None: created)
    target: str | None  # cluster after (None: deleted)
    aspects: tuple[Aspect, ...] = ()

    @property
    def summary(self) -> str:
        head = f"move {self.source} -> {self.target}" if self.op is TenantOp.MOVE else self.op.value
        rest = "; ".join(a.text for a in self.aspects)
        return f"{head}: {rest}" if rest else head


@dataclass(frozen=True, slots=True)
class GuardHit:
    """A deletion guard tripped by the plan; `overridden` when an override reason lets it pass."""

    code: str
    cluster: str
    message: str
    subject: str
    overridable: bool
    overridden: bool = False

    @property
    def blocking(self) -> bool:
        return not self.overridden

    def finding(self) -> Finding:
        severity = Severity.WARN if self.overridden else Severity.DENY
        suffix = " (overridden)" if self.overridden else ""
        return Finding(severity, self.code, self.message + suffix, None, self.subject)


@dataclass(frozen=True)
class ClusterPlan:
    cluster: str
    status: str  # "changed" | "added" | "removed" (the connected cluster itself) | "unchanged" (only denies)
    resources: tuple[ResourceChange, ...]
    tenants: tuple[TenantChange, ...]
    guards: tuple[GuardHit, ...] = ()
    policy_denies: int = 0  # head policy denies about this cluster or its tenants

    def count(self, op: Op) -> int:
        return sum(1 for r in self.resources if r.op is op)

    @property
    def blocked(self) -> bool:
        return any(g.blocking for g in self.guards) or self.policy_denies > 0


@dataclass(frozen=True, slots=True)
class PolicyFinding:
    finding: Finding
    status: PolicyStatus
    cluster: str | None = None  # the head cluster it concerns, when it concerns one

    def kind(self) -> str:
        """What reports fold by: status, severity and code, as `new deny policy.owner-member`."""
        return f"{self.status.value} {self.finding.kind()}"


@dataclass(frozen=True)
class PolicyResult:
    evaluated: bool
    findings: tuple[PolicyFinding, ...] = ()
    errors: Findings = field(default_factory=Findings)  # the gate could not give a verdict: exit 2
    note: str = ""  # why it was not evaluated, or what the base comparison lacks

    @property
    def denies(self) -> tuple[PolicyFinding, ...]:
        return tuple(
            f for f in self.findings if f.finding.severity is Severity.DENY and f.status is not PolicyStatus.RESOLVED
        )


@dataclass(frozen=True, slots=True)
class Side:
    """One compiled side of the plan: what was asked for and what it resolved to."""

    rev: str | None  # as given (None: the work tree)
    commit: str | None  # the commit sha, None for the work tree
    label: str
    key: str  # content key of the files the compile reads (cache key)


@dataclass(frozen=True)
class Plan:
    base: Side
    head: Side
    clusters: tuple[ClusterPlan, ...]  # only clusters with changes or guard hits, by name
    findings: Findings  # the head compile's findings (errors make the plan exit 2), and notes on the base
    policy: PolicyResult
    override: str | None  # the reason given to let overridable guards pass
    method: str  # "incremental" | "full": how the desired states were obtained
    fleet_guards: tuple[GuardHit, ...] = ()  # guards about the fleet rather than one cluster (moves)
    timings: dict[str, float] = field(default_factory=dict)
    guard_limits: dict[str, Any] = field(default_factory=dict)  # the limits the guards applied
    reason: str = ""  # why the full compile was needed (empty for an incremental plan)
    waves: dict[str, int] = field(default_factory=dict)  # every cluster's rollout wave (head, else base)
    approvals: tuple[Approval, ...] = ()  # per touched project, whose approval the change needs (base's owners)
    vanished: tuple[Vanished, ...] = ()  # tenants of the stacks' last applied states the head lacks, and why

    @property
    def guards(self) -> tuple[GuardHit, ...]:
        return tuple(g for c in self.clusters for g in c.guards) + self.fleet_guards

    @property
    def changed(self) -> bool:
        return any(c.resources for c in self.clusters)

    @property
    def exit_code(self) -> int:
        """2 broken input (head does not compile, policy gave no verdict), 1 denied, 3 changes, 0 nothing."""
        if self.findings.errors or self.policy.errors.errors:
            return 2
        if any(g.blocking for g in self.guards) or self.policy.denies:
            return 1
        return 3 if self.changed else 0

    @property
    def status(self) -> str:
        return {0: "no-changes", 1: "denied", 2: "broken", 3: "changes"}[self.exit_code]

    def count(self, op: Op) -> int:
        return sum(c.count(op) for c in self.clusters)

    @property
    def affected_clusters(self) -> tuple[str, ...]:
        """Clusters whose desired state changes: the stacks to apply."""
        return tuple(c.cluster for c in self.clusters if c.resources)
