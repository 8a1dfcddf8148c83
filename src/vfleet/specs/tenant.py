"""Tenant: the template it uses, its parameters, placement, lifecycle, nodes and access."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from vfleet.specs.access import AccessRule
from vfleet.specs.base import LabelSelector, Name, Strict
from vfleet.specs.lifecycle import ArgoCDRegistration, AutoDelete, Sleep
from vfleet.specs.nodes import PrivateNodePool
from vfleet.specs.project import TemplateRef


class TenantSpec(Strict):
    project: Name | None = Field(None, description="implied by the folder; if given, must match it")
    template: TemplateRef | None = Field(None, description="default: the project's defaultTemplate")
    parameters: dict[str, Any] = Field(default_factory=dict)
    cluster: Name | None = Field(None, description="explicit placement")
    placement: LabelSelector | None = Field(None, description="or: any allowed cluster matching these labels")
    owner: str
    description: str | None = None
    sleep: Sleep | None = None
    autoDelete: AutoDelete | None = None
    protect: bool = False
    podSecurity: Literal["privileged", "baseline", "restricted"] | None = None
    privateNodes: list[PrivateNodePool] = Field(default_factory=list)
    access: list[AccessRule] = Field(default_factory=list)
    argocd: ArgoCDRegistration | None = Field(None, description="register in Argo CD; default: the project's")

    @model_validator(mode="after")
    def _placement(self) -> TenantSpec:
        if self.cluster is not None and self.placement is not None:
            raise ValueError("give either 'cluster' or 'placement', not both")
        names = [p.name for p in self.privateNodes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"private node pool name(s) used twice: {sorted(dup)}")
        return self
