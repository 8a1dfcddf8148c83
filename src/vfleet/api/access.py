"""The library calls of the access commands: codeowners (who reviews what), kubeconfig (reaching a tenant)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfleet.api.fleet import PathLike
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings

if TYPE_CHECKING:
    from vfleet.compile import Compiled
    from vfleet.reach import Target


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


def platform(path: PathLike = ".", rev: str | None = None) -> Compiled:
    """`vfleet show platform`: the fleet compiled for its access layers (platform roles per connected
    cluster, each project's host access); placement.lock is not checked, access does not depend on it."""
    from vfleet import compile as compiler

    return compiler.compile_path(Path(path), rev, check_lock=False)


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
