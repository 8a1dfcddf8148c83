"""Rollout waves: canary clusters first, and a later wave only once every earlier one has the commit.

Two pure decisions, shared by `vfleet plan --matrix` (which emits the waves for CI, one job per wave)
and `vfleet apply` (which refuses a stack that jumps the queue):

- `matrix(clusters, waves)`: the affected clusters grouped by `rollout.wave`, ascending;
- `order(...)`: for the stacks an apply is about to run, the clusters of earlier waves that have not
  applied their desired state of this commit yet. A cluster of an earlier wave is "done" when the hash
  of its desired state at this commit equals the hash of what it last applied successfully, so an
  earlier cluster this commit does not change is done already, and a dirty work tree never counts.
  Earlier clusters selected in the same apply are not waiting: the apply runs them first and stops
  the later waves when one fails. Unknown (never recorded) counts as not applied: fail closed.

Overriding is explicit and carries a reason, which the apply records with the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vfleet.core import subjects
from vfleet.core.findings import Finding, Findings, Location, Severity, error


@dataclass(frozen=True)
class Wave:
    wave: int
    clusters: tuple[str, ...]


def matrix(clusters: Iterable[str], waves: Mapping[str, int]) -> tuple[Wave, ...]:
    """`clusters` by wave, ascending; a cluster without a known wave (a removed Cluster spec) is wave 0."""
    by: dict[int, list[str]] = {}
    for name in sorted(set(clusters)):
        by.setdefault(waves.get(name, 0), []).append(name)
    return tuple(Wave(w, tuple(by[w])) for w in sorted(by))


@dataclass(frozen=True)
class Order:
    """What `order` decided: per stack about to run, the earlier-wave clusters it would jump ahead of."""

    waiting: Mapping[str, tuple[str, ...]]  # cluster to run -> earlier clusters not at this commit yet
    override: str | None  # the reason given to run anyway (recorded with the run), None when not given
    findings: Findings

    @property
    def refused(self) -> bool:
        """True when something waits and nobody said why to go ahead: nothing may run."""
        return bool(self.waiting) and self.override is None


def order(
    to_run: Iterable[tuple[str, int]],
    desired_hashes: Mapping[str, str],
    waves: Mapping[str, int],
    applied_hashes: Mapping[str, str | None],
    *,
    override: str | None = None,
    sources: Mapping[str, Location] | None = None,
) -> Order:
    """Which of the stacks in `to_run` ((cluster, wave) pairs) would run before an earlier wave is done.

    `desired_hashes`: every cluster's desired-state hash at this commit; `waves`: every cluster's wave;
    `applied_hashes`: what each cluster last applied successfully (None or missing: unknown);
    `override`: a non-empty reason to run anyway; `sources`: where each Cluster spec's wave is written,
    for the findings' file:line. A blank override is no override.
    """
    running = dict(to_run)
    reason = override.strip() if override is not None and override.strip() else None
    waiting: dict[str, tuple[str, ...]] = {}
    for cluster, wave in sorted(running.items()):
        behind = tuple(
            sorted(
                other
                for other, other_wave in waves.items()
                if other_wave < wave
                and other not in running
                and other in desired_hashes
                and applied_hashes.get(other) != desired_hashes[other]
            )
        )
        if behind:
            waiting[cluster] = behind
    found: list[Finding] = []
    for cluster, behind in waiting.items():
        where = (sources or {}).get(cluster)
        what = (f"cluster {cluster} is in wave {running[cluster]}, but earlier-wave cluster(s) "
                f"{', '.join(f'{b} (wave {waves[b]})' for b in behind)} have not applied this commit yet")
        if reason is None:
            found.append(error("apply.wave-order", f"{what}: apply them first (`vfleet apply --cluster "
                               f"{behind[0]}`), or run anyway with --override-wave-order '<reason>' (recorded)",
                               where, subjects.cluster(cluster)))
        else:
            found.append(Finding(Severity.WARN, "apply.wave-order", f"{what}; run anyway: {reason}", where,
                                 subjects.cluster(cluster)))
    return Order(waiting, reason, Findings.of(found))
