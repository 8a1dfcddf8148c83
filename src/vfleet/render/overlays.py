"""What vfleet itself decides in a tenant's vcluster.yaml, merged over the template's values: sleep,
deletion, private nodes, pod security, and the access manifests deployed into the tenant."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vfleet.core import naming
from vfleet.core.jsonyaml import to_yaml
from vfleet.core.naming import SLEEPING_ANNOTATION
from vfleet.model import Fleet, ResolvedTenant

_RBAC = "rbac.authorization.k8s.io"
NODE_TYPE_PROPERTY = "vcluster.com/node-type"


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overlay` into `base` (in place): mappings merge, anything else in `overlay` wins."""
    for key, value in overlay.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge(current, value)
        else:
            base[key] = value
    return base


def tenant_overlay(fleet: Fleet, tenant: ResolvedTenant) -> dict[str, Any]:
    """The chart values that follow from the tenant spec itself, not from the template."""
    spec = tenant.manifest.spec
    overlay: dict[str, Any] = {"policies": {"podSecurityStandard": tenant.pod_security}}
    sleep = tenant.sleep
    if sleep is not None:
        auto: dict[str, Any] = {}
        if sleep.afterInactivity is not None:
            auto["afterInactivity"] = sleep.afterInactivity.text
        if sleep.schedule is not None:
            auto["schedule"] = sleep.schedule
        if sleep.wakeup is not None:
            auto["wakeup"] = {"schedule": sleep.wakeup}
        if sleep.timezone is not None:
            auto["timezone"] = sleep.timezone
        if auto:
            overlay["sleep"] = {"auto": auto}
        if sleep.sleeping:
            overlay["controlPlane"] = {
                "statefulSet": {
                    "highAvailability": {"replicas": 0},
                    "annotations": {SLEEPING_ANNOTATION: "true"},
                }
            }
    deletion: dict[str, Any] = {}
    if tenant.auto_delete is not None and tenant.auto_delete.afterInactivity is not None:
        deletion["auto"] = {"afterInactivity": tenant.auto_delete.afterInactivity.text}
    if spec.protect:
        deletion["prevent"] = True
    if deletion:
        overlay["deletion"] = deletion
    if spec.privateNodes:
        overlay["privateNodes"] = {"enabled": True, "autoNodes": _auto_nodes(fleet, tenant)}
    return overlay


def _auto_nodes(fleet: Fleet, tenant: ResolvedTenant) -> list[dict[str, Any]]:
    """Pools grouped by provider — and by node-type properties, which autoNodes holds per group."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for pool in sorted(tenant.manifest.spec.privateNodes, key=lambda p: p.name):
        node_type = fleet.node_type(pool.provider, pool.nodeType)
        properties = dict(sorted(node_type.properties.items())) if node_type is not None else {}
        group = groups.setdefault(
            (pool.provider, json.dumps(properties)),
            {"provider": pool.provider, "properties": properties, "static": []},
        )
        static: dict[str, Any] = {
            "name": pool.name,
            "quantity": pool.quantity,
            "nodeTypeSelector": [{"property": NODE_TYPE_PROPERTY, "value": pool.nodeType}],
        }
        if pool.taints:
            static["taints"] = [t.model_dump(exclude_none=True) for t in pool.taints]
        group["static"].append(static)
    return [groups[key] for key in sorted(groups)]


def access_manifests(fleet: Fleet, tenant: ResolvedTenant) -> str | None:
    """One ClusterRoleBinding per cluster role of the tenant's access rules, as multi-document YAML."""
    by_role: dict[str, set[tuple[str, str]]] = {}
    for rule in tenant.manifest.spec.access:
        members = by_role.setdefault(rule.clusterRole, set())
        members.update(("User", user) for user in rule.users)
        members.update(("Group", group) for group in rule.groups)
        for name in rule.teams:
            team = fleet.teams[name].manifest.spec
            members.update(("User", user) for user in team.members)
            members.update(("Group", group) for group in team.groups)
    documents = []
    for role in sorted(by_role):
        documents.append(
            to_yaml(
                {
                    "apiVersion": f"{_RBAC}/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {
                        "name": f"vfleet-access-{role}",
                        "labels": {"app.kubernetes.io/managed-by": naming.MANAGED_BY},
                    },
                    "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": role},
                    "subjects": [
                        {"apiGroup": _RBAC, "kind": kind, "name": name}
                        for kind, name in sorted(by_role[role])
                    ],
                }
            )
        )
    return "---\n".join(documents) if documents else None


def add_manifests(values: dict[str, Any], manifests: str) -> None:
    """vfleet's manifests go after any the template deploys itself, never instead of them."""
    merge(values, {"experimental": {"deploy": {"vcluster": {}}}})
    deploy = values["experimental"]["deploy"]["vcluster"]
    existing = deploy.get("manifests")
    if isinstance(existing, str) and existing.strip():
        manifests = existing.rstrip("\n") + "\n---\n" + manifests
    deploy["manifests"] = manifests
