"""Stage 3a — parameters: each tenant's parameters checked against its template version, typed.

(The types below are the contract other stages build on; the functions are filled in by the render work.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vfleet.findings import Finding
from vfleet.units import Quantity


@dataclass(frozen=True, slots=True)
class Resources:
    """A tenant's size: what its ResourceQuota grants and what project quotas and cluster capacity sum."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    storage: Quantity | None = None
    gpus: int = 0


@dataclass(frozen=True, slots=True)
class TenantParams:
    key: str
    # Resolved parameter values (defaults applied), JSON-ready: quantities and durations as their text.
    values: dict[str, Any]
    resources: Resources


@dataclass(frozen=True)
class ResolvedParams:
    tenants: dict[str, TenantParams]  # by tenant key; tenants with bad parameters are absent
    findings: tuple[Finding, ...] = field(default=())
