"""What an apply decides before the first engine call, besides selection and skip-unchanged (`decide`):

- the rollout wave order (`wave_order`): a later wave never runs before an earlier one applied this commit;
- the deletion guards of every stack about to run, and the moves across stacks (`guard_all`);
- the tenants that leave a stack's last applied state, with their reason (`vanishing`, vfleet.plan.vanished);
- what an apply records besides the state: where each tenant was read (`tenant_sources`).

Each is a function of the compiled fleet, the schedule and the records; nothing here reaches an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from vfleet import compile as compiler
from vfleet.apply import prechecks
from vfleet.apply.decide import Schedule
from vfleet.apply.records import Records, Sources
from vfleet.core.findings import Finding
from vfleet.desired import DesiredState
from vfleet.plan import vanished
from vfleet.plan.vanished import Vanished


def vanishing(
    compiled: compiler.Compiled,
    stacks: Iterable[tuple[str, DesiredState | None, DesiredState | None]],
    records: Records,
    override: str | None,
) -> list[Vanished]:
    """Tenants of each stack's last applied state (`base`) that its new desired state lacks, with the reason;
    `stacks` are (cluster, base, new state). Git's index is read only when some tenant is missing."""
    out: list[Vanished] = []
    side: vanished.Side | None = None
    for cluster, base, state in stacks:
        if base is None or state is None:
            continue
        applied, wanted = vanished.tenants_of(base), vanished.tenants_of(state)
        if applied <= wanted:
            continue
        side = side or vanished.work_tree_side(compiled.root, compiled.fleet.loaded.documents)
        sources = records.applied_sources(cluster)
        out += vanished.find(cluster, applied, sources.tenants if sources else None, wanted,
                             compiled.placement.clusters, side, override=override,
                             untracked=sources.untracked if sources else frozenset())
    return out


def tenant_sources(compiled: compiler.Compiled, state: DesiredState) -> Sources:
    """Where each tenant of `state` was read ("file:line"), kept with the applied state, and which of those
    files Git does not track (their later removal is no deletion Git knows about)."""
    tenants = compiled.fleet.tenants
    where = {key: tenants[key].doc for key in sorted(vanished.tenants_of(state)) if key in tenants}
    untracked = vanished.untracked_of(compiled.root, {doc.file for doc in where.values()})
    return Sources({key: f"{doc.file}:{doc.line}" for key, doc in where.items()}, untracked)


BackendHashes = Callable[[Sequence[str]], Mapping[str, str | None]]


def wave_order(
    compiled: compiler.Compiled,
    schedule: Schedule,
    states: Mapping[str, DesiredState],
    waves: Mapping[str, int],
    applied: Mapping[str, str | None],
    records: Records,
    wave_override: str | None,
    backend_hashes: BackendHashes | None,
) -> list[Finding]:
    """Refuse (prechecks.Refused) stacks that would run before an earlier wave applied this commit.

    Earlier clusters this run does not include are looked up in the records, then (for a CI runner whose
    records never saw them) in the backend's stack outputs. Unknown counts as not applied: fail closed,
    unless `--override-wave-order` gives a reason, which is recorded with the run.
    """
    from vfleet import waves as rollout

    earlier = sorted(
        c for c, w in waves.items() if c in states and c not in applied and any(w < t.wave for t in schedule.to_run)
    )
    known: dict[str, str | None] = {**applied, **records.applied_hashes(earlier)}
    unknown = [c for c in earlier if known.get(c) != states[c].hash]
    if unknown and backend_hashes is not None:
        known |= {c: h for c, h in backend_hashes(unknown).items() if h is not None}
    decided = rollout.order(
        [(t.cluster, t.wave) for t in schedule.to_run],
        {c: s.hash for c, s in states.items()},
        waves,
        known,
        override=wave_override,
        sources={
            c: compiled.fleet.location(i.doc, ("spec", "rollout", "wave")) for c, i in compiled.fleet.clusters.items()
        },
    )
    if decided.refused:
        raise prechecks.Refused(
            "a later rollout wave would run before an earlier one applied this commit "
            "(--override-wave-order REASON runs it anyway, recorded)",
            decided.findings,
        )
    return list(decided.findings.warnings)


def guard_all(
    schedule: Schedule,
    bases: Mapping[str, DesiredState | None],
    guard: prechecks.Guard,
    override: str | None,
    *,
    placement: Mapping[str, str] | None = None,
) -> dict[str, tuple[Finding, ...]]:
    """Deletion-guard findings of every stack about to run (previews are guarded too: same answer).

    Besides each stack's own guard, the one that needs the whole fleet (as `vfleet plan` has it): a tenant
    that leaves a stack's base while `placement` (tenant -> cluster, the fleet being applied) puts it on
    another cluster is a move, and its source namespace is refused unless overridden.
    """
    from vfleet.plan import guards

    out: dict[str, list[Finding]] = {}
    for target in schedule.to_run:
        base = bases.get(target.cluster)
        found = list(guard(target.cluster, base, target.state, override=override))
        if base is not None and placement is not None:
            staying = {r.tenant for r in target.state.resources} if target.state is not None else set()
            moves = sorted(
                (key, target.cluster, placement[key], False)
                for key in {r.tenant for r in base.resources if r.tenant} - staying
                if key is not None and placement.get(key) not in (None, target.cluster)
            )
            found += [hit.finding() for hit in guards.check_moves(moves, override) if hit.blocking]
        if found:
            out[target.cluster] = found
    return {cluster: tuple(found) for cluster, found in out.items()}
