"""Which resources an engine run has to look at: the change, or (when that cannot be proven) everything.

The engine's cost grows with what it is asked to diff: an untargeted `up` of a 100-tenant stack diffs
~700 resources to apply one tenant's change. vfleet knows what changed — the stack's last applied
desired state (the base, from the records) against the one about to be applied (the head) — so the
engine is run with `target` set to the URNs of the resources that differ, what they depend on, the
provider and the stack itself (whose outputs carry the applied desired-state hash).

That is only right when the stack's state is exactly what the base describes. `scope` runs the whole
stack instead whenever it cannot prove that:

- asked to (`--full`), or no base is known (first apply, or records lost);
- the stack's own outputs do not carry the base's hash (someone ran `pulumi up` by hand, another
  runner applied with other records, an apply died after the engine changed the stack);
- the engine fingerprint changed (provider settings, credentials, adapter, SDK): every resource's inputs
  or provider may differ even where the desired state does not;
- the state holds operations an interrupted run left pending;
- the hashes differ but no resource does (a change vfleet cannot attribute to a resource).

Deletions are targeted like any other change; they were guarded before this point exactly as in a full
run (`gate.deletion_guard`), so targeting never lets through what a full run would have refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vfleet.desired import DesiredState, Resource


@dataclass(frozen=True)
class Scope:
    """`full`: run the whole stack, because of `reason`; else only `ids` (with provider and stack)."""

    full: bool
    reason: str
    ids: tuple[str, ...] = ()  # resource ids: changed, added, removed, and what those depend on

    @staticmethod
    def whole(reason: str) -> Scope:
        return Scope(True, reason)


@dataclass(frozen=True)
class StackFacts:
    """What the stack's exported state says about itself (read before every run)."""

    desired_hash: str | None  # the `vfleetDesiredHash` output of its last update
    fingerprint: str | None  # the `vfleetEngineFingerprint` output of its last update
    pending: int  # operations an interrupted update left pending
    resources: int  # resources in the state (the stack resource and provider included)


def scope(
    base: DesiredState | None,
    head: DesiredState,
    facts: StackFacts,
    fingerprint: str,
    *,
    full: bool = False,
) -> Scope:
    """The resources an `up` of `head` has to touch, given the stack's `facts` (see the module docstring)."""
    if full:
        return Scope.whole("a full apply was asked for (--full)")
    if base is None:
        return Scope.whole("no earlier apply of this stack is recorded")
    if facts.resources == 0:
        return Scope.whole("the stack's state is empty")
    if facts.desired_hash != base.hash:
        return Scope.whole(
            "the stack's state does not carry the recorded desired state "
            f"({(facts.desired_hash or 'none')[:12]} in the state, {base.hash[:12]} recorded): it was changed "
            "by another run"
        )
    if facts.fingerprint != fingerprint:
        return Scope.whole("the engine settings changed (provider, credentials, adapter or SDK version)")
    if facts.pending:
        return Scope.whole(f"an interrupted run left {facts.pending} pending operation(s) in the state")
    ids = changed_ids(base, head)
    if not ids:
        return Scope.whole("the desired state changed, but no resource did")
    return Scope(False, f"{len(ids)} changed resource(s)", with_dependencies(ids, head.by_id, base.by_id))


def changed_ids(base: DesiredState, head: DesiredState) -> tuple[str, ...]:
    """Ids added, removed, or different in any field (body, dependencies, protection)."""
    before, after = base.by_id, head.by_id
    changed = {rid for rid, resource in after.items() if before.get(rid) != resource}
    changed |= set(before) - set(after)
    return tuple(sorted(changed))


def with_dependencies(
    ids: Iterable[str], head: Mapping[str, Resource], base: Mapping[str, Resource]
) -> tuple[str, ...]:
    """`ids` and, transitively, every resource they depend on (in head, or in base for removed ones).

    The engine refuses a targeted create whose dependency it is not allowed to look at.
    """
    seen: set[str] = set()
    todo = list(ids)
    while todo:
        rid = todo.pop()
        if rid in seen:
            continue
        seen.add(rid)
        resource = head.get(rid) or base.get(rid)
        if resource is not None:
            todo.extend(d for d in resource.depends_on if d not in seen)
    return tuple(sorted(seen))
