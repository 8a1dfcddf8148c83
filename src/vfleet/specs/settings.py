"""vfleet.yaml: the identity (OIDC) kubeconfigs use, and the Argo CD instances tenants register with."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from vfleet.specs.base import Name, Strict, dns_label


class OidcIdentity(Strict):
    """The fleet's OIDC provider, as kubeconfigs name it. No client secret: kubeconfigs hold no secret."""

    issuer: str = Field(description="the issuer URL tenant API servers trust")
    clientID: str = Field(min_length=1)
    extraScopes: list[str] = Field(default_factory=lambda: ["groups"])
    command: str = Field("kubectl", description="the exec credential plugin's command (kubelogin: kubectl "
                         "oidc-login, or kubelogin itself)")
    args: list[str] = Field(default_factory=lambda: ["oidc-login", "get-token"],
                            description="its first arguments; issuer, client and scopes are appended")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError(f"{value!r}: an OIDC issuer is an https:// URL")
        return value


class ArgoCDInstance(Strict):
    """One Argo CD the fleet registers tenant clusters in: which connected cluster and namespace run it."""

    cluster: Name
    namespace: Name = "argocd"

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return dns_label(value, "namespace")


class ArgoCDSettings(Strict):
    """`argocd:` in vfleet.yaml: the fleet's Argo CD instances, by name."""

    instances: dict[Name, ArgoCDInstance] = Field(default_factory=dict)


class Identity(Strict):
    """How people authenticate to tenant clusters (`identity:` in vfleet.yaml)."""

    oidc: OidcIdentity
