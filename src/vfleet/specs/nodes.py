"""NodeProvider and node types, and the private node pools a tenant asks for."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vfleet.core.units import QuantityField
from vfleet.specs.base import Name, Strict


class NodeType(Strict):
    name: Name
    resources: dict[str, QuantityField] = Field(description="e.g. cpu: '16', memory: 64Gi, nvidia.com/gpu: '1'")
    properties: dict[str, str] = Field(default_factory=dict)
    maxCapacity: int | None = Field(None, ge=0, description="how many of this type exist across the fleet")


class NodeProviderSpec(Strict):
    displayName: str | None = None
    type: str = Field("generic", description="kind of provider, e.g. terraform, kubevirt, metal3, nvidia-bcm")
    nodeTypes: list[NodeType] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> NodeProviderSpec:
        names = [t.name for t in self.nodeTypes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"node type(s) declared twice: {sorted(dup)}")
        return self


class Taint(Strict):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class PrivateNodePool(Strict):
    name: Name
    provider: Name
    nodeType: Name
    quantity: int = Field(ge=1, le=1000)
    taints: list[Taint] = Field(default_factory=list)
