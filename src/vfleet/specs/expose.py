"""How a tenant's API server is reached (`expose:`): a host, a node port, or the service proxy."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from vfleet.specs.base import Strict

# What an endpoint host may name, filled in per tenant: `{tenant}.{project}.vc.example.com`.
ENDPOINT_PLACEHOLDERS = ("cluster", "namespace", "project", "release", "tenant")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HOST = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _host_pattern(value: str) -> str:
    for name in _PLACEHOLDER.findall(value):
        if name not in ENDPOINT_PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in ENDPOINT_PLACEHOLDERS)
            raise ValueError(f"{value!r}: unknown placeholder {{{name}}}; use {known}")
    if not _HOST.match(_PLACEHOLDER.sub("x", value)):
        raise ValueError(f"{value!r} is not a host name (no scheme, port or path; placeholders such as "
                         f"{{tenant}} allowed)")
    return value


HostPattern = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host_pattern)]


class HostExpose(Strict):
    """The tenant's API server behind a DNS name: an ingress host, or a load balancer's name."""

    host: HostPattern
    port: int = Field(443, ge=1, le=65535)


class NodePortExpose(Strict):
    """The tenant's API server on a node port of the connected cluster: a node address and the port."""

    host: HostPattern = Field(description="a node's address (pattern, e.g. nodes.{cluster}.example.com)")
    port: int | str = Field(description="the node port, or the name of an 'int' parameter holding it")

    @field_validator("port")
    @classmethod
    def _port(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 30000 <= value <= 32767:
            raise ValueError(f"{value} is not in the node port range 30000-32767")
        return value


class ServiceProxyExpose(Strict):
    """Through the connected cluster's API server service proxy (its URL: the Cluster's `apiServer`)."""

    port: int = Field(443, ge=1, le=65535, description="the port of the tenant's Service")


class Expose(Strict):
    """How a template version exposes its tenants' API servers: exactly one way."""

    ingress: HostExpose | None = None
    loadBalancer: HostExpose | None = None
    nodePort: NodePortExpose | None = None
    serviceProxy: ServiceProxyExpose | None = None
    caFile: str | None = Field(None, description="PEM of the CA that signs the endpoint's certificate "
                               "(a file in the template's folder; a CA certificate is public)")

    @model_validator(mode="after")
    def _one(self) -> Expose:
        given = [k for k in ("ingress", "loadBalancer", "nodePort", "serviceProxy") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'ingress', 'loadBalancer', 'nodePort' or 'serviceProxy'"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("ingress", "loadBalancer", "nodePort", "serviceProxy") if getattr(self, k))
