"""Project: quotas, allowed templates and clusters, defaults, members."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from vfleet.core.units import QuantityField
from vfleet.specs.access import HostAccess, Member
from vfleet.specs.base import SEMVER, VERSION_REF, LabelSelector, Name, Strict
from vfleet.specs.lifecycle import ArgoCDRegistration, AutoDelete, Sleep


class ProjectQuotas(Strict):
    tenants: int | None = Field(None, ge=0)
    awakeTenants: int | None = Field(None, ge=0)
    templates: dict[Name, int] = Field(default_factory=dict, description="max tenants per template")
    cpu: QuantityField | None = Field(None, description="sum of tenants' requests.cpu")
    memory: QuantityField | None = Field(None, description="sum of tenants' requests.memory")
    storage: QuantityField | None = Field(None, description="sum of tenants' requests.storage")
    gpus: int | None = Field(None, ge=0)
    nodeClaims: dict[Name, int] = Field(default_factory=dict, description="max node claims per provider")


class AllowedTemplate(Strict):
    name: Name
    versions: list[str] = Field(default_factory=lambda: ["*"], description="exact versions, '1.x' or '*'")

    @field_validator("versions")
    @classmethod
    def _versions(cls, value: list[str]) -> list[str]:
        for v in value:
            if v != "*" and not VERSION_REF.match(v) and not SEMVER.match(v):
                raise ValueError(f"{v!r} is not a version, a '1.x'-style range or '*'")
        return value


class TemplateRef(Strict):
    name: Name
    version: str

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not SEMVER.match(value) and not VERSION_REF.match(value):
            raise ValueError(f"{value!r} is not a template version ('1.2.0') or range ('1.x', '1.2.x')")
        return value


class AllowedClusters(Strict):
    names: list[Name] = Field(default_factory=list)
    selector: LabelSelector | None = None


class ProjectDefaults(Strict):
    sleep: Sleep | None = None
    autoDelete: AutoDelete | None = None
    podSecurity: Literal["privileged", "baseline", "restricted"] | None = None
    argocd: ArgoCDRegistration | None = None


class ProjectSpec(Strict):
    displayName: str | None = None
    description: str | None = None
    members: list[Member] = Field(default_factory=list)
    quotas: ProjectQuotas = Field(default_factory=ProjectQuotas)
    templates: list[AllowedTemplate] = Field(min_length=1)
    defaultTemplate: TemplateRef | None = None
    clusters: AllowedClusters = Field(default_factory=AllowedClusters)
    defaults: ProjectDefaults = Field(default_factory=ProjectDefaults)
    hostAccess: HostAccess = Field(default_factory=HostAccess)
