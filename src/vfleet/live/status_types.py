"""What `vfleet status` reports: per tenant, per cluster, for the fleet; and its JSON (`to_json`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vfleet.core.findings import Findings
from vfleet.live.phases import PHASES, Phase


@dataclass(frozen=True, slots=True)
class Deployed:
    """What Helm's release record on the cluster says (the newest revision)."""

    revision: int
    status: str
    chart_version: str
    values_hash: str
    updated: str | None


@dataclass(frozen=True, slots=True)
class TenantStatus:
    key: str
    project: str
    name: str
    cluster: str
    namespace: str
    in_fleet: bool  # False: found on the cluster (vfleet's labels) but no spec places it there
    template: str | None
    template_version: str | None
    owner: str | None
    protect: bool
    sleep: str  # the settings in short ("after 2h idle, cron 0 20 * * 1-5"), "" when none
    auto_delete: str
    desired_chart: str | None
    desired_hash: str | None
    deployed: Deployed | None
    phase: Phase
    reason: str  # why the phase is what it is, when that is not obvious
    replicas: int | None
    ready: int | None
    last_apply: Mapping[str, Any] | None
    values_match: bool | None = None  # deployed values equal to desired (None: nothing to compare)
    spec_sleeping: bool = False  # the spec's view: `sleep.sleeping: true` (the phase is the cluster's view)
    last_activity: str | None = None  # RFC 3339, as vfleet.live.activity defines it; None: not read
    activity_source: str = ""  # the object and manager of that activity, or why it could not be read

    @property
    def in_sync(self) -> bool | None:
        """Deployed chart version and values equal to desired; None when there is nothing to compare."""
        if self.deployed is None or self.values_match is None:
            return None
        return self.deployed.chart_version == self.desired_chart and self.values_match


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    name: str
    reachable: bool
    version: str | None
    tenants: int  # placed here by the fleet
    deployed: int  # of those, with a release or a StatefulSet on the cluster
    max_tenants: int | None
    problems: tuple[str, ...]  # unreachable, forbidden reads: each names what is missing
    requests: int  # API requests made to this cluster by this status run
    seconds: float
    last_apply: Mapping[str, Any] | None


@dataclass(frozen=True)
class FleetStatus:
    revision: str | None
    generated: str  # UTC, RFC 3339
    clusters: tuple[ClusterStatus, ...]
    tenants: tuple[TenantStatus, ...]
    findings: Findings
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        counts = {phase.value: 0 for phase in PHASES}
        for tenant in self.tenants:
            counts[tenant.phase.value] += 1
        return counts

    @property
    def requests(self) -> int:
        return sum(cluster.requests for cluster in self.clusters)

    @property
    def exit_code(self) -> int:
        return self.findings.exit_code

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "generated": self.generated,
            "seconds": self.seconds,
            "requests": self.requests,
            "counts": self.counts(),
            "clusters": [_cluster_json(c) for c in self.clusters],
            "tenants": [_tenant_json(t) for t in self.tenants],
            "findings": [f.to_json() for f in self.findings],
            "exitCode": self.exit_code,
        }


# ----------------------------------------------------------------------------------------------- JSON


def _cluster_json(c: ClusterStatus) -> dict[str, Any]:
    return {
        "name": c.name,
        "reachable": c.reachable,
        "kubernetesVersion": c.version,
        "tenants": c.tenants,
        "deployed": c.deployed,
        "maxTenants": c.max_tenants,
        "problems": list(c.problems),
        "requests": c.requests,
        "seconds": c.seconds,
        "lastApply": c.last_apply,
    }


def _tenant_json(t: TenantStatus) -> dict[str, Any]:
    deployed = t.deployed
    return {
        "key": t.key,
        "project": t.project,
        "name": t.name,
        "cluster": t.cluster,
        "namespace": t.namespace,
        "inFleet": t.in_fleet,
        "template": t.template,
        "templateVersion": t.template_version,
        "owner": t.owner,
        "protect": t.protect,
        "sleep": t.sleep,
        "autoDelete": t.auto_delete,
        "phase": t.phase.value,
        "reason": t.reason,
        "replicas": t.replicas,
        "readyReplicas": t.ready,
        "desired": {"chartVersion": t.desired_chart, "valuesHash": t.desired_hash},
        "deployed": None
        if deployed is None
        else {
            "revision": deployed.revision,
            "status": deployed.status,
            "chartVersion": deployed.chart_version,
            "valuesHash": deployed.values_hash,
            "updated": deployed.updated,
        },
        "inSync": t.in_sync,
        "lastApply": t.last_apply,
        "specSleeping": t.spec_sleeping,
        "lastActivity": t.last_activity,
        "activitySource": t.activity_source or None,
    }
