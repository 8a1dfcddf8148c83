"""Access: who may do what, where — the three layers vCluster Platform promises, as plain data.

- Platform roles (admin / operator / viewer), declared once in the fleet's `Platform` document: the
  only access anyone is given to a connected cluster. Rendered by `desired` as ClusterRoles and
  ClusterRoleBindings on every connected cluster a member's `clusters` selector matches (all of them
  when it has none).
- Project roles (admin / user / viewer): nothing on connected clusters. Tenants "interact only with
  their tenant clusters": the host namespace holds the vcluster's control plane and the Secret with its
  admin kubeconfig, so a write, an exec or a Secret read there is cluster-admin of the tenant whatever
  its access rules say. A project may give some of its roles a read-only view of its tenants' host
  namespaces (`hostAccess.view`); the spec cannot ask for more, and policy refuses rendered values
  that would (policies/rules/access.rego).
- Tenant cluster roles: inside the tenant cluster only, rendered into the vcluster values
  (`overlays.access_manifests`).

docs/access.md describes what each layer can do where; the live tier checks it on a real apiserver.
"""

from __future__ import annotations

from typing import Any

from vfleet.model import Fleet
from vfleet.specs import PlatformRole

RBAC_API = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
HOST_VIEW = "vfleet-host-view"
PLATFORM_ROLES: tuple[PlatformRole, ...] = ("admin", "operator", "viewer")

Subject = tuple[str, str]  # (RBAC subject kind, name): ("User", "alice"), ("Group", "eng-platform")

_READ = ["get", "list", "watch"]

# The host view: what lands in a tenant's host namespace for its workloads, read-only. No Secrets, no
# logs, no exec / attach / port-forward / proxy, none of the control plane's own kinds (its StatefulSet,
# ServiceAccount, Role, Services, volume claims). RBAC grants by type, not by object: listing pods also
# lists the control plane's pod (its spec, never its Secrets or logs); docs/access.md says so.
HOST_VIEW_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["events", "limitranges", "pods", "resourcequotas"], "verbs": _READ},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
]

# Everything a viewer of a connected cluster may read: all but Secrets (a vcluster's Secret is its admin
# kubeconfig) and logs (which may print what a Secret holds).
_CORE_READ = [
    "configmaps", "endpoints", "events", "limitranges", "namespaces", "nodes", "persistentvolumeclaims",
    "persistentvolumes", "pods", "pods/status", "replicationcontrollers", "resourcequotas", "serviceaccounts",
    "services",
]
_GROUPS_READ = [
    "apiextensions.k8s.io", "apps", "autoscaling", "batch", "discovery.k8s.io", "events.k8s.io",
    "networking.k8s.io", "policy", RBAC_GROUP, "storage.k8s.io", "vfleet.dev",
]
_VIEWER: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": _CORE_READ, "verbs": _READ},
    {"apiGroups": _GROUPS_READ, "resources": ["*"], "verbs": _READ},
]
# An operator runs tenants day to day: reads logs, restarts a control plane (deletes its pod), scales it
# (sleep / wake). Still no Secret, no exec, no RBAC change: taking over a tenant is an admin's act.
_OPERATOR: list[dict[str, Any]] = [
    *_VIEWER,
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": _READ},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets", "statefulsets/scale", "deployments", "deployments/scale"],
     "verbs": ["patch", "update"]},
]
# A platform admin is cluster-admin of the connected cluster (and so of every tenant on it).
_ADMIN: list[dict[str, Any]] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
PLATFORM_RULES: dict[PlatformRole, list[dict[str, Any]]] = {
    "admin": _ADMIN, "operator": _OPERATOR, "viewer": _VIEWER,
}


def platform_role_name(role: str) -> str:
    return f"vfleet-platform-{role}"


def subjects_of(fleet: Fleet, user: str | None, team: str | None, group: str | None) -> set[Subject]:
    """RBAC subjects of one member entry; a team expands to its users and its OIDC groups."""
    if user is not None:
        return {("User", user)}
    if group is not None:
        return {("Group", group)}
    item = fleet.teams.get(team or "")
    if item is None:
        return set()
    return {("User", u) for u in item.manifest.spec.members} | {("Group", g) for g in item.manifest.spec.groups}


def rbac_subjects(subjects: set[Subject]) -> list[dict[str, str]]:
    """RoleBinding subjects, sorted (kind, name)."""
    return [{"kind": kind, "apiGroup": RBAC_GROUP, "name": name} for kind, name in sorted(subjects)]


def platform_subjects(fleet: Fleet, cluster: str) -> dict[PlatformRole, set[Subject]]:
    """Per platform role, who holds it on `cluster` (roles nobody holds there are left out)."""
    out: dict[PlatformRole, set[Subject]] = {}
    item = fleet.clusters.get(cluster)
    if fleet.platform is None or item is None:
        return out
    labels = item.manifest.metadata.labels
    for member in fleet.platform.manifest.spec.members:
        if member.clusters is not None and not member.clusters.matches(labels):
            continue
        found = subjects_of(fleet, member.user, member.team, member.group)
        if found:
            out.setdefault(member.role, set()).update(found)
    return {role: out[role] for role in PLATFORM_ROLES if role in out}


def host_view_subjects(fleet: Fleet, project: str) -> set[Subject]:
    """Members of `project` whose role its `hostAccess.view` lists: they get the read-only host view."""
    item = fleet.projects.get(project)
    if item is None:
        return set()
    roles = set(item.manifest.spec.hostAccess.view)
    out: set[Subject] = set()
    for member in item.manifest.spec.members:
        if member.role in roles:
            out |= subjects_of(fleet, member.user, member.team, member.group)
    return out


def allows(rules: list[dict[str, Any]], api_group: str, resource: str, verb: str) -> bool:
    """Whether RBAC `rules` grant `verb` on `resource` (a "pods/exec"-style subresource too) of `api_group`,
    with Kubernetes' wildcards: what tests and `vfleet show` ask of a role."""
    return any(
        (api_group in rule.get("apiGroups", ()) or "*" in rule.get("apiGroups", ()))
        and (resource in rule.get("resources", ()) or "*" in rule.get("resources", ()))
        and (verb in rule.get("verbs", ()) or "*" in rule.get("verbs", ()))
        for rule in rules
    )
