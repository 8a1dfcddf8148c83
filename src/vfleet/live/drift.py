"""`vfleet drift`: live objects against desired, field by field, the way the API server sees them.

For each desired object that is not provably in sync (`unchanged`: vfleet's field set and the desired
values are already there, decided locally) the cluster is asked what the object would be after vfleet applied it (a
server-side apply, `dryRun=All`, forced, field manager vfleet) and that answer is compared with the
live object. Both went through the same defaulting, admission and normalisation (`1024Mi` is `1Gi`, a
Service gets its clusterIP, a container its terminationMessagePath), so server defaults never show as
drift; what differs is exactly what an apply would change. Fields other managers own and vfleet does
not declare are not vfleet's and are not reported.

- changed: an object whose apply would change fields (each field: path, live value, desired value);
- missing: a desired object (or Helm release) that is not on the cluster;
- orphan: an object labelled `app.kubernetes.io/managed-by=vfleet` that no spec declares.

Helm releases are compared through their release record (the newest revision's Secret): status,
chart version, and the values, field by field. Requests per cluster: discovery, one list per managed
kind, one list of release records, and one dry-run per desired object that is not provably in sync.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vfleet.compile import Compiled
from vfleet.core import subjects
from vfleet.core.fielddiff import FieldChange as FieldChange  # re-exported: drift reports carry them
from vfleet.core.fielddiff import field_changes
from vfleet.core.findings import Finding, Findings, Location, error
from vfleet.core.naming import MANAGED_BY, resource_id
from vfleet.desired import (
    CRD_API_VERSION,
    HELM_RELEASE,
    MANAGED_BY_LABEL,
    NETWORKING_API,
    NODE_CLAIM,
    RBAC_API,
    argocd,
)
from vfleet.live import kube, releases
from vfleet.live.connect import ApiError, Connection, connect, describe
from vfleet.live.unchanged import unchanged
from vfleet.specs import API_VERSION

MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
# Every kind vfleet ever puts on a cluster: orphans are looked for in all of them, also in kinds the
# current desired state no longer has (the last tenant with private nodes removed leaves NodeClaims).
MANAGED_KINDS: tuple[tuple[str, str], ...] = (
    (CRD_API_VERSION, "CustomResourceDefinition"),
    ("v1", "Namespace"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    (NETWORKING_API, "NetworkPolicy"),
    (RBAC_API, "ClusterRole"),
    (RBAC_API, "ClusterRoleBinding"),
    (RBAC_API, "Role"),
    (RBAC_API, "RoleBinding"),
    (API_VERSION, NODE_CLAIM),
)
_VOLATILE_METADATA = (
    "resourceVersion",
    "generation",
    "managedFields",
    "uid",
    "creationTimestamp",
    "selfLink",
)
SECRET_KIND = kube.ApiResource("v1", "Secret", "secrets", True)


class Change(StrEnum):
    CHANGED = "changed"
    MISSING = "missing"
    ORPHAN = "orphan"


@dataclass(frozen=True, slots=True)
class Drift:
    """One object that differs from its desired state."""

    cluster: str
    change: Change
    api_version: str
    kind: str
    namespace: str | None
    name: str
    tenant: str | None  # tenant key, when the object belongs to one
    location: Location | None  # the tenant's (or the cluster's) spec
    fields: tuple[FieldChange, ...] = ()

    @property
    def id(self) -> str:
        return resource_id(self.cluster, self.api_version, self.kind, self.namespace, self.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "change": self.change.value,
            "id": self.id,
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "tenant": self.tenant,
            "file": self.location.file if self.location else None,
            "line": self.location.line if self.location else None,
            "fields": [{"path": f.path, "live": f.before, "desired": f.after} for f in self.fields],
        }


@dataclass(frozen=True)
class DriftReport:
    drifts: tuple[Drift, ...]  # sorted by cluster, change, id
    findings: Findings  # clusters that could not be read: no verdict for them
    clusters: tuple[str, ...]
    requests: int = 0  # API requests made, `GET /version` of connect included
    dry_runs: int = 0  # objects the servers were asked about (the others were in sync, decided locally)

    @property
    def exit_code(self) -> int:
        """2 when a cluster could not be read, else 3 when anything drifted, else 0."""
        if self.findings.errors:
            return 2
        return 3 if self.drifts else 0

    def count(self, change: Change) -> int:
        return sum(1 for d in self.drifts if d.change is change)


def drift(
    compiled: Compiled, *, clusters: Sequence[str] | None = None, env: Mapping[str, str] = os.environ
) -> DriftReport:
    """Drift of `clusters` (default: every cluster of the fleet), clusters in parallel."""
    names = sorted(clusters) if clusters is not None else sorted(compiled.fleet.clusters)
    with connect(compiled.fleet, names, env=env) as conns:
        results = conns.each(lambda conn: _cluster_drift(conn, compiled))
        requests = sum(conn.requests for conn in conns.clients.values()) + len(conns.clients)
    found = list(conns.findings)
    drifts: list[Drift] = []
    dry_runs = 0
    for name, result in results.items():
        if isinstance(result, BaseException):
            item = compiled.fleet.clusters[name]
            where = compiled.fleet.location(item.doc, ("spec", "kubeconfig"))
            found.append(
                error(
                    "live.error",
                    f"cluster {name}: drift not computed: {result}",
                    where,
                    subjects.cluster(name),
                )
            )
        elif isinstance(result, Finding):
            found.append(result)
        else:
            drifts += result[0]
            dry_runs += result[1]
    drifts.sort(key=lambda d: (d.cluster, list(Change).index(d.change), d.id))
    return DriftReport(tuple(drifts), Findings.of(found), tuple(names), requests, dry_runs)


def _cluster_drift(conn: Connection, compiled: Compiled) -> tuple[list[Drift], int] | Finding:
    reader = _Reader(conn, compiled)
    try:
        return reader.run(), reader.dry_runs
    except ApiError as exc:
        item = compiled.fleet.clusters[conn.cluster]
        where = compiled.fleet.location(item.doc, ("spec", "kubeconfig"))
        verb, resource = reader.doing
        return error(
            "live.forbidden" if exc.status == 403 else "live.error",
            describe(conn, exc, verb, resource),
            where,
            subjects.cluster(conn.cluster),
        )


class _Reader:
    def __init__(self, conn: Connection, compiled: Compiled) -> None:
        self.conn = conn
        self.compiled = compiled
        self.state = compiled.desired.get(conn.cluster)
        self.discovery = kube.Discovery(conn)
        self.doing = ("list", "namespaces")  # for a message naming the permission a 403 lacks
        self.dry_runs = 0

    def location(self, tenant: str | None) -> Location | None:
        fleet = self.compiled.fleet
        if tenant is not None and tenant in fleet.tenants:
            return fleet.location(fleet.tenants[tenant].doc)
        item = fleet.clusters.get(self.conn.cluster)
        return fleet.location(item.doc) if item else None

    def run(self) -> list[Drift]:
        resources = self.state.resources if self.state else ()
        objects = [r for r in resources if r.kind != HELM_RELEASE]
        kinds = sorted({(r.api_version, r.kind) for r in objects} | set(MANAGED_KINDS))
        live: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        served: dict[tuple[str, str], kube.ApiResource] = {}
        for api_version, kind in kinds:
            self.doing = ("get", f"the API group of {kind}")
            found = self.discovery.find(api_version, kind)
            if found is None:
                continue
            served[(api_version, kind)] = found
            self.doing = ("list", found.plural)
            for obj in kube.list_all(self.conn, found, MANAGED_SELECTOR):
                meta = obj.get("metadata") or {}
                if meta.get("deletionTimestamp"):
                    continue  # already going away: neither drift nor orphan
                live[kube.object_key(api_version, kind, meta.get("namespace"), str(meta.get("name")))] = obj
        out: list[Drift] = []
        declared: set[tuple[str, str, str, str]] = set()
        for r in objects:
            key = kube.object_key(r.api_version, r.kind, r.namespace, r.name)
            declared.add(key)
            resource = served.get((r.api_version, r.kind))
            current = live.get(key)
            if current is None and resource is not None:
                self.doing = ("get", resource.plural)  # it may be there without vfleet's label
                current = kube.get(self.conn, resource, r.namespace, r.name)
            if current is None or resource is None:
                out.append(self.drift(Change.MISSING, r.api_version, r.kind, r.namespace, r.name, r.tenant))
                continue
            if unchanged(r.body, current):  # decided locally: vfleet's fields, the desired values
                continue
            self.doing = ("patch", resource.plural)
            self.dry_runs += 1
            after = kube.apply(self.conn, resource, _as_applied(r.body, current), dry_run=True, force=True)
            changes = diff(_comparable(current), _comparable(after))
            if changes:
                out.append(
                    self.drift(Change.CHANGED, r.api_version, r.kind, r.namespace, r.name, r.tenant, tuple(changes))
                )
        for key, obj in sorted(live.items()):
            if key not in declared:
                api_version, kind, namespace, name = key
                labels = (obj.get("metadata") or {}).get("labels") or {}
                tenant = _tenant_of(labels)
                out.append(self.drift(Change.ORPHAN, api_version, kind, namespace or None, name, tenant))
        out += self.releases([r for r in resources if r.kind == HELM_RELEASE])
        return out

    def releases(self, wanted: Sequence[Any]) -> list[Drift]:
        if not wanted:
            return []
        self.doing = ("list", "secrets")
        namespaces = {r.namespace for r in wanted}
        secrets = kube.list_all(self.conn, SECRET_KIND, releases.LIST_SELECTOR)
        records = releases.newest(secrets, namespaces)
        out: list[Drift] = []
        for r in wanted:
            spec = r.body["spec"]
            secret = records.get((spec["namespace"], spec["releaseName"]))
            if secret is None:
                out.append(self.drift(Change.MISSING, r.api_version, r.kind, r.namespace, r.name, r.tenant))
                continue
            fields = _release_fields(secret, spec)
            if fields:
                out.append(self.drift(Change.CHANGED, r.api_version, r.kind, r.namespace, r.name, r.tenant, fields))
        return out

    def drift(
        self,
        change: Change,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        tenant: str | None,
        fields: tuple[FieldChange, ...] = (),
    ) -> Drift:
        return Drift(
            self.conn.cluster,
            change,
            api_version,
            kind,
            namespace,
            name,
            tenant,
            self.location(tenant),
            fields,
        )


# The annotation the apply adapter adds to every body so that pulumi-kubernetes applies it as field manager
# `vfleet` (apply/adapter.py, FIELD_MANAGER_ANNOTATION; not imported: that module loads the Pulumi SDK).
# pulumi-kubernetes keeps it on the objects it does not type itself (NodeClaims, Argo CD registrations).
PATCH_FIELD_MANAGER = "pulumi.com/patchFieldManager"


def _as_applied(body: Mapping[str, Any], live: Mapping[str, Any]) -> Mapping[str, Any]:
    """A desired body as the program applies it, so that only what an apply would change shows as drift:
    with the field-manager annotation where the live object carries it, and, for an Argo CD registration,
    with the live credentials (`data.config`), which the desired state never holds (vfleet.desired.argocd);
    comparing without them would show the live credentials as drift, in the output."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if PATCH_FIELD_MANAGER in annotations:
        meta = dict(body.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), PATCH_FIELD_MANAGER: annotations[PATCH_FIELD_MANAGER]}
        body = {**body, "metadata": meta}
    if argocd.credentials_from(body) is None or "config" not in (live.get("data") or {}):
        return body
    return {**body, "data": {**body.get("data", {}), "config": live["data"]["config"]}}


def _tenant_of(labels: Mapping[str, Any]) -> str | None:
    project, tenant = labels.get("vfleet.dev/project"), labels.get("vfleet.dev/tenant")
    return f"{project}/{tenant}" if project and tenant else None


def _release_fields(secret: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Status, chart version and values of a release's newest record against its desired spec."""
    try:
        record = releases.record(secret)
        values = releases.decode(str((secret.get("data") or {}).get("release"))).get("config") or {}
    except releases.BadRecord as exc:
        return (FieldChange("record", "changed", f"unreadable: {exc}", "a Helm release record"),)
    fields: list[FieldChange] = []
    if record.status != "deployed":
        fields.append(FieldChange("status", "changed", record.status, "deployed"))
    if "version" in spec and "path" not in spec and record.chart_version != str(spec["version"]):
        fields.append(FieldChange("chart.version", "changed", record.chart_version, spec["version"]))
    if record.values_hash != spec.get("valuesHash"):
        # Helm keeps numbers as Go float64 (2.0 comes back as 2): compare numbers as floats.
        live, desired = releases.numbers_as_floats(values), releases.numbers_as_floats(spec.get("values") or {})
        fields += [_hide_secret(f) for f in diff(live, desired, ("values",))]
    return tuple(fields)


_SECRET_KEY = re.compile(r"(password|passwd|token|secret|credential|private|key)[^.]*$", re.IGNORECASE)


def _hide_secret(change: FieldChange) -> FieldChange:
    """A values field whose name suggests a credential is shown without its values."""
    if _SECRET_KEY.search(change.path):
        hidden = "[hidden]"
        return FieldChange(change.path, change.change, hidden if change.before is not None else None,
                           hidden if change.after is not None else None)
    return change


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without what changes on every write or is not vfleet's to compare (status)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_METADATA}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def diff(live: Any, desired: Any, path: tuple[str | int, ...] = ()) -> list[FieldChange]:
    """Field-level differences, in key order; lists of equal length element by element, an absent field
    equal to null (vfleet.core.fielddiff)."""
    return field_changes(live, desired, path, lists_by_element=True, absent_is_null=True)
