"""A tenant's API server URL as its template version's `expose:` publishes it.

Below the compile: the Argo CD registration (`vfleet.desired.argocd`) names the same server the kubeconfig does
(`vfleet.reach`, which works over a whole compiled fleet and so sits above it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vfleet.core import naming
from vfleet.core.errors import VfleetError
from vfleet.model import Fleet, ResolvedTenant
from vfleet.specs import Expose


class ReachError(VfleetError):
    """A tenant that cannot be reached (not placed, no endpoint, no identity); the message says what to set."""


def fill(pattern: str, tenant: ResolvedTenant, cluster: str) -> str:
    """An endpoint host pattern filled in for one tenant (placeholders: specs.ENDPOINT_PLACEHOLDERS)."""
    values = {"cluster": cluster, "namespace": tenant.namespace, "project": tenant.project,
              "release": naming.release_name(tenant.name), "tenant": tenant.name}
    return pattern.format_map(values)


def server_of(fleet: Fleet, params: Mapping[str, Any], tenant: ResolvedTenant, cluster: str, expose: Expose,
              where: str) -> str:
    """The tenant's API server URL as `expose` publishes it (`params`: the tenant's parameter values)."""
    if expose.ingress is not None or expose.loadBalancer is not None:
        host = expose.ingress or expose.loadBalancer
        assert host is not None
        suffix = "" if host.port == 443 else f":{host.port}"
        return f"https://{fill(host.host, tenant, cluster)}{suffix}"
    if expose.nodePort is not None:
        given = expose.nodePort.port
        # a port number, or an int parameter (specs checked that it is one)
        number = given if isinstance(given, int) else int(params[given])
        return f"https://{fill(expose.nodePort.host, tenant, cluster)}:{number}"
    assert expose.serviceProxy is not None
    item = fleet.clusters[cluster]
    api = item.manifest.spec.apiServer
    if api is None:
        raise ReachError(f"{where}: tenant {tenant.key} is exposed through the service proxy of cluster {cluster}, "
                         f"which declares no API server URL; set spec.apiServer (https://...) in "
                         f"{fleet.location(item.doc, ('spec',))}")
    release = naming.release_name(tenant.name)
    return f"{api}/api/v1/namespaces/{tenant.namespace}/services/https:{release}:{expose.serviceProxy.port}/proxy"
