"""Every decision of an apply, as pure functions of desired states, records and results.

Which stacks run (selection), which are skipped (their desired-state hash equals the one recorded by
their last successful apply), in which wave (the Cluster's `rollout.wave`, ascending), and what a set of
results means (`exit_code`). The engine never decides any of this; it is handed a `Target` and returns a
`StackResult`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from vfleet.core.errors import VfleetError
from vfleet.desired import DesiredState


class Operation(StrEnum):
    UP = "up"
    PREVIEW = "preview"
    DESTROY = "destroy"


class Result(StrEnum):
    APPLIED = "applied"  # the engine ran and succeeded (for a preview: the preview succeeded)
    SKIPPED = "skipped"  # unchanged since its last successful apply: no engine call at all
    FAILED = "failed"  # the engine (or resolving the cluster's kubeconfig) failed
    REFUSED = "refused"  # a deletion guard refused the change; nothing ran
    NOT_STARTED = "not-started"  # an earlier wave did not fully succeed


OK_RESULTS = (Result.APPLIED, Result.SKIPPED)
# Engine step kinds that are not changes.
_UNCHANGED_OPS = ("same", "read", "refresh")


class SelectionError(VfleetError):
    """`--cluster` or `--wave` names something the fleet does not have (exit 2)."""


@dataclass(frozen=True)
class Target:
    """One stack to consider: its cluster, wave, and the desired state it would apply (None: destroy)."""

    cluster: str
    wave: int
    state: DesiredState | None

    @property
    def hash(self) -> str | None:
        return self.state.hash if self.state is not None else None


@dataclass(frozen=True)
class StackResult:
    cluster: str
    wave: int
    result: Result
    changes: Mapping[str, int] = field(default_factory=dict)
    message: str = ""
    adopted: tuple[str, ...] = ()
    started: str = ""
    ended: str = ""
    scope: str = ""  # how the engine ran: "targeted: ..." or "full: <why>" (empty when it did not run)

    @property
    def changed(self) -> int:
        return sum(n for op, n in self.changes.items() if op not in _UNCHANGED_OPS)


@dataclass(frozen=True)
class Schedule:
    """Stacks to run, wave by wave (ascending), and the ones skipped as unchanged."""

    waves: tuple[tuple[Target, ...], ...]
    skipped: tuple[Target, ...]

    @property
    def to_run(self) -> tuple[Target, ...]:
        return tuple(t for wave in self.waves for t in wave)


def select(
    states: Mapping[str, DesiredState],
    waves: Mapping[str, int],
    clusters: Sequence[str] = (),
    wave: int | None = None,
) -> list[Target]:
    """The targets of `--cluster C ...` (all clusters when none) and `--wave N` (all waves when None)."""
    unknown = sorted(set(clusters) - set(states))
    if unknown:
        raise SelectionError(f"no connected cluster named {', '.join(unknown)} (known: {', '.join(sorted(states))})")
    if wave is not None and wave not in set(waves.values()):
        raise SelectionError(
            f"no cluster is in wave {wave} (waves: {', '.join(map(str, sorted(set(waves.values()))))})"
        )
    chosen = sorted(set(clusters)) if clusters else sorted(states)
    return [Target(c, waves[c], states[c]) for c in chosen if wave is None or waves[c] == wave]


def plan(targets: Iterable[Target], applied: Mapping[str, str | None], *, force: bool = False) -> Schedule:
    """Group the targets into waves; a target whose hash equals its last applied hash is skipped."""
    run: dict[int, list[Target]] = {}
    skipped: list[Target] = []
    for target in sorted(targets, key=lambda t: (t.wave, t.cluster)):
        if not force and target.hash is not None and applied.get(target.cluster) == target.hash:
            skipped.append(target)
        else:
            run.setdefault(target.wave, []).append(target)
    return Schedule(tuple(tuple(run[w]) for w in sorted(run)), tuple(skipped))


def pending_earlier(
    states: Mapping[str, DesiredState], waves: Mapping[str, int], applied: Mapping[str, str | None], wave: int
) -> list[str]:
    """Clusters of waves before `wave` whose desired state is not yet applied: `--wave N` waits for them."""
    return sorted(c for c, w in waves.items() if w < wave and c in states and applied.get(c) != states[c].hash)


def wave_failed(results: Iterable[StackResult]) -> bool:
    return any(r.result not in OK_RESULTS for r in results)


def not_started(waves: Sequence[Sequence[Target]], reason: str) -> list[StackResult]:
    return [StackResult(t.cluster, t.wave, Result.NOT_STARTED, message=reason) for wave in waves for t in wave]


def exit_code(results: Iterable[StackResult], operation: Operation = Operation.UP) -> int:
    """0 every stack applied or skipped; 1 any failed, refused or not started; a preview with changes: 3."""
    items = list(results)
    if any(r.result not in OK_RESULTS for r in items):
        return 1
    if operation is Operation.PREVIEW and any(r.changed for r in items):
        return 3
    return 0


def summary(results: Iterable[StackResult]) -> dict[str, list[str]]:
    """Cluster names by result, for the closing line and `--output json`."""
    out: dict[str, list[str]] = {r.value: [] for r in Result}
    for item in results:
        out[item.result.value].append(item.cluster)
    return {k: sorted(v) for k, v in out.items() if v}
