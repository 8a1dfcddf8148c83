"""The policy input: ONE JSON document describing the resolved fleet, evaluated in one OPA request.

Policies should decide, not parse: every quantity is a number here (cpu in cores, memory and storage
in bytes), every duration is also given in seconds, inherited settings are resolved (a tenant's sleep
is its own or its project's default), and what quotas and capacities are compared against is summed
once here (`usage` of projects, clusters and node types) instead of once per rule in Rego. The schema
is documented for policy authors in docs/policy-input.md; `vfleet policy input` prints it for a fleet.

Every subject carries `subject` (as in `vfleet.core.subjects`) and `source: {file, line}`; rules name the
subject, and `evaluate` turns it back into the file:line of its spec. This module is on the 10,000-
tenant path: tenants are built as plain dicts by hand (no pydantic dumps), rendered values are shared,
not copied, and shared sub-documents (a project's default sleep) are converted once.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import orjson

from vfleet.core import subjects
from vfleet.core.findings import Location
from vfleet.core.units import Quantity
from vfleet.core.yamldoc import FieldPath
from vfleet.desired import argocd
from vfleet.load import Document
from vfleet.model import Fleet, Item, ResolvedTenant
from vfleet.params import ResolvedParams, Resources
from vfleet.policy import access_input
from vfleet.specs import AccessRule, AutoDelete, Cluster, NodeProvider, Project, Sleep, Team, Template

API_VERSION = "vfleet.dev/policy-input/v1"
_ZERO = Decimal(0)
_DIMS = ("cpu", "memory", "storage")


class HasValues(Protocol):
    """What the input needs of a rendered tenant (render.RenderedTenant)."""

    @property
    def values(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class PolicyInput:
    """The input document and, per subject, the spec document it came from (for file:line)."""

    document: dict[str, Any]
    sources: dict[str, Document]
    fleet: Fleet = field(repr=False)

    def to_json(self, *, sort_keys: bool = False) -> bytes:
        return orjson.dumps(self.document, option=orjson.OPT_SORT_KEYS if sort_keys else 0)

    def request_body(self) -> bytes:
        """The Data API request for this input, `{"input": ...}`, serialised once with orjson."""
        return orjson.dumps({"input": self.document})

    def location(self, subject: str, path: FieldPath = ()) -> Location | None:
        """file:line of `path` in the subject's spec (the document's line when `path` is empty)."""
        doc = self.sources.get(subject)
        if doc is None:
            return None
        if not path:
            return Location(doc.file, doc.line)
        return self.fleet.location(doc, path)


def build(
    fleet: Fleet,
    params: ResolvedParams,
    placement: Mapping[str, str],
    rendered: Mapping[str, HasValues],
    *,
    revision: str | None = None,
) -> PolicyInput:
    """The input for the whole fleet. `placement`: tenant key -> cluster; `rendered`: tenant key -> values."""
    # ~10 containers per tenant would trigger the cyclic GC over and over, and each collection walks
    # the whole compiled fleet in memory; nothing built here can form a cycle, so it is paused.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build(fleet, params, placement, rendered, revision)
    finally:
        if paused:
            gc.enable()


def _build(
    fleet: Fleet,
    params: ResolvedParams,
    placement: Mapping[str, str],
    rendered: Mapping[str, HasValues],
    revision: str | None,
) -> PolicyInput:
    sources: dict[str, Document] = {}
    builder = _Builder()
    tenants: dict[str, Any] = {}
    for key, tenant in fleet.tenants.items():
        doc = builder.tenant(tenant, params.tenants.get(key), placement.get(key), rendered.get(key))
        doc["argocd"] = _argocd(argocd.registration(fleet, tenant))  # own, else the project's default
        tenants[key] = doc
        sources[doc["subject"]] = tenant.doc
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "revision": revision,
        "clusters": _section(fleet.clusters, _cluster, builder, sources),
        "projects": _section(fleet.projects, _project, builder, sources),
        "templates": _section(fleet.templates, _template, builder, sources),
        "nodeProviders": _section(fleet.providers, _provider, builder, sources),
        "teams": _section(fleet.teams, _team, builder, sources),
        "tenants": tenants,
    }
    for name, cluster in document["clusters"].items():
        cluster["platformRoles"] = access_input.platform_roles(fleet, name)
    for name, project in document["projects"].items():
        project["hostAccess"] = access_input.host_access(fleet, name)
    document["platform"], platform_doc = access_input.platform(fleet)
    if document["platform"] is not None and platform_doc is not None:
        sources[document["platform"]["subject"]] = platform_doc
    return PolicyInput(document, sources, fleet)


def _section(items: Mapping[str, Item[Any]], convert: Any, builder: _Builder,
             sources: dict[str, Document]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in items.items():
        doc = convert(name, item, builder)
        doc["source"] = _source(item.doc)
        out[name] = doc
        sources[doc["subject"]] = item.doc
    return out


# -------------------------------------------------------------------------------------------- numbers


def number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: an int when whole (bytes, whole cores), else a float."""
    integral = value.to_integral_value()
    return int(integral) if value == integral else float(value)


def _quantity(q: Quantity | None) -> int | float | None:
    return None if q is None else number(q.value)


def _bytes(q: Quantity | None) -> int | None:
    """Memory and storage in whole bytes, rounded up as Kubernetes rounds a fractional byte count."""
    return None if q is None else math.ceil(q.value)


def _seconds(value: float) -> int | float:
    """A duration in seconds: 7200, not 7200.0, when whole (durations are whole seconds but for "1.5s")."""
    return int(value) if float(value).is_integer() else value


def _source(doc: Document) -> dict[str, Any]:
    return {"file": doc.file, "line": doc.line}


# -------------------------------------------------------------------------------------------- tenants


@dataclass(frozen=True, slots=True)
class _Size:
    """A tenant's `Resources` converted once: JSON numbers for the input, exact values for the sums."""

    cpu: Decimal
    memory: int
    storage: int
    gpus: int
    document: dict[str, Any]  # the tenant's `resources`, shared by every tenant of the same size


_NO_SIZE = _Size(_ZERO, 0, 0, 0, {"cpu": 0, "memory": 0, "storage": 0, "gpus": 0})


def _size(resources: Resources | None) -> _Size:
    if resources is None:
        return _NO_SIZE
    cpu = resources.cpu.value if resources.cpu is not None else _ZERO
    memory = _bytes(resources.memory) or 0
    storage = _bytes(resources.storage) or 0
    return _Size(cpu, memory, storage, resources.gpus,
                 {"cpu": number(cpu), "memory": memory, "storage": storage, "gpus": resources.gpus})


@dataclass
class _Usage:
    tenants: int = 0
    awake: int = 0
    cpu: Decimal = _ZERO
    memory: int = 0
    storage: int = 0
    gpus: int = 0
    templates: dict[str, int] = field(default_factory=dict)
    node_claims: dict[str, int] = field(default_factory=dict)

    def add(self, size: _Size, awake: bool) -> None:
        self.tenants += 1
        self.awake += awake
        self.cpu += size.cpu
        self.memory += size.memory
        self.storage += size.storage
        self.gpus += size.gpus

    def totals(self) -> dict[str, Any]:
        return {"tenants": self.tenants, "awakeTenants": self.awake, "cpu": number(self.cpu),
                "memory": self.memory, "storage": self.storage, "gpus": self.gpus}


class _Builder:
    """Builds tenants first, summing usage per project, cluster and node type on the way.

    This is the per-tenant path of a 10,000-tenant fleet, so it does no work twice: sizes, sleep and
    auto-delete settings are converted once per distinct value (tenants of one template and size, or
    inheriting one project default, share the converted dict; the document is never mutated), and
    the tenant dict is a literal, not a model dump.
    """

    def __init__(self) -> None:
        self.projects: dict[str, _Usage] = {}
        self.clusters: dict[str, _Usage] = {}
        self.node_types: dict[tuple[str, str], int] = {}
        self._shared: dict[int, Any] = {}  # id(spec object) -> converted, for project defaults
        self._sizes: dict[Resources | None, _Size] = {None: _NO_SIZE}

    def tenant(self, t: ResolvedTenant, params: Any, cluster: str | None, rendered: HasValues | None) -> dict[str, Any]:
        spec = t.manifest.spec
        resources: Resources | None = params.resources if params is not None else None
        size = self._sizes.get(resources)
        if size is None:
            size = self._sizes[resources] = _size(resources)
        awake = not (t.sleep is not None and t.sleep.sleeping)
        project = self.projects.get(t.project)
        if project is None:
            project = self.projects[t.project] = _Usage()
        project.add(size, awake)
        project.templates[t.template] = project.templates.get(t.template, 0) + 1
        if cluster is not None:
            usage = self.clusters.get(cluster)
            if usage is None:
                usage = self.clusters[cluster] = _Usage()
            usage.add(size, awake)
        pools = [self._pool(pool, project) for pool in spec.privateNodes] if spec.privateNodes else []
        template = spec.template
        return {
            "key": t.key,
            "subject": subjects.tenant(t.key),
            "project": t.project,
            "name": t.name,
            "namespace": t.namespace,
            "labels": t.manifest.metadata.labels,
            "owner": spec.owner,
            "template": t.template,
            "version": t.version,
            "versionRequested": template.version if template is not None else None,
            "parameters": params.values if params is not None else None,
            "resources": size.document,
            "cluster": cluster,
            "awake": awake,
            "sleep": self._once(t.sleep, _sleep),
            "autoDelete": self._once(t.auto_delete, _auto_delete),
            "protect": spec.protect,
            "podSecurity": t.pod_security,
            "privateNodes": pools,
            "access": [_access(rule) for rule in spec.access] if spec.access else [],
            "values": rendered.values if rendered is not None else None,
            "source": {"file": t.doc.file, "line": t.doc.line},
        }

    def _pool(self, pool: Any, project: _Usage) -> dict[str, Any]:
        project.node_claims[pool.provider] = project.node_claims.get(pool.provider, 0) + pool.quantity
        type_key = (pool.provider, pool.nodeType)
        self.node_types[type_key] = self.node_types.get(type_key, 0) + pool.quantity
        return {
            "name": pool.name, "provider": pool.provider, "nodeType": pool.nodeType, "quantity": pool.quantity,
            "taints": [{"key": x.key, "value": x.value, "effect": x.effect} for x in pool.taints],
        }

    def _once(self, value: Any, convert: Any) -> Any:
        if value is None:
            return None
        converted = self._shared.get(id(value))
        if converted is None:
            converted = self._shared[id(value)] = convert(value)
        return converted


def _sleep(sleep: Sleep) -> dict[str, Any]:
    after = sleep.afterInactivity
    return {
        "sleeping": sleep.sleeping,
        "afterInactivity": after.text if after else None,
        "afterInactivitySeconds": _seconds(after.seconds) if after else None,
        "schedule": sleep.schedule,
        "wakeup": sleep.wakeup,
        "timezone": sleep.timezone,
    }


def _auto_delete(auto: AutoDelete) -> dict[str, Any]:
    after = auto.afterInactivity
    return {
        "afterInactivity": after.text if after else None,
        "afterInactivitySeconds": _seconds(after.seconds) if after else None,
        "expiry": auto.expiry,
    }


def _access(rule: AccessRule) -> dict[str, Any]:
    return {"users": rule.users, "teams": rule.teams, "groups": rule.groups, "clusterRole": rule.clusterRole}


# ------------------------------------------------------------------------------------- other subjects


def _cluster(name: str, item: Item[Cluster], b: _Builder) -> dict[str, Any]:
    spec = item.manifest.spec
    cap = spec.capacity
    return {
        "name": name,
        "subject": subjects.cluster(name),
        "labels": item.manifest.metadata.labels,
        "capacity": {"cpu": _quantity(cap.cpu), "memory": _bytes(cap.memory), "storage": _bytes(cap.storage),
                     "gpus": cap.gpus, "maxTenants": cap.maxTenants},
        "nodeProviders": spec.nodeProviders,
        "wave": spec.rollout.wave,
        "awaitTenants": spec.rollout.awaitTenants,
        "usage": b.clusters.get(name, _Usage()).totals(),
    }


def _project(name: str, item: Item[Project], b: _Builder) -> dict[str, Any]:
    spec = item.manifest.spec
    quotas = spec.quotas
    usage = b.projects.get(name, _Usage())
    default = spec.defaultTemplate
    selector = spec.clusters.selector
    return {
        "name": name,
        "subject": subjects.project(name),
        "labels": item.manifest.metadata.labels,
        # Only the keys that are set, so that `m.user` / `m.team` / `m.group` test presence in Rego.
        "members": [m.model_dump(exclude_none=True) for m in spec.members],
        "quotas": {
            "tenants": quotas.tenants,
            "awakeTenants": quotas.awakeTenants,
            "templates": dict(sorted(quotas.templates.items())),
            "cpu": _quantity(quotas.cpu),
            "memory": _bytes(quotas.memory),
            "storage": _bytes(quotas.storage),
            "gpus": quotas.gpus,
            "nodeClaims": dict(sorted(quotas.nodeClaims.items())),
        },
        "templates": [{"name": a.name, "versions": a.versions} for a in spec.templates],
        "defaultTemplate": {"name": default.name, "version": default.version} if default else None,
        "clusters": {"names": spec.clusters.names,
                     "selector": selector.model_dump(mode="json") if selector else None},
        "defaults": {
            "podSecurity": spec.defaults.podSecurity,
            "sleep": _sleep(spec.defaults.sleep) if spec.defaults.sleep else None,
            "autoDelete": _auto_delete(spec.defaults.autoDelete) if spec.defaults.autoDelete else None,
            "argocd": _argocd(spec.defaults.argocd),
        },
        "usage": usage.totals() | {
            "templates": dict(sorted(usage.templates.items())),
            "nodeClaims": dict(sorted(usage.node_claims.items())),
        },
    }


def _template(name: str, item: Item[Template], b: _Builder) -> dict[str, Any]:
    del b
    versions = {}
    for v in item.manifest.spec.versions:
        versions[v.version] = {
            "version": v.version,
            "chartVersion": v.chartVersion,
            "deprecated": v.deprecated,
            "parameters": [p.model_dump(mode="json") for p in v.parameters],
            "resources": v.resources.model_dump(mode="json"),
        }
    return {"name": name, "subject": subjects.template(name), "labels": item.manifest.metadata.labels,
            "versions": versions}


def _provider(name: str, item: Item[NodeProvider], b: _Builder) -> dict[str, Any]:
    spec = item.manifest.spec
    node_types = {}
    for index, t in enumerate(spec.nodeTypes):
        node_types[t.name] = {
            "name": t.name,
            "index": index,  # position in spec.nodeTypes, for field paths in findings
            "resources": {k: number(q.value) for k, q in sorted(t.resources.items())},
            "properties": t.properties,
            "maxCapacity": t.maxCapacity,
            "claimed": b.node_types.get((name, t.name), 0),
        }
    return {"name": name, "subject": subjects.node_provider(name), "type": spec.type, "nodeTypes": node_types}


def _team(name: str, item: Item[Team], b: _Builder) -> dict[str, Any]:
    del b
    spec = item.manifest.spec
    return {"name": name, "subject": subjects.team(name), "displayName": spec.displayName,
            "members": spec.members, "groups": spec.groups, "codeowners": spec.codeowners}


def _argocd(registration: Any) -> dict[str, Any] | None:
    """An Argo CD registration as policy sees it (vfleet.desired.argocd); None: not registered (or `never: true`)."""
    if registration is None or registration.never:
        return None
    return {"instance": registration.instance, "project": registration.project, "labels": dict(registration.labels)}
