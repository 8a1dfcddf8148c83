"""The library calls of the commands that read or act on the connected clusters: drift, status, lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vfleet.api.fleet import FleetBroken, PathLike

if TYPE_CHECKING:
    from vfleet.lifecycle.run import Options as LifecycleOptions
    from vfleet.lifecycle.run import Report as LifecycleReport
    from vfleet.live.drift import DriftReport
    from vfleet.live.status import FleetStatus


def drift(path: PathLike = ".", rev: str | None = None, *, clusters: Sequence[str] | None = None) -> DriftReport:
    """`vfleet drift`: live objects against desired, field by field, on `clusters` (default: all).
    Raises `FleetBroken` when the fleet does not compile: there is no trustworthy desired state."""
    from vfleet import compile as compiler
    from vfleet.live.drift import drift as drift_of

    compiled = compiler.compile_path(Path(path), rev)
    if compiled.findings.errors:
        raise FleetBroken("drift", compiled.findings)
    return drift_of(compiled, clusters=list(clusters) if clusters else None)


def status(
    path: PathLike = ".",
    rev: str | None = None,
    *,
    clusters: Sequence[str] | None = None,
    timeout_s: float | None = None,
    activity: bool = True,
) -> FleetStatus:
    """`vfleet status`: per tenant phase, template, chart and values desired against deployed; per
    cluster reachable, version, tenants against capacity. Raises `FleetBroken` when the fleet does not
    compile."""
    from vfleet import compile as compiler
    from vfleet.apply.records import open_records
    from vfleet.core import caches
    from vfleet.live.connect import DEFAULT_TIMEOUT_S
    from vfleet.live.status import fleet_status, last_apply_from

    compiled = compiler.compile_path(Path(path), rev)
    if compiled.findings.errors:
        raise FleetBroken("status", compiled.findings)
    records = last_apply_from(open_records(compiled.root).store)
    return fleet_status(compiled, list(clusters) if clusters else None, last_apply=records,
                        timeout_s=DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
                        cache_dir=caches.cache_dir() / "status", activity=activity)


def lifecycle(
    path: PathLike = ".", rev: str | None = "HEAD", options: LifecycleOptions | None = None
) -> LifecycleReport:
    """`vfleet lifecycle`: sleep and wake tenants on their schedules and inactivity, and commit due
    deletions on a branch for review (`options.dry_run`: decide only). `rev` None reads the work tree
    (deletions can then only be reported). Raises `FleetBroken` when the fleet does not compile."""
    from vfleet import compile as compiler
    from vfleet.lifecycle.run import lifecycle as run_lifecycle

    compiled = compiler.compile_path(Path(path), rev)
    if compiled.findings.errors:
        raise FleetBroken("lifecycle", compiled.findings)
    return run_lifecycle(compiled, options)
