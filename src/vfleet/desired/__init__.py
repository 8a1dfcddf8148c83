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

from collections.abc import Mapping
from typing import Any

from vfleet.core import naming
from vfleet.core.gcpause import gc_paused
from vfleet.desired import access, argocd
from vfleet.desired.guardrails import ISOLATE, control_plane, limit_range, quota
from vfleet.desired.nodeclaim_crd import node_claim_crd as node_claim_crd
from vfleet.desired.resources import (  # re-exported: what a cluster's desired state is made of
    CHART,
    CRD_API_VERSION,
    CRD_NAME,
    DEFAULT_CHART_REPOSITORY,
    HELM_RELEASE,
    MANAGED_BY_LABEL,
    NETWORKING_API,
    NODE_CLAIM,
    RBAC_API,
    RBAC_GROUP,
    DesiredState,
    RenderedFleet,
    RenderedValues,
    Resource,
)
from vfleet.desired.resources import (
    make_resource as _make,
)
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams, Resources
from vfleet.place import Placement
from vfleet.specs import API_VERSION, ArgoCDSettings

__all__ = [
    "CHART", "CRD_API_VERSION", "CRD_NAME", "DEFAULT_CHART_REPOSITORY", "HELM_RELEASE", "MANAGED_BY_LABEL",
    "NETWORKING_API", "NODE_CLAIM", "RBAC_API", "RBAC_GROUP", "DesiredState", "RenderedFleet", "RenderedValues",
    "Resource", "build", "node_claim_crd", "platform_rbac",
]


def build(
    fleet: Fleet,
    params: ResolvedParams,
    placement: Placement,
    rendered: RenderedFleet | Mapping[str, RenderedValues],
    argocd_settings: ArgoCDSettings | None = None,
) -> dict[str, DesiredState]:
    """A DesiredState for every cluster of the fleet (empty for a cluster without tenants).

    `argocd_settings` (vfleet.yaml `argocd:`): the Argo CD instances; the cluster each runs on also gets
    the cluster Secrets of the tenants registered in it, after every tenant (vfleet.desired.argocd).

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
                if tenant.manifest.spec.privateNodes:  # every pool claims at least one node
                    claims = True
                    protect_crd = protect_crd or tenant.manifest.spec.protect
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
    chart = fleet.clusters[cluster].manifest.spec.chart
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
        self.protect = tenant.manifest.spec.protect
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
            self.obj(NETWORKING_API, "NetworkPolicy", "vfleet-isolate", {"spec": ISOLATE}, ns),
            self.obj(
                NETWORKING_API, "NetworkPolicy", "vfleet-control-plane", {"spec": control_plane(release)}, ns
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
        if t.manifest.spec.privateNodes:
            out += self.node_claims()
        return out

    def node_claims(self) -> list[Resource]:
        t = self.tenant
        out: list[Resource] = []
        depends = (_crd_id(self.cluster), self.ns_id)
        for pool in t.manifest.spec.privateNodes:
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
                    "owner": {"user": t.manifest.spec.owner},
                }
                name = f"{pool.name}-{i}"
                out.append(self.obj(API_VERSION, NODE_CLAIM, name, {"spec": spec}, depends, labels))
        return out


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
