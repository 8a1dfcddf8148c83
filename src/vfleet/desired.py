"""Stage 6 — desired: everything decided so far -> one ordered list of resources per connected cluster.

This is what a cluster's Pulumi stack applies and what plans diff, so three properties matter more
than anything else here:

- stable ids: `naming.resource_id(cluster, apiVersion, kind, namespace, name)`; nothing in an id
  depends on list positions or on how specs are spread over files;
- a dependency order: the NodeClaim CRD first, the platform roles, then per tenant (by key) its
  Namespace, the host-side guardrails (and a project's read-only host view), the vcluster release, its
  NodeClaims; `depends_on` says the same for engines
  that parallelise;
- determinism: the same Git tree gives byte-identical JSON (orjson, sorted keys), hashed per cluster,
  so unchanged stacks can be skipped without asking the engine.

Bodies are plain JSON values and are shared with the render stage (a tenant's vcluster values are not
copied): treat them as read-only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from typing import Any, Protocol

import orjson

from vfleet import access, argocd, naming
from vfleet.gcpause import gc_paused
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams, Resources
from vfleet.place import Placement
from vfleet.specs import API_VERSION, ArgoCDSettings
from vfleet.units import Quantity, parse_quantity

CHART = "vcluster"
DEFAULT_CHART_REPOSITORY = "https://charts.loft.sh"
HELM_RELEASE = "HelmRelease"  # a pseudo-kind: the apply adapter turns it into a Helm release
NODE_CLAIM = "NodeClaim"
CRD_NAME = "nodeclaims.vfleet.dev"
CRD_API_VERSION = "apiextensions.k8s.io/v1"
RBAC_API = access.RBAC_API
NETWORKING_API = "networking.k8s.io/v1"
RBAC_GROUP = access.RBAC_GROUP
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

# LimitRange defaults per container, lowered to the tenant's quota when that is smaller: a container
# that sets nothing must still fit, and a default above the quota would make every such pod fail.
DEFAULT_CPU_REQUEST = parse_quantity("100m")
DEFAULT_CPU_LIMIT = parse_quantity("1")
DEFAULT_MEMORY_REQUEST = parse_quantity("128Mi")
DEFAULT_MEMORY_LIMIT = parse_quantity("1Gi")
# Pod count quota: 20 pods per requested core, within [20, 1000]; 200 when the size sets no cpu.
PODS_PER_CORE, MIN_PODS, MAX_PODS, DEFAULT_PODS = 20, 20, 1000, 200
# The vcluster API port, reachable from outside the namespace (ingress, load balancer); the API is
# authenticated, everything else in the namespace is not reachable from other namespaces.
VCLUSTER_API_PORT = 8443


class RenderedValues(Protocol):
    """What desired needs of a rendered tenant (`render.RenderedTenant` has these fields)."""

    @property
    def key(self) -> str: ...

    @property
    def values(self) -> dict[str, Any]: ...

    @property
    def hash(self) -> str: ...


class RenderedFleet(Protocol):
    @property
    def tenants(self) -> Mapping[str, RenderedValues]: ...


@dataclass(frozen=True, slots=True)
class Resource:
    """One object to apply on a cluster (or, for kind HelmRelease, a Helm release to install).

    In JSON a resource is an object with exactly these field names (orjson writes the dataclass
    natively, in field order; `body` with sorted keys).
    """

    id: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    body: dict[str, Any]
    tenant: str | None  # tenant key, None for cluster-wide objects such as the CRD
    depends_on: tuple[str, ...]
    protect: bool

    @staticmethod
    def from_data(data: Mapping[str, Any]) -> Resource:
        return Resource(**{**data, "depends_on": tuple(data["depends_on"])})


@dataclass(frozen=True)
class DesiredState:
    """Everything vfleet wants on one connected cluster, in apply order."""

    cluster: str
    resources: tuple[Resource, ...]

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, no whitespace): the same tree gives the same bytes."""
        return self._canonical

    def to_data(self) -> dict[str, Any]:
        """The JSON as plain Python values."""
        return orjson.loads(self._canonical)  # type: ignore[no-any-return]

    @cached_property
    def _canonical(self) -> bytes:
        # Resources go to orjson as dataclasses: no intermediate dict per resource (100,000 at 10k tenants).
        state = {"apiVersion": API_VERSION, "kind": "DesiredState", "cluster": self.cluster,
                 "resources": self.resources}
        return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)

    @cached_property
    def hash(self) -> str:
        """sha256 of the canonical JSON: equal hashes mean nothing to apply."""
        return hashlib.sha256(self._canonical).hexdigest()

    @cached_property
    def by_id(self) -> dict[str, Resource]:
        return {r.id: r for r in self.resources}

    @staticmethod
    def from_json(data: bytes) -> DesiredState:
        parsed = orjson.loads(data)
        return DesiredState(parsed["cluster"], tuple(Resource.from_data(r) for r in parsed["resources"]))


def _resource_maker() -> Callable[[str, str, str, str | None, str, dict[str, Any], str | None,
                                    tuple[str, ...], bool], Resource]:
    """`Resource(...)` without the frozen dataclass `__init__`, whose nine `object.__setattr__` calls are a
    fifth of the build at 100,000 resources; the slot descriptors set the same fields at C speed."""
    s = [getattr(Resource, f.name).__set__ for f in fields(Resource)]
    assert len(s) == 9
    new = object.__new__

    def make(rid: str, api_version: str, kind: str, namespace: str | None, name: str, body: dict[str, Any],
             tenant: str | None, depends_on: tuple[str, ...], protect: bool) -> Resource:
        r = new(Resource)
        s[0](r, rid), s[1](r, api_version), s[2](r, kind), s[3](r, namespace), s[4](r, name)
        s[5](r, body), s[6](r, tenant), s[7](r, depends_on), s[8](r, protect)
        return r

    return make


_make = _resource_maker()


def build(
    fleet: Fleet,
    params: ResolvedParams,
    placement: Placement,
    rendered: RenderedFleet | Mapping[str, RenderedValues],
    argocd_settings: ArgoCDSettings | None = None,
) -> dict[str, DesiredState]:
    """A DesiredState for every cluster of the fleet (empty for a cluster without tenants).

    `argocd_settings` (vfleet.yaml `argocd:`): the Argo CD instances; the cluster each runs on also gets
    the cluster Secrets of the tenants registered in it, after every tenant (vfleet.argocd).

    Tenants missing from any earlier stage's output (unplaced, bad parameters, failed render) are left
    out; those stages have reported why, and a compile with errors is never applied.
    """
    values = rendered if isinstance(rendered, Mapping) else rendered.tenants
    on: dict[str, list[ResolvedTenant]] = {name: [] for name in fleet.clusters}
    for key, cluster in sorted(placement.clusters.items()):
        tenant = fleet.tenants.get(key)
        if tenant is not None and cluster in on and key in params.tenants and key in values:
            on[cluster].append(tenant)
    bindings = _Bindings(fleet)
    states: dict[str, DesiredState] = {}
    with gc_paused():
        for cluster, tenants in on.items():
            chart = _chart_source(fleet, cluster)
            out = platform_rbac(fleet, cluster)  # cluster-wide, before any tenant
            claims = protect_crd = False
            for tenant in tenants:
                objects = _Tenant(fleet, cluster, tenant)
                size = params.tenants[tenant.key].resources
                out += objects.build(size, values[tenant.key], chart, bindings)
                if tenant.spec.spec.privateNodes:  # every pool claims at least one node
                    claims = True
                    protect_crd = protect_crd or tenant.spec.spec.protect
            releases = {t.key: naming.resource_id(cluster, API_VERSION, HELM_RELEASE, t.namespace,
                                                  naming.release_name(t.name)) for t in tenants}
            for tenant, body, depends in argocd.registrations(fleet, cluster, argocd_settings, params,
                                                               placement.clusters, releases):
                meta = body["metadata"]
                rid = naming.resource_id(cluster, "v1", "Secret", meta["namespace"], meta["name"])
                out.append(_make(rid, "v1", "Secret", meta["namespace"], meta["name"], body, tenant.key, depends,
                                 False))
            if claims:  # the CRD goes only where NodeClaims do, protected if a protected tenant claims nodes
                out.insert(0, _crd(cluster, protect_crd))
            states[cluster] = DesiredState(cluster, tuple(out))
    return states


def _chart_source(fleet: Fleet, cluster: str) -> dict[str, str]:
    chart = fleet.clusters[cluster].spec.spec.chart
    if chart is not None and chart.path is not None:
        return {"chart": CHART, "path": chart.path}  # a local chart directory (air-gapped fleets, tests)
    return {"chart": CHART, "repository": (chart.repository if chart else None) or DEFAULT_CHART_REPOSITORY}


def _crd(cluster: str, protect: bool) -> Resource:
    return Resource(_crd_id(cluster), CRD_API_VERSION, "CustomResourceDefinition", None, CRD_NAME,
                    node_claim_crd(), None, (), protect)


def _crd_id(cluster: str) -> str:
    return naming.resource_id(cluster, CRD_API_VERSION, "CustomResourceDefinition", None, CRD_NAME)


class _Tenant:
    """The objects of one tenant on one cluster, built in apply order.

    The tenant's labels and annotations dicts are shared by its objects (and constant parts such as
    the isolation policy by all tenants): bodies are read-only, and sharing halves the build time.
    """

    __slots__ = (
        "annotations",
        "cluster",
        "fleet",
        "key",
        "labels",
        "namespace",
        "ns_id",
        "protect",
        "tenant",
    )

    def __init__(self, fleet: Fleet, cluster: str, tenant: ResolvedTenant) -> None:
        self.fleet = fleet
        self.cluster = cluster
        self.tenant = tenant
        self.key = tenant.key
        self.namespace = tenant.namespace
        self.protect = tenant.spec.spec.protect
        self.labels = {
            MANAGED_BY_LABEL: naming.MANAGED_BY,
            "vfleet.dev/project": tenant.project,
            "vfleet.dev/tenant": tenant.name,
        }
        self.annotations = {"vfleet.dev/source": f"{tenant.doc.file}:{tenant.doc.line}"}
        self.ns_id = naming.resource_id(cluster, "v1", "Namespace", None, tenant.namespace)

    def obj(
        self,
        api_version: str,
        kind: str,
        name: str,
        fields: dict[str, Any],
        depends: tuple[str, ...],
        labels: dict[str, str] | None = None,
    ) -> Resource:
        ns = self.namespace
        meta = {
            "name": name,
            "namespace": ns,
            "labels": labels or self.labels,
            "annotations": self.annotations,
        }
        body = {"apiVersion": api_version, "kind": kind, "metadata": meta, **fields}
        rid = naming.resource_id(self.cluster, api_version, kind, ns, name)
        return _make(rid, api_version, kind, ns, name, body, self.key, depends, self.protect)

    def build(
        self, size: Resources, rendered: RenderedValues, chart: dict[str, str], bindings: _Bindings
    ) -> list[Resource]:
        t = self.tenant
        ns = (self.ns_id,)
        level = t.pod_security
        namespace = _make(
            self.ns_id,
            "v1",
            "Namespace",
            None,
            t.namespace,
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": t.namespace,
                    "annotations": self.annotations,
                    "labels": {
                        **self.labels,
                        "vfleet.dev/template": t.template,
                        "pod-security.kubernetes.io/enforce": level,
                        "pod-security.kubernetes.io/audit": level,
                        "pod-security.kubernetes.io/warn": level,
                    },
                },
            },
            self.key,
            (),
            self.protect,
        )
        release = naming.release_name(t.name)
        out = [
            namespace,
            self.obj("v1", "ResourceQuota", "vfleet-quota", {"spec": {"hard": quota(size)}}, ns),
            self.obj("v1", "LimitRange", "vfleet-limits", {"spec": {"limits": [limit_range(size)]}}, ns),
            self.obj(NETWORKING_API, "NetworkPolicy", "vfleet-isolate", {"spec": _ISOLATE}, ns),
            self.obj(
                NETWORKING_API, "NetworkPolicy", "vfleet-control-plane", {"spec": _control_plane(release)}, ns
            ),
        ]
        # Project members get nothing here unless their project asks for the read-only view (access.py).
        viewers = bindings.host_view(t.project)
        if viewers:
            name = access.HOST_VIEW
            role_obj = self.obj(RBAC_API, "Role", name, {"rules": access.HOST_VIEW_RULES}, ns)
            out.append(role_obj)
            binding = {"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name}, "subjects": viewers}
            out.append(self.obj(RBAC_API, "RoleBinding", name, binding, (self.ns_id, role_obj.id)))
        spec = {
            **chart,
            "version": t.template_version.chartVersion,
            "namespace": t.namespace,
            "releaseName": release,
            "values": rendered.values,
            "valuesHash": rendered.hash,
        }
        out.append(self.obj(API_VERSION, HELM_RELEASE, release, {"spec": spec}, tuple(r.id for r in out)))
        if t.spec.spec.privateNodes:
            out += self.node_claims()
        return out

    def node_claims(self) -> list[Resource]:
        t = self.tenant
        out: list[Resource] = []
        depends = (_crd_id(self.cluster), self.ns_id)
        for pool in t.spec.spec.privateNodes:
            node_type = self.fleet.node_type(pool.provider, pool.nodeType)
            capacity = {k: q.text for k, q in sorted(node_type.resources.items())} if node_type else {}
            taints = [
                {"key": x.key, "effect": x.effect} | ({"value": x.value} if x.value is not None else {})
                for x in pool.taints
            ]
            labels = {**self.labels, "vfleet.dev/pool": pool.name}
            for i in range(pool.quantity):
                spec = {
                    "providerRef": pool.provider,
                    "typeRef": pool.nodeType,
                    "vClusterRef": {"name": naming.release_name(t.name), "project": t.project},
                    "taints": taints,
                    "desiredCapacity": capacity,
                    "owner": {"user": t.spec.spec.owner},
                }
                name = f"{pool.name}-{i}"
                out.append(self.obj(API_VERSION, NODE_CLAIM, name, {"spec": spec}, depends, labels))
        return out


# ---------------------------------------------------------------------------------- host guardrails


@lru_cache(maxsize=1024)  # sizes repeat (they come from templates); the result is shared, read-only
def quota(size: Resources) -> dict[str, str]:
    """ResourceQuota.spec.hard for a tenant of this size; an unset dimension is not limited."""
    hard: dict[str, str] = {}
    if size.cpu is not None:
        hard["requests.cpu"] = size.cpu.text
    if size.memory is not None:
        hard["requests.memory"] = size.memory.text
    if size.storage is not None:
        hard["requests.storage"] = size.storage.text
    hard["requests.nvidia.com/gpu"] = str(size.gpus)  # 0 unless granted: no GPU by accident
    hard["pods"] = str(pod_limit(size.cpu))
    return hard


def pod_limit(cpu: Quantity | None) -> int:
    if cpu is None:
        return DEFAULT_PODS
    wanted = math.ceil(cpu.value * PODS_PER_CORE)
    return max(MIN_PODS, min(MAX_PODS, wanted))


def _lowest(default: Quantity, cap: Quantity | None) -> Quantity:
    return cap if cap is not None and cap.value < default.value else default


@lru_cache(maxsize=1024)
def limit_range(size: Resources) -> dict[str, Any]:
    """Container defaults that never exceed the quota (and a default request never above its limit)."""
    cpu_limit = _lowest(DEFAULT_CPU_LIMIT, size.cpu)
    memory_limit = _lowest(DEFAULT_MEMORY_LIMIT, size.memory)
    return {
        "type": "Container",
        "default": {"cpu": cpu_limit.text, "memory": memory_limit.text},
        "defaultRequest": {
            "cpu": _lowest(DEFAULT_CPU_REQUEST, cpu_limit).text,
            "memory": _lowest(DEFAULT_MEMORY_REQUEST, memory_limit).text,
        },
    }


# Default deny: traffic only within the namespace, plus DNS to the cluster's resolver (shared, read-only).
_ISOLATE: dict[str, Any] = {
    "podSelector": {},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"podSelector": {}}]}],
    "egress": [
        {"to": [{"podSelector": {}}]},
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
    ],
}


def _control_plane(release: str) -> dict[str, Any]:
    """The vcluster control plane must reach the host API server (its address is cluster-specific, so
    egress is open for it alone) and be reachable on its API port; no other pod gets either."""
    return {
        "podSelector": {"matchLabels": {"app": "vcluster", "release": release}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": VCLUSTER_API_PORT}]}],
        "egress": [{}],
    }


# ---------------------------------------------------------------------------------------------- RBAC


class _Bindings:
    """Per project, the subjects of its read-only host view (computed once per project)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._cache: dict[str, list[dict[str, str]]] = {}

    def host_view(self, project: str) -> list[dict[str, str]]:
        cached = self._cache.get(project)
        if cached is None:
            cached = self._cache[project] = access.rbac_subjects(access.host_view_subjects(self.fleet, project))
        return cached


def platform_rbac(fleet: Fleet, cluster: str) -> list[Resource]:
    """A ClusterRole and a ClusterRoleBinding per platform role someone holds on `cluster`."""
    out: list[Resource] = []
    labels = {MANAGED_BY_LABEL: naming.MANAGED_BY}
    for role, subjects in access.platform_subjects(fleet, cluster).items():
        name = access.platform_role_name(role)
        role_body = {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": {"name": name, "labels": labels},
                     "rules": access.PLATFORM_RULES[role]}
        role_id = naming.resource_id(cluster, RBAC_API, "ClusterRole", None, name)
        out.append(_make(role_id, RBAC_API, "ClusterRole", None, name, role_body, None, (), False))
        binding = {
            "apiVersion": RBAC_API,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": access.rbac_subjects(subjects),
        }
        binding_id = naming.resource_id(cluster, RBAC_API, "ClusterRoleBinding", None, name)
        out.append(_make(binding_id, RBAC_API, "ClusterRoleBinding", None, name, binding, None, (role_id,), False))
    return out


# ------------------------------------------------------------------------------------ NodeClaim CRD

_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def node_claim_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of vfleet's NodeClaim (shaped like vCluster Platform's), structural."""
    string = {"type": "string"}
    spec_schema = {
        "type": "object",
        "required": ["providerRef", "typeRef", "vClusterRef"],
        "properties": {
            "providerRef": {"type": "string", "description": "the NodeProvider that supplies the node"},
            "typeRef": {"type": "string", "description": "the node type of that provider"},
            "vClusterRef": {
                "type": "object",
                "required": ["name", "project"],
                "properties": {"name": string, "project": string},
            },
            "taints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "effect"],
                    "properties": {
                        "key": string,
                        "value": string,
                        "effect": {"type": "string", "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
                    },
                },
            },
            "desiredCapacity": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "pattern": _QUANTITY_PATTERN,
                    "x-kubernetes-int-or-string": True,
                },
            },
            "owner": {"type": "object", "properties": {"user": string, "team": string}},
        },
    }
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": string,
            "kind": string,
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": CRD_API_VERSION,
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {MANAGED_BY_LABEL: naming.MANAGED_BY}},
        "spec": {
            "group": "vfleet.dev",
            "scope": "Namespaced",
            "names": {"plural": "nodeclaims", "singular": "nodeclaim", "kind": NODE_CLAIM,
                      "listKind": "NodeClaimList"},
            "versions": [{
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Provider", "type": "string", "jsonPath": ".spec.providerRef"},
                    {"name": "Type", "type": "string", "jsonPath": ".spec.typeRef"},
                    {"name": "VCluster", "type": "string", "jsonPath": ".spec.vClusterRef.name"},
                ],
            }],
        },
    }
