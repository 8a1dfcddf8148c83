"""The library calls of the commands that compile a fleet: validate, compile, place, show tenant, check, plan."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings

if TYPE_CHECKING:
    from vfleet.compile import Compiled
    from vfleet.plan import Options, Plan
    from vfleet.plan.vanished import Applied
    from vfleet.policy import CheckReport

PathLike = str | Path


class FleetBroken(VfleetError):
    """The fleet does not compile, and the command needs its desired state (drift, status)."""

    def __init__(self, command: str, findings: Findings) -> None:
        errors = findings.errors
        super().__init__(f"{command}: the fleet does not compile ({len(errors)} error(s)), nothing was read")
        self.findings = findings


@dataclass(frozen=True)
class CompileResult:
    compiled: Compiled
    written: tuple[Path, ...]  # the files of the output folder; none when the fleet has errors
    out: Path  # that folder

    @property
    def exit_code(self) -> int:
        return self.compiled.findings.exit_code


def validate(path: PathLike = ".", rev: str | None = None, *, no_cache: bool = False) -> Compiled:
    """`vfleet validate`: the fleet compiled (specs, references, parameters, placement, rendered values)."""
    from vfleet import compile as compiler

    return compiler.compile_path(Path(path), rev, no_cache=no_cache)


def compile(  # named after the command; it shadows the builtin in this module only
    path: PathLike = ".", rev: str | None = None, *, out: PathLike = "build", no_cache: bool = False
) -> CompileResult:
    """`vfleet compile`: the fleet compiled and, when it has no errors, written to `out` (replaced
    atomically)."""
    from vfleet import compile as compiler

    compiled = compiler.compile_path(Path(path), rev, no_cache=no_cache)
    written = compiler.write_output(compiled, Path(out)) if compiled.ok else []
    return CompileResult(compiled, tuple(written), Path(out))


@dataclass(frozen=True)
class PlaceResult:
    compiled: Compiled
    changed: bool  # fleet/placement.lock was written (False: up to date, or the fleet has errors)

    @property
    def exit_code(self) -> int:
        return self.compiled.findings.exit_code


def place(path: PathLike = ".", *, no_cache: bool = False) -> PlaceResult:
    """`vfleet place`: new tenants placed (placed ones stay where they are) and fleet/placement.lock
    written, unless the fleet has errors."""
    from vfleet import compile as compiler
    from vfleet.place import write_lock

    compiled = compiler.compile_path(Path(path), None, no_cache=no_cache, check_lock=False)
    changed = False if compiled.findings.errors else write_lock(compiled.root, compiled.placement)
    return PlaceResult(compiled, changed)


@dataclass(frozen=True)
class TenantView:
    """`vfleet show tenant`: one tenant of a compiled fleet, and the findings about it."""

    compiled: Compiled
    key: str
    findings: Findings  # those whose subject is this tenant

    @property
    def exit_code(self) -> int:
        return self.findings.exit_code


class UnknownTenant(VfleetError):
    """No tenant of that key in the fleet (exit 2)."""


def show_tenant(key: str, path: PathLike = ".", rev: str | None = None) -> TenantView:
    """`vfleet show tenant <project>/<tenant>`: the tenant as compiled (the placement lock is not checked:
    the lock's own findings are not this tenant's)."""
    from vfleet import compile as compiler

    compiled = compiler.compile_path(Path(path), rev, no_cache=False, check_lock=False)
    if key not in compiled.fleet.tenants:
        known = [k for k in compiled.fleet.tenants if k.split("/")[-1] == key.split("/")[-1]]
        hint = f" (did you mean {', '.join(known)}?)" if known else ""
        raise UnknownTenant(f"no tenant {key!r}{hint}")
    return TenantView(compiled, key, Findings.of(f for f in compiled.findings if f.subject == f"tenant:{key}"))


def check(
    path: PathLike = ".",
    rev: str | None = None,
    *,
    opa_url: str | None = None,
    no_cache: bool = False,
    live: bool = False,
    live_base: str | None = None,
) -> CheckReport:
    """`vfleet check`: the fleet compiled and judged by its own policies/ on OPA (a local one unless
    `opa_url`); with `live`, also server-side dry runs on the connected clusters."""
    from vfleet import compile as compiler
    from vfleet import policy
    from vfleet.core import caches
    from vfleet.policy.verdicts import VerdictCache

    root = compiler.find_root(Path(path))
    cache = None if no_cache else compiler.parse_cache(root)
    verdicts = None if no_cache else VerdictCache.at(caches.cache_dir())
    report = policy.check(root, rev, opa_url=opa_url, cache=cache, verdicts=verdicts)
    if live:
        from vfleet.live.dryrun import with_live

        report = with_live(report, live_base)
    return report


def plan(path: PathLike = ".", base: str = "", head: str | None = None, options: Options | None = None) -> Plan:
    """`vfleet plan --base BASE`: base and head compiled from Git, diffed per connected cluster, guarded,
    judged by policy. Unless `options.applied` is given, what each stack last applied is read from the
    apply records, as the command does (a tenant missing from head but live is then a deletion)."""
    from vfleet import compile as compiler
    from vfleet.plan import Options
    from vfleet.plan import plan as plan_fleet

    if not base:
        raise VfleetError("plan: a base revision is required (e.g. origin/main)")
    root = compiler.find_root(Path(path))
    chosen = options or Options()
    if chosen.applied is None:
        chosen = replace(chosen, applied=applied_tenants(root))
    return plan_fleet(root, base, head, chosen)


def applied_tenants(root: Path) -> dict[str, Applied]:
    """Each stack's last applied tenants, from the apply records (none when nothing was applied from here)."""
    from vfleet.apply import records
    from vfleet.plan import vanished

    store = records.open_records(root)
    out: dict[str, vanished.Applied] = {}
    for cluster in store.applied_stacks():
        sources = store.applied_sources(cluster)
        if sources is not None:
            out[cluster] = vanished.Applied(frozenset(sources.tenants), sources.tenants, sources.untracked)
        elif (state := store.applied_state(cluster)) is not None:
            out[cluster] = vanished.Applied(frozenset(vanished.tenants_of(state)), None)
    return out
