"""vfleet as a library: one function per command, doing what the command does, returning its result.

    from vfleet import api

    compiled = api.validate("path/to/fleet")          # vfleet validate
    report = api.check("path/to/fleet")                # vfleet check
    result = api.plan("path/to/fleet", base="origin/main")   # vfleet plan --base origin/main

Each takes the fleet repository (or its fleet/ folder) and the command's options as keyword arguments,
finds the repository root, and uses the same caches the command would (under `vfleet.core.caches`), unless
`no_cache`. Nothing prints or exits: results carry their findings and an `exit_code`, the number the
command would exit with. Bad input is a finding; what stops the command before it has a result (no
repository, a Git revision that does not exist, a fleet that does not compile where a compiled one is
needed) raises a `VfleetError` with the command's exit code.

Every import is made inside the function that needs it: `import vfleet.api` costs nothing, and
`api.validate` never loads the Kubernetes client or the apply engine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings

if TYPE_CHECKING:
    from vfleet.compile import Compiled
    from vfleet.live.drift import DriftReport
    from vfleet.live.status import FleetStatus
    from vfleet.plan import Options, Plan
    from vfleet.plan.vanished import Applied
    from vfleet.policy import CheckReport
    from vfleet.reach import Target

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


@dataclass(frozen=True)
class CodeownersResult:
    """`vfleet codeowners`: the forge's CODEOWNERS file, written or (with `check`) compared."""

    path: str  # the file, relative to the repository root
    written: bool  # changed on disk by this run
    checked: bool  # only compared with the committed file (`--check`)
    findings: Findings  # the fleet's problems, and with `check` a stale file

    @property
    def exit_code(self) -> int:
        return self.findings.exit_code


class BadForge(VfleetError):
    """`--forge` names no forge vfleet writes CODEOWNERS for (exit 2)."""


def codeowners(path: PathLike = ".", *, forge: str | None = None, check: bool = False) -> CodeownersResult:
    """`vfleet codeowners`: CODEOWNERS from projects, teams and platform roles (docs/access.md); nothing is
    written when the fleet has errors or with `check`."""
    from vfleet import compile as compiler
    from vfleet import owners
    from vfleet.repo.tree import open_tree

    if forge is not None and forge not in owners.PATHS:
        raise BadForge(f"--forge must be one of {', '.join(owners.PATHS)}")
    compiled = compiler.compile_path(Path(path), check_lock=False)
    root = compiled.root
    settings, problems = owners.read_settings(open_tree(root))
    if forge is not None:
        chosen: owners.Forge = "github" if forge == "github" else "gitlab"
        settings = owners.Settings(chosen, owners.PATHS[chosen])
    settings = settings or owners.Settings("github", owners.PATHS["github"])
    found = Findings.of([*compiled.fleet.findings, *problems])
    if found.errors:
        return CodeownersResult(settings.path, False, check, found)
    if check:
        stale = owners.check(compiled.fleet, open_tree(root), settings)
        return CodeownersResult(settings.path, False, True, Findings.of([*found, *stale]))
    target = root / settings.path
    text = owners.render(owners.rules(compiled.fleet))
    changed = not target.is_file() or target.read_text(encoding="utf-8") != text
    if changed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return CodeownersResult(settings.path, changed, False, found)


@dataclass(frozen=True)
class KubeconfigResult:
    """`vfleet kubeconfig`: the kubeconfig, the tenants it reaches, and what the caller should know."""

    config: dict[str, Any]
    text: str  # the kubeconfig as YAML, as written
    targets: tuple[Target, ...]
    live: bool  # each tenant was checked deployed (`--live`)
    findings: Findings  # problems elsewhere in the fleet: shown, they do not withhold the kubeconfig
    notes: tuple[str, ...]  # warnings for the caller (a tenant that grants them nothing; not checked live)


class NoKubeconfig(VfleetError):
    """A tenant asked for cannot be reached (`reach.ReachError`, exit 2); `findings`: the fleet's problems,
    which may be why."""

    def __init__(self, message: str, findings: Findings) -> None:
        super().__init__(message)
        self.findings = findings


def kubeconfig(
    path: PathLike = ".",
    rev: str | None = None,
    *,
    tenant: str | None = None,
    project: str | None = None,
    user: str | None = None,
    groups: Sequence[str] = (),
    live: bool = False,
    out: PathLike | None = None,
) -> KubeconfigResult:
    """`vfleet kubeconfig`: for one tenant or every tenant of `project` the caller may see; with `out`, also
    written there (mode 0600). `NoKubeconfig` (exit 2) when a tenant cannot be reached."""
    from vfleet import compile as compiler
    from vfleet import reach
    from vfleet.render import schemas

    if (tenant is None) == (project is None):
        raise reach.ReachError("name one tenant (<project>/<tenant>) or give --project, not both")
    compiled = compiler.compile_path(Path(path), rev, check_lock=False)
    shown = compiled.findings if compiled.findings.errors else Findings()
    who = reach.caller(user, groups)
    try:
        if project is not None:
            targets = reach.project_targets(compiled, project, who)
        else:
            assert tenant is not None
            targets = [reach.tenant_target(compiled, tenant, who)]
        if live:
            _check_deployed(compiled, targets)
        config = reach.kubeconfig(targets, schemas.read_settings(compiled.tree).identity)
    except reach.ReachError as exc:
        raise NoKubeconfig(str(exc), shown) from exc
    text = reach.to_yaml(config)
    if out is not None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # no secret inside, kept private anyway
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    notes = [f"warning: {t.key}: no access rule binds the given groups/users; the kubeconfig logs in, the tenant "
             "grants nothing" for t in targets if not t.roles]
    if not live:
        notes.append("note: not checked against the clusters; each tenant is reachable with this once deployed "
                     "(--live checks)")
    elif out is not None:
        notes.append(f"wrote {out} ({len(targets)} context(s))")
    return KubeconfigResult(config, text, tuple(targets), live, shown, tuple(notes))


def _check_deployed(compiled: Compiled, targets: Sequence[Target]) -> None:
    from vfleet import reach
    from vfleet.live.status import fleet_status

    status = fleet_status(compiled, sorted({t.cluster for t in targets}), activity=False)
    rows = {row.key: row for row in status.tenants}
    problems = []
    for t in targets:
        row = rows.get(t.key)
        problem = reach.deployed_problem(str(row.phase) if row else "unknown", row.reason if row else "", t)
        if problem:
            problems.append(problem)
    if problems:
        raise reach.ReachError("; ".join(problems))


__all__ = ["BadForge", "CodeownersResult", "CompileResult", "FleetBroken", "KubeconfigResult", "NoKubeconfig",
           "PlaceResult", "TenantView", "UnknownTenant", "applied_tenants", "check", "codeowners", "compile", "drift",
           "kubeconfig", "place", "plan", "show_tenant", "status", "validate"]
