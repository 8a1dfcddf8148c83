"""Cluster: a connected cluster, how to reach it, its capacity, its rollout wave, its chart source."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from vfleet.core.units import QuantityField
from vfleet.specs.base import Name, Strict


class KubeconfigRef(Strict):
    """How to reach a cluster at run time. Never the credentials themselves: those stay out of Git."""

    env: str | None = Field(None, description="env var holding a kubeconfig (content) or a path to one")
    file: str | None = Field(None, description="path to a kubeconfig outside the repository (~ allowed)")
    context: str | None = Field(None, description="context name; alone, a context of the default kubeconfig")

    @model_validator(mode="after")
    def _one_source(self) -> KubeconfigRef:
        if self.env is not None and self.file is not None:
            raise ValueError("give either 'env' or 'file', not both")
        if self.env is None and self.file is None and self.context is None:
            raise ValueError("give one of 'env', 'file' or 'context'")
        if self.env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.env):
            raise ValueError(f"{self.env!r} is not an environment variable name")
        if self.file is not None and not (self.file.startswith("/") or self.file.startswith("~")):
            raise ValueError(
                "'file' must be an absolute path or start with '~': kubeconfigs live outside the repository"
            )
        return self


class ClusterCapacity(Strict):
    cpu: QuantityField | None = None
    memory: QuantityField | None = None
    storage: QuantityField | None = None
    gpus: int | None = Field(None, ge=0)
    maxTenants: int | None = Field(None, ge=0)


class Rollout(Strict):
    wave: int = Field(0, ge=0, le=100, description="clusters of wave k are applied after every cluster of wave k-1")
    awaitTenants: bool = Field(True, description="wait for each tenant's release to become ready on apply")


class ChartSource(Strict):
    """Where this cluster's vcluster chart comes from, overriding https://charts.loft.sh."""

    repository: str | None = Field(None, description="an HTTP(S) chart repository or an oci:// registry")
    path: str | None = Field(None, description="a local chart directory (air-gapped fleets, tests)")

    @model_validator(mode="after")
    def _one(self) -> ChartSource:
        if (self.repository is None) == (self.path is None):
            raise ValueError("give exactly one of 'repository' or 'path'")
        if self.repository is not None and not re.match(r"^(https?|oci)://", self.repository):
            raise ValueError(f"{self.repository!r}: a chart repository is an https://, http:// or oci:// URL")
        return self


class ClusterSpec(Strict):
    kubeconfig: KubeconfigRef
    capacity: ClusterCapacity = Field(default_factory=ClusterCapacity)
    nodeProviders: list[Name] = Field(default_factory=list)
    rollout: Rollout = Field(default_factory=Rollout)
    chart: ChartSource | None = None
    apiServer: str | None = Field(
        None, description="the https:// URL people reach this cluster's API server at (serviceProxy exposure)"
    )

    @field_validator("apiServer")
    @classmethod
    def _api_server(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError(f"{value!r}: apiServer is an https:// URL (https://api.eu-1.example.com:6443)")
        return value.rstrip("/") if value is not None else None
