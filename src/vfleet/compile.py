"""The compile pipeline: one short chain of the stages, and the atomic writer of its output.

    load -> model -> params -> place -> render -> desired

Every stage runs even when an earlier one found problems (on what is still valid), so one run
reports every problem of the fleet. Nothing is written unless the whole compile is clean.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from vfleet import desired as desired_stage
from vfleet import load as load_stage
from vfleet import model, params, place, render
from vfleet.core import caches
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding, Findings, Location, error
from vfleet.core.gcpause import gc_paused
from vfleet.desired import argocd
from vfleet.render import schemas
from vfleet.repo.tree import Tree, open_tree


class NotAFleet(VfleetError):
    """The path given is not a fleet repository."""


class OutputError(VfleetError):
    """The compile output could not be written (a full disk, permissions); the previous output is intact."""


@dataclass(frozen=True)
class Compiled:
    root: Path
    tree: Tree
    fleet: model.Fleet
    params: params.ResolvedParams
    placement: place.Placement
    rendered: render.Rendered
    desired: dict[str, desired_stage.DesiredState]
    findings: Findings
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for benchmarks and -v

    @property
    def ok(self) -> bool:
        return not self.findings.errors


def find_root(path: Path) -> Path:
    """Accept the repository root or its fleet/ folder (`vfleet validate fleet/` reads naturally)."""
    path = path.resolve()
    if (path / load_stage.FLEET_DIR).is_dir():
        return path
    if path.name == load_stage.FLEET_DIR and path.is_dir():
        return path.parent
    raise NotAFleet(
        f"{path}: no {load_stage.FLEET_DIR}/ folder here; pass the repository root or its fleet/ folder"
    )


def parse_cache(root: Path, env: Mapping[str, str] = os.environ) -> load_stage.ParseCache:
    import hashlib

    name = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return load_stage.ParseCache.open(caches.cache_dir(env) / "parse" / f"{name}.pickle")


# Called between render and desired: everything the policy input needs exists then, so `vfleet check`
# sends its policy request there and OPA evaluates while the desired stage runs (vfleet.policy.gate).
OnRendered = Callable[[model.Fleet, params.ResolvedParams, place.Placement, render.Rendered], None]


def compile_path(path: Path, rev: str | None = None, *, no_cache: bool = False, check_lock: bool = True
                 ) -> Compiled:
    """What a command compiles: the repository at or above `path` (`find_root`), with the parse cache
    of earlier runs unless `no_cache`."""
    root = find_root(path)
    return compile_fleet(root, rev, cache=None if no_cache else parse_cache(root), check_lock=check_lock)


def compile_fleet(
    root: Path,
    rev: str | None = None,
    *,
    cache: load_stage.ParseCache | None = None,
    env: Mapping[str, str] = os.environ,
    check_lock: bool = True,
    tree: Tree | None = None,
    on_rendered: OnRendered | None = None,
) -> Compiled:
    """Compile the fleet at `root` (work tree, or Git revision `rev`) into desired states per cluster.

    `tree`, when given, is read instead of `root`/`rev` (the plan compiles partial views of a revision).
    """
    with gc_paused():
        return _compile(root, rev, cache, env, check_lock, tree, on_rendered)


def _compile(
    root: Path, rev: str | None, cache: load_stage.ParseCache | None, env: Mapping[str, str], check_lock: bool,
    given: Tree | None = None, on_rendered: OnRendered | None = None,
) -> Compiled:
    timings: dict[str, float] = {}
    tree = given if given is not None else open_tree(root, rev)
    loaded = _timed(timings, "load", lambda: load_stage.load(tree, cache))  # documents with file:line
    if cache is not None:  # now, while memory is low: pickling 100,000 documents at the compile's end
        cache.save()       # added ~120 MB to its peak (measured at 100,000 tenants)
    fleet = _timed(timings, "model", lambda: model.build(loaded))  # validated specs, references resolved
    load_stage.release_data(loaded)  # read by the model only: ~200 MB less at the peak of 100,000 tenants
    if cache is not None:
        cache.release()
    resolved = _timed(timings, "params", lambda: params.resolve(fleet))  # typed parameters, tenant sizes
    lock = place.read_lock(tree, cache.locks if cache is not None else None)
    # sticky tenant -> cluster
    placement = _timed(timings, "place", lambda: place.place(fleet, resolved, lock))
    registry = schemas.SchemaRegistry.from_repo(root, env, tree)
    settings = schemas.read_settings(tree)  # identity (kubeconfigs): checked with the rest of the fleet
    rendered = _timed(timings, "render",  # vcluster.yaml per tenant, checked against the chart's schema
                      lambda: render.render(fleet, resolved, placement.clusters, registry))
    if on_rendered is not None:
        on_rendered(fleet, resolved, placement, rendered)
    states = _timed(timings, "desired",  # resources per connected cluster
                    lambda: desired_stage.build(fleet, resolved, placement, rendered, settings.argocd))
    found: list[Finding] = [
        *fleet.findings,
        *resolved.findings,
        *lock.findings,
        *placement.findings,
        *rendered.findings,
        *settings.findings,
        *argocd.check(fleet, settings, resolved, placement.clusters),  # registrations (vfleet.yaml)
    ]
    if check_lock and placement.stale:
        found.append(_stale_lock(placement.stale))
    return Compiled(root, tree, fleet, resolved, placement, rendered, states, Findings.of(found), timings)


T = TypeVar("T")


def _timed(timings: dict[str, float], stage: str, run: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = run()
    timings[stage] = time.perf_counter() - start
    return result


def _stale_lock(stale: tuple[str, ...]) -> Finding:
    shown = ", ".join(stale[:10]) + (f" and {len(stale) - 10} more" if len(stale) > 10 else "")
    return error(
        "place.lock-stale",
        f"{load_stage.LOCK_FILE} does not record the placement of {len(stale)} tenant(s): {shown}. "
        "Run `vfleet place` and commit the lock file, so Git shows where every tenant lives.",
        Location(load_stage.LOCK_FILE),
    )


def write_output(compiled: Compiled, out: Path) -> list[Path]:
    """Write one file per cluster and each tenant's vcluster.yaml; all or nothing.

    The new output is built in a sibling temporary directory and swapped in with renames, so a
    reader (or a crash, or a full disk) never sees a half-written compile: on any failure the staging
    directory is removed and `OutputError` says what could not be written.
    """
    if not compiled.ok:
        raise VfleetError("refusing to write a compile that has errors")
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"cannot write the compile output to {out}: {exc.strerror or exc}") from exc
    written: list[Path] = []
    doing = "writing its first file"  # a failed write() carries no file name: say where it stopped
    try:
        for cluster, state in sorted(compiled.desired.items()):
            path = staging / "clusters" / f"{cluster}.json"
            doing = f"writing {path.relative_to(staging)}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(state.to_json())
            written.append(out / path.relative_to(staging))
        for key, tenant in sorted(compiled.rendered.tenants.items()):
            path = staging / "tenants" / key / "vcluster.yaml"
            doing = f"writing {path.relative_to(staging)}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tenant.yaml, encoding="utf-8")
            written.append(out / path.relative_to(staging))
        doing = "swapping the new output in"
        _swap(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot write the compile output to {out}: {exc.strerror or exc} ({doing}, "
                          f"{len(written)} file(s) written before); the previous output is unchanged") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        staging.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        staging.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
