"""Shards: each rollout wave's stacks split among N CI runners, the same way by every one of them.

`vfleet apply --wave W --shard I/N` on N runners at once applies wave W's stacks, each stack on exactly one
runner: every runner compiles the same commit, so every runner computes the same split, and no list of
clusters has to be handed from a planning job to the runners (a GitHub Actions matrix holds at most 256
jobs; 1,000 clusters do not fit one job each anyway).

The rule, per wave: the wave's stacks in the order of the SHA-256 of their cluster name, cut into N
contiguous runs whose sizes differ by at most one; shard I (1-based) is the I-th run. Why this one:

- balanced: every shard of a wave holds floor(M/N) or ceil(M/N) of its M stacks. A fleet-wide change (a
  chart upgrade: every stack through the engine) takes as long as the largest shard; `hash mod N` gives
  shards of 11 to 23 stacks where the mean is 17 (333 stacks, N = 20), runs of the sorted names give 16-17;
- spread: the hash order is unrelated to the names, so a change to one region (`eu-*`) or one naming
  family lands on every shard, not on the one or two that a cut of the sorted names would give all of it;
- stable: a cluster added (or removed) shifts each cut by at most one position, so at most N-1 stacks of
  its wave change shard (about N/2 on average, 7 of 333 at N = 20); every other stack keeps its runner.
  That matters where a runner keeps something per shard (a CI cache of `.vfleet/state` for backends that
  do not hold vfleet's records, gs:// or Pulumi Cloud); with s3:// and file:// nothing depends on it.

Every wave is split on its own, so `--shard I/N` without `--wave` gives a runner 1/N of every wave, which it
runs in wave order; concurrent runners of a fleet with several changing waves are refused by the wave order
(`preflight.wave_order`: another shard's earlier wave is not applied yet), hence one CI job per wave.

`matrix` is the CI side (`vfleet plan --matrix --shards N`): per changed wave, the shards to start.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vfleet.apply.decide import Target
from vfleet.core.errors import VfleetError
from vfleet.waves import Wave

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class ShardError(VfleetError):
    """A `--shard` value that is not I/N with 1 <= I <= N (exit 2)."""


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as people and CI matrices count
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ShardError(f"shard {self.index}/{self.count}: the index must be between 1 and the count")

    @staticmethod
    def parse(text: str) -> Shard:
        found = _SHARD.fullmatch(text)
        if found is None:
            raise ShardError(f"--shard {text!r}: expected I/N, e.g. 3/20 (runner 3 of 20)")
        return Shard(int(found.group(1)), int(found.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _key(cluster: str) -> tuple[str, str]:
    return hashlib.sha256(cluster.encode("utf-8")).hexdigest(), cluster


def split(clusters: Iterable[str], count: int) -> tuple[tuple[str, ...], ...]:
    """`clusters` (one wave's) cut into `count` shards by the rule above; each shard's names sorted."""
    if count < 1:
        raise ShardError(f"{count} shards: at least one is needed")
    ordered = sorted(set(clusters), key=_key)
    size = len(ordered)
    return tuple(tuple(sorted(ordered[i * size // count : (i + 1) * size // count])) for i in range(count))


def assignment(waves: Mapping[str, int], count: int) -> dict[str, int]:
    """Every cluster's shard (1-based) among `count`, each wave split on its own."""
    by_wave: dict[int, list[str]] = {}
    for cluster, wave in waves.items():
        by_wave.setdefault(wave, []).append(cluster)
    return {c: i for w in sorted(by_wave) for i, part in enumerate(split(by_wave[w], count), start=1) for c in part}


def select(targets: Sequence[Target], shard: Shard) -> list[Target]:
    """The targets that are this shard's (the selection, e.g. `--wave`, is split wave by wave)."""
    mine = assignment({t.cluster: t.wave for t in targets}, shard.count)
    return [t for t in targets if mine[t.cluster] == shard.index]


def matrix(changed: Sequence[Wave], most: int) -> list[dict[str, Any]]:
    """CI matrices, one per changed wave (ascending), each `{"wave", "shards", "include": [{"wave", "shard"}]}`.

    A wave gets `most` shards, or as many as it has changed stacks when that is fewer: more runners than
    changes cannot make it faster. A shard still holds 1/count of all the wave's stacks; which of them are
    changed is up to their hashes, so with few changes a runner may find only unchanged stacks (skipped,
    no engine: it costs that runner its compile)."""
    if most < 1:
        raise ShardError(f"--shards {most}: at least one runner per wave is needed")
    out: list[dict[str, Any]] = []
    for wave in changed:
        count = min(most, len(wave.clusters))
        out.append({"wave": wave.wave, "shards": count,
                    "include": [{"wave": wave.wave, "shard": f"{i}/{count}"} for i in range(1, count + 1)]})
    return out
