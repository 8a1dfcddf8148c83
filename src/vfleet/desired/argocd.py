"""Argo CD registration: a tenant cluster in an Argo CD instance, so teams deploy into it by GitOps as
soon as it exists (what vCluster Platform does for its tenant clusters).

The instances are declared once, in vfleet.yaml (`argocd.instances.<name>: {cluster, namespace}`); a
tenant (or its project's `defaults.argocd`) asks for `argocd: {instance, project, labels}`. The desired
state of the instance's connected cluster then holds one Argo CD cluster Secret per registered tenant
(label `argocd.argoproj.io/secret-type: cluster`) with its name, server and Argo CD project — everything
but the credentials. Those are not in Git, in the desired state, in plans or in logs: the annotation
`vfleet.dev/credentials-from: <cluster>/<namespace>/<secret>` names the Secret the vcluster chart writes
for the tenant, and the Pulumi program reads it at apply time and adds Argo CD's `config` to the Secret
as a Pulumi secret (vfleet.apply.argocd). The registration is the tenant's: it leaves with it.

The server Argo CD uses: the tenant's Service in the cluster (`https://<release>.<namespace>.svc:443`)
when Argo CD runs on the tenant's own connected cluster; otherwise the endpoint its template version
exposes (`expose:`; the service proxy would need the connected cluster's credentials, so it does not
count).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from vfleet.core import naming, subjects
from vfleet.core.findings import Finding, error
from vfleet.desired import endpoint
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams
from vfleet.render.schemas import CONFIG_FILE, FleetSettings
from vfleet.specs import ArgoCDRegistration, ArgoCDSettings, KubeconfigRef

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
CREDENTIALS_FROM = "vfleet.dev/credentials-from"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


def tenant_secret(tenant: ResolvedTenant) -> str:
    """The Secret the vcluster chart writes in the tenant namespace: its admin kubeconfig and certificates."""
    return f"vc-{naming.release_name(tenant.name)}"


def secret_name(tenant: ResolvedTenant) -> str:
    return f"vfleet-{tenant.namespace.removeprefix('vc-')}"


def registration(fleet: Fleet, tenant: ResolvedTenant) -> ArgoCDRegistration | None:
    """The tenant's own `argocd`, else its project's default; None when it is not registered."""
    own = tenant.manifest.spec.argocd
    chosen = own if own is not None else fleet.projects[tenant.project].manifest.spec.defaults.argocd
    return None if chosen is None or chosen.never else chosen


def _path(fleet: Fleet, tenant: ResolvedTenant) -> tuple[Any, tuple[str, ...]]:
    if tenant.manifest.spec.argocd is not None:
        return tenant.doc, ("spec", "argocd", "instance")
    return fleet.projects[tenant.project].doc, ("spec", "defaults", "argocd", "instance")


def check(fleet: Fleet, config: FleetSettings, params: ResolvedParams, placement: Mapping[str, str]) -> list[Finding]:
    """Unknown instances (of a tenant, a project default, or an instance's cluster) and registrations whose
    server cannot be told, each at its file:line."""
    instances = config.argocd.instances if config.argocd is not None else {}
    out: list[Finding] = []
    for name, instance in instances.items():
        if instance.cluster not in fleet.clusters:
            out.append(error("argocd.cluster", f"Argo CD instance {name!r} runs on cluster {instance.cluster!r}, "
                             f"which has no Cluster spec (known: {', '.join(fleet.clusters)})",
                             config.where(("argocd", "instances", name, "cluster"))))
    for key, tenant in fleet.tenants.items():
        wanted = registration(fleet, tenant)
        if wanted is None:
            continue
        doc, path = _path(fleet, tenant)
        if wanted.instance not in instances:
            known = ", ".join(instances) or f"none: declare them under argocd.instances in {CONFIG_FILE}"
            out.append(error("argocd.instance", f"tenant {key}: unknown Argo CD instance {wanted.instance!r} "
                             f"(known: {known})", fleet.location(doc, path), subjects.tenant(key)))
            continue
        cluster = placement.get(key)
        if cluster is None or key not in params.tenants:
            continue  # placement and parameters report those
        try:
            server(fleet, params, tenant, cluster, instances[str(wanted.instance)].cluster)
        except endpoint.ReachError as exc:
            message = str(exc).removeprefix(f"{tenant.doc.file}:{tenant.doc.line}: ")
            out.append(error("argocd.server", message, fleet.location(doc, path[:-1]), subjects.tenant(key)))
    return out


def server(fleet: Fleet, params: ResolvedParams, tenant: ResolvedTenant, cluster: str, argocd_cluster: str) -> str:
    """Where Argo CD, running on `argocd_cluster`, reaches the tenant's API server."""
    if cluster == argocd_cluster:
        return f"https://{naming.release_name(tenant.name)}.{tenant.namespace}.svc:443"
    where = f"{tenant.doc.file}:{tenant.doc.line}"
    expose = tenant.template_version.expose
    if expose is None or expose.serviceProxy is not None:
        how = "exposes no endpoint" if expose is None else "is exposed only through the service proxy"
        raise endpoint.ReachError(
            f"{where}: tenant {tenant.key} is registered in Argo CD on cluster {argocd_cluster} but runs on "
            f"{cluster}, and its template {tenant.template} version {tenant.version} {how}; set 'expose:' "
            f"(ingress, loadBalancer or nodePort) on that version, or register it in an instance on {cluster}")
    return endpoint.server_of(fleet, params.tenants[tenant.key].values, tenant, cluster, expose, where)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def registrations(fleet: Fleet, cluster: str, settings: ArgoCDSettings | None, params: ResolvedParams,
                  placement: Mapping[str, str], release_ids: Mapping[str, str]) -> list[tuple[ResolvedTenant, dict[
                      str, Any], tuple[str, ...]]]:
    """(tenant, Secret body, depends_on) of every registration in the Argo CD instances running on `cluster`,
    by instance then tenant. `release_ids`: the tenant's vcluster release on this cluster, when it is here
    (the registration waits for the Secret the release writes)."""
    if settings is None:
        return []
    out: list[tuple[ResolvedTenant, dict[str, Any], tuple[str, ...]]] = []
    for name, instance in sorted(settings.instances.items()):
        if instance.cluster != cluster:
            continue
        for key, tenant in fleet.tenants.items():
            wanted = registration(fleet, tenant)
            where = placement.get(key)
            if wanted is None or wanted.instance != name or where is None or key not in params.tenants:
                continue
            try:
                url = server(fleet, params, tenant, where, cluster)
            except endpoint.ReachError:
                continue  # reported by `check`
            labels = {**wanted.labels, MANAGED_BY_LABEL: naming.MANAGED_BY, SECRET_TYPE_LABEL: "cluster",
                      "vfleet.dev/project": tenant.project, "vfleet.dev/tenant": tenant.name}
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": secret_name(tenant),
                    "namespace": instance.namespace,
                    "labels": labels,
                    "annotations": {"vfleet.dev/source": f"{tenant.doc.file}:{tenant.doc.line}",
                                    CREDENTIALS_FROM: f"{where}/{tenant.namespace}/{tenant_secret(tenant)}"},
                },
                "type": "Opaque",
                # Argo CD's cluster Secret fields but `config`, which the program adds from the tenant's Secret.
                "data": {"name": _b64(key), "server": _b64(url), "project": _b64(wanted.project)},
            }
            depends = (release_ids[key],) if key in release_ids else ()
            out.append((tenant, body, depends))
    return out


def credentials_from(body: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(cluster, namespace, secret) a registration's credentials are read from; None for any other body."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(CREDENTIALS_FROM)
    if body.get("kind") != "Secret" or not isinstance(value, str) or value.count("/") != 2:
        return None
    cluster, namespace, secret = value.split("/")
    return cluster, namespace, secret


def credential_sources(state: Any, refs: Mapping[str, KubeconfigRef]) -> dict[str, KubeconfigRef]:
    """The kubeconfig references of the clusters `state`'s (a DesiredState) registrations read from."""
    wanted = {found[0] for r in state.resources if (found := credentials_from(r.body)) is not None}
    return {name: refs[name] for name in sorted(wanted) if name in refs}
