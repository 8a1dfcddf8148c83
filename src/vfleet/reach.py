"""Reaching a tenant cluster: the endpoint its template version exposes, and a kubeconfig for it.

vCluster Platform hands every user a kubeconfig for their tenant cluster, never credentials of the
connected cluster underneath. vfleet does the same from the specs alone:

- the endpoint comes from the template version's `expose:` (ingress host, load balancer name, node port,
  or the connected cluster's service proxy), filled in per tenant (`{tenant}.{project}.vc.example.com`);
- authentication is the fleet's OIDC provider (`identity.oidc` in vfleet.yaml), written as an `exec`
  credential plugin entry (kubelogin): the file holds no token, key or password, and nothing here reads a
  kubeconfig, a Secret or a credential of any cluster;
- the tenant's rendered access rules (the ClusterRoleBindings in its vcluster values) say which groups
  and users the kubeconfig is good for; a caller (`--group`/`--user`) sees the tenants whose rules bind
  them or whose project lists them. Visibility is a convenience, not a barrier: the file holds nothing
  secret, and the tenant's own API server decides what a token may do.

Pure functions over a `Compiled` fleet; the CLI (`vfleet kubeconfig`) prints, and `--live` asks
`vfleet status`'s reader whether the tenant is deployed yet (`deployed_problem`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from vfleet.desired import access
from vfleet.desired.endpoint import ReachError as ReachError  # re-exported: the commands catch it
from vfleet.desired.endpoint import server_of
from vfleet.load import TEMPLATES_DIR
from vfleet.model import Fleet, ResolvedTenant
from vfleet.repo.tree import TreeError, safe_relpath
from vfleet.specs import Expose, Identity

if TYPE_CHECKING:
    from vfleet.compile import Compiled

Subject = access.Subject
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
USER_NAME = "vfleet-oidc"
EXTENSION = "vfleet.dev/tenant"


@dataclass(frozen=True)
class Target:
    """One tenant cluster as a kubeconfig entry names it."""

    key: str  # <project>/<tenant>
    source: str  # the tenant's file:line
    cluster: str  # the connected cluster it is placed on
    exposure: str  # ingress | loadBalancer | nodePort | serviceProxy
    server: str
    ca_data: str | None  # base64 PEM of the endpoint's CA (public), or None: the system's CAs
    roles: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # role -> {"groups", "users"}


def _where(fleet: Fleet, tenant: ResolvedTenant) -> str:
    return f"{tenant.doc.file}:{tenant.doc.line}"


def _version_where(fleet: Fleet, tenant: ResolvedTenant) -> str:
    item = fleet.templates[tenant.template]
    index = next(i for i, v in enumerate(item.manifest.spec.versions) if v.version == tenant.version)
    return str(fleet.location(item.doc, ("spec", "versions", index)))


def tenant_of(compiled: Compiled, key: str) -> ResolvedTenant:
    tenant = compiled.fleet.tenants.get(key)
    if tenant is None:
        known = [k for k in compiled.fleet.tenants if k.split("/")[-1] == key.split("/")[-1]]
        hint = f" (did you mean {', '.join(known)}?)" if known else ""
        raise ReachError(f"no tenant {key!r} in the fleet{hint}; name it <project>/<tenant>")
    return tenant


def target(compiled: Compiled, key: str) -> Target:
    """Where `key`'s API server is reached and what its access rules grant; ReachError when it cannot be."""
    fleet = compiled.fleet
    tenant = tenant_of(compiled, key)
    where = _where(fleet, tenant)
    cluster = compiled.placement.clusters.get(key)
    if cluster is None:
        raise ReachError(f"{where}: tenant {key} is not placed on any connected cluster, so it has no API server "
                         f"yet; set spec.cluster (or a spec.placement that an allowed cluster matches), then run "
                         f"`vfleet place` and commit fleet/placement.lock{_why(compiled, key)}")
    rendered = compiled.rendered.tenants.get(key)
    if rendered is None or key not in compiled.params.tenants:
        raise ReachError(f"{where}: tenant {key} does not compile; fix it first: its endpoint and access rules "
                         f"come from its rendered values{_why(compiled, key)}")
    expose = tenant.template_version.expose
    if expose is None:
        raise ReachError(f"{where}: tenant {key} exposes no endpoint: template {tenant.template} version "
                         f"{tenant.version} ({_version_where(fleet, tenant)}) has no 'expose:'; set one there "
                         f"(ingress: {{host: ...}}, loadBalancer: {{host: ...}}, nodePort: {{host, port}} or "
                         f"serviceProxy: {{}}; docs/access.md)")
    server = server_of(compiled.fleet, compiled.params.tenants[key].values, tenant, cluster, expose, where)
    ca = _ca_data(compiled, tenant, expose) if expose.caFile else None
    return Target(key, where, cluster, expose.kind, server, ca, grants(rendered.values))


def _why(compiled: Compiled, key: str) -> str:
    mine = [f"{f.location}: {f.message}" if f.location else f.message
            for f in compiled.findings.errors if f.subject == f"tenant:{key}"]
    return f" ({'; '.join(mine)})" if mine else ""


def _ca_data(compiled: Compiled, tenant: ResolvedTenant, expose: Expose) -> str:
    where = _version_where(compiled.fleet, tenant)
    rel = safe_relpath(str(expose.caFile))
    if rel is None:
        raise ReachError(f"{where}: expose.caFile {expose.caFile!r} must be a file in the template's folder")
    path = f"{TEMPLATES_DIR}/{tenant.template}/{rel}"
    try:
        pem = compiled.tree.read(path)
    except (TreeError, OSError) as exc:
        raise ReachError(f"{where}: expose.caFile {path!r} cannot be read ({exc}); it names the endpoint CA's "
                         f"PEM, a file in the template's folder") from exc
    if b"PRIVATE KEY" in pem:
        raise ReachError(f"{where}: expose.caFile {path!r} holds a private key; it must hold only the CA's "
                         f"certificate (remove the key from Git and rotate it)")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ReachError(f"{where}: expose.caFile {path!r} is not a PEM certificate")
    return base64.b64encode(pem).decode()


# ------------------------------------------------------------------------------------------- access


def grants(values: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Cluster role -> the groups and users bound to it inside the tenant, read from its rendered values
    (the ClusterRoleBindings `overlays.access_manifests` and the template deploy into the tenant)."""
    manifests = (((values.get("experimental") or {}).get("deploy") or {}).get("vcluster") or {}).get("manifests")
    out: dict[str, dict[str, set[str]]] = {}
    if isinstance(manifests, str):
        for doc in yaml.safe_load_all(manifests):
            if not isinstance(doc, dict) or doc.get("kind") != "ClusterRoleBinding":
                continue
            role = str((doc.get("roleRef") or {}).get("name"))
            held = out.setdefault(role, {"groups": set(), "users": set()})
            for subject in doc.get("subjects") or []:
                kind = subject.get("kind")
                if kind in ("Group", "User"):
                    held["groups" if kind == "Group" else "users"].add(str(subject.get("name")))
    return {role: {k: sorted(v) for k, v in held.items()} for role, held in sorted(out.items())}


def caller(user: str | None, groups: Iterable[str]) -> set[Subject] | None:
    """The RBAC subjects of the person asking; None when they did not say (every tenant is listed)."""
    found: set[Subject] = {("Group", g) for g in groups}
    if user:
        found.add(("User", user))
    return found or None


def _bound(roles: Mapping[str, Mapping[str, list[str]]], who: set[Subject]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for role, held in roles.items():
        groups = [g for g in held["groups"] if ("Group", g) in who]
        users = [u for u in held["users"] if ("User", u) in who]
        if groups or users:
            out[role] = {"groups": groups, "users": users}
    return out


def may_see(fleet: Fleet, found: Target, who: set[Subject] | None) -> bool:
    """Whether the caller sees the tenant: its access rules bind them, or its project lists them."""
    if who is None or _bound(found.roles, who):
        return True
    project = fleet.projects[fleet.tenants[found.key].project].manifest.spec
    return any(who & access.subjects_of(fleet, m.user, m.team, m.group) for m in project.members)


def for_caller(found: Target, who: set[Subject] | None) -> Target:
    """`found` with only the roles the caller holds (all of them when the caller is not given)."""
    if who is None:
        return found
    return Target(found.key, found.source, found.cluster, found.exposure, found.server, found.ca_data,
                  _bound(found.roles, who))


def project_targets(compiled: Compiled, project: str, who: set[Subject] | None) -> list[Target]:
    """Every tenant of `project` the caller may see; ReachError for an unknown project or one they cannot."""
    fleet = compiled.fleet
    if project not in fleet.projects:
        raise ReachError(f"no project {project!r} (known: {', '.join(fleet.projects) or 'none'})")
    found: list[Target] = []
    problems: list[str] = []
    for key in (k for k, t in fleet.tenants.items() if t.project == project):
        try:
            one = target(compiled, key)
        except ReachError as exc:  # every tenant that cannot be reached is named, not just the first
            problems.append(str(exc))
            continue
        if may_see(fleet, one, who):
            found.append(for_caller(one, who))
    if problems:
        raise ReachError("; ".join(problems))
    if not found:
        raise ReachError(f"project {project}: no tenant the given groups/users may see (its access rules and "
                         f"members decide; `vfleet show tenant` lists a tenant's rules)")
    return found


def tenant_target(compiled: Compiled, key: str, who: set[Subject] | None) -> Target:
    found = target(compiled, key)
    if not may_see(compiled.fleet, found, who):
        raise ReachError(f"{found.source}: tenant {key}: its access rules and project members do not include "
                         f"the given groups/users; add them to its spec.access (or to the project's members)")
    return for_caller(found, who)


# ---------------------------------------------------------------------------------------- kubeconfig


def exec_entry(identity: Identity) -> dict[str, Any]:
    """The kubeconfig user: an exec credential plugin that logs in with the fleet's OIDC provider."""
    oidc = identity.oidc
    args = [*oidc.args, f"--oidc-issuer-url={oidc.issuer}", f"--oidc-client-id={oidc.clientID}",
            *(f"--oidc-extra-scope={s}" for s in oidc.extraScopes)]
    return {"exec": {"apiVersion": EXEC_API_VERSION, "command": oidc.command, "args": args,
                     "interactiveMode": "IfAvailable", "provideClusterInfo": False}}


def kubeconfig(targets: list[Target], identity: Identity | None) -> dict[str, Any]:
    """A kubeconfig with one cluster and context per target, all logging in as the one OIDC user."""
    if identity is None:
        raise ReachError("vfleet.yaml declares no identity: add `identity: {oidc: {issuer: https://..., "
                         "clientID: ...}}` (the OIDC provider tenant API servers trust), so kubeconfigs "
                         "can log people in without holding a secret")
    clusters, contexts = [], []
    for t in targets:
        cluster: dict[str, Any] = {"server": t.server}
        if t.ca_data is not None:
            cluster["certificate-authority-data"] = t.ca_data
        clusters.append({"name": t.key, "cluster": cluster})
        about = {"tenant": t.key, "source": t.source, "connectedCluster": t.cluster, "exposure": t.exposure,
                 "roles": t.roles}
        contexts.append({"name": t.key, "context": {"cluster": t.key, "user": USER_NAME,
                                                    "extensions": [{"name": EXTENSION, "extension": about}]}})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "contexts": contexts,
        "current-context": targets[0].key if targets else "",
        "users": [{"name": USER_NAME, "user": exec_entry(identity)}],
        "preferences": {},
    }


def to_yaml(config: Mapping[str, Any]) -> str:
    head = ("# A kubeconfig for tenant clusters, written by `vfleet kubeconfig`. It holds no secret: tokens come\n"
            "# from the OIDC exec plugin at use time. It never names a connected cluster's API server or credentials\n"
            "# (except as the service proxy's address, when the template exposes tenants that way).\n")
    body: str = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
    return head + body


# ------------------------------------------------------------------------------------ not deployed yet


def deployed_problem(phase: str, reason: str, found: Target) -> str | None:
    """Why the tenant cannot be reached now, from its `vfleet status` phase; None when it can (or wakes)."""
    if phase == "not deployed":
        return (f"{found.source}: tenant {found.key} is not deployed on {found.cluster} yet (no vcluster release "
                f"there); apply it (`vfleet apply`), then ask again; without --live the kubeconfig is printed as "
                f"the tenant will be reachable once deployed")
    if phase in ("deleting", "unknown"):
        return f"{found.source}: tenant {found.key} on {found.cluster} is {phase}" + (f": {reason}" if reason else "")
    return None
