"""Stage 4 — place: each tenant -> the connected cluster it lives on, sticky, recorded in a lock file.

Placement is decided in this order, and only the last step ever chooses:

1. explicit: `spec.cluster` wins (whether the project allows that cluster is policy's call, not ours);
2. sticky: a tenant recorded in `fleet/placement.lock` (the format: `vfleet.place.lock`) stays on that
   cluster while it exists, even when the cluster is now full or no longer matches — a tenant never
   moves unless someone says so;
3. chosen: among the project's allowed clusters that match the tenant's `spec.placement` selector,
   offer its private-node providers and have room for its size, the one with the most headroom.

Capacity is counted in the same order (explicit, then locked, then new tenants by key), so adding
clusters or tenants can change where *new* tenants go but never where placed ones are. The lock file
is how Git shows that: `vfleet place` writes it, and compile refuses a lock that does not match.

Choosing is a heap per group of tenants with the same candidate clusters, re-scored lazily (a score
only gets worse as tenants are added), so 10,000 tenants over 100 clusters cost ~O(n log c).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from heapq import heapify, heappop, heappush, heapreplace
from pathlib import Path
from typing import Literal

from vfleet.core import subjects
from vfleet.core.findings import Finding, Severity, error
from vfleet.core.gcpause import gc_paused
from vfleet.core.units import parse_quantity
from vfleet.load import LOCK_FILE
from vfleet.load import Lock as Lock  # re-exported with the lock's reader
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams, Resources
from vfleet.place import lock as placelock
from vfleet.place import reasons as place_reasons
from vfleet.place.lock import LOCK_KIND as LOCK_KIND  # re-exported: the stage's callers read the lock
from vfleet.place.lock import read_lock as read_lock
from vfleet.specs import LabelSelector

PlacedBy = Literal["explicit", "locked", "chosen"]


@dataclass(frozen=True)
class Placement:
    clusters: dict[str, str]  # tenant key -> cluster, sorted by key; tenants that cannot be placed are absent
    placed_by: dict[str, PlacedBy]  # how each tenant got its cluster (for reports)
    stale: tuple[str, ...]  # placed tenants whose lock entry is missing or names another cluster
    removed: tuple[str, ...]  # lock entries of tenants that are no longer placed
    findings: tuple[Finding, ...] = ()

    def lock_text(self) -> str:
        """The exact content of fleet/placement.lock that records this placement."""
        return placelock.lock_text(self.clusters)

    def tenants_on(self, cluster: str) -> tuple[str, ...]:
        return tuple(key for key, name in self.clusters.items() if name == cluster)


def write_lock(root: Path, placement: Placement) -> bool:
    """Write `placement`'s lock under `root` atomically (`placelock.write_lock`); False when current."""
    return placelock.write_lock(root, placement.clusters)


# ------------------------------------------------------------------------------------------- clusters


def allowed_clusters(fleet: Fleet, project: str) -> tuple[str, ...]:
    """The clusters a project may use: its listed names plus those its selector matches; all if neither."""
    item = fleet.projects.get(project)
    if item is None:
        return ()
    allowed = item.manifest.spec.clusters
    if not allowed.names and allowed.selector is None:
        return tuple(fleet.clusters)
    names = set(allowed.names)
    selector = allowed.selector
    return tuple(
        name
        for name, cluster in fleet.clusters.items()
        if name in names or (selector is not None and selector.matches(cluster.manifest.metadata.labels))
    )


# Sizes in integers, so sums are exact and cheap: cpu in millicores, memory and storage in bytes, gpus,
# and the tenant itself (one of a cluster's maxTenants). A tenant's need rounds up, a capacity down.
Need = tuple[int, int, int, int, int]  # dimensions as place_reasons.DIMS
_SCALE = (1000, 1, 1, 1, 1)
_NOTHING: Need = (0, 0, 0, 0, 1)


@lru_cache(maxsize=4096)
def _units(text: str, scale: int, up: bool) -> int:
    value = parse_quantity(text).value * scale
    return math.ceil(value) if up else math.floor(value)


def _need(resources: Resources | None) -> Need:
    if resources is None:
        return _NOTHING
    r = resources
    return (
        _units(r.cpu.text, 1000, True) if r.cpu else 0,
        _units(r.memory.text, 1, True) if r.memory else 0,
        _units(r.storage.text, 1, True) if r.storage else 0,
        r.gpus,
        1,
    )


Score = tuple[float, int, str]  # (-headroom, tenants, name): the heap order, best first


class _Bin:
    """A cluster's capacity and what the tenants placed so far use of it."""

    __slots__ = ("bounds", "cap", "key", "name", "used")

    def __init__(self, name: str, cap: tuple[int | None, ...]) -> None:
        self.name = name
        self.cap = cap  # per dimension of Need; None = unbounded
        # (dimension, capacity, 1/capacity) of the bounded dimensions: what _key and fits look at
        self.bounds = tuple((i, c, 1.0 / c if c > 0 else 0.0) for i, c in enumerate(cap) if c is not None)
        self.used = [0, 0, 0, 0, 0]
        self.key = self._key()

    def _key(self) -> Score:
        """Heap order: most headroom first, then fewest tenants, then name.

        Headroom is the smallest fraction left over the bounded dimensions (cpu, memory, storage, gpus,
        maxTenants) — the bottleneck — so a cluster with free cpu but no memory left is not preferred.
        A cluster without any bound has headroom 1.
        """
        used = self.used
        headroom = 1.0
        for i, cap, inverse in self.bounds:
            left = (cap - used[i]) * inverse
            if left < headroom:
                headroom = left
        return (-headroom, used[4], self.name)

    def add(self, need: Need, rescore: bool = True) -> None:
        used = self.used
        used[0] += need[0]
        used[1] += need[1]
        used[2] += need[2]
        used[3] += need[3]
        used[4] += 1
        if rescore:
            self.key = self._key()

    def rescore(self) -> None:
        self.key = self._key()

    def full(self) -> bool:
        """No tenant of any size fits any more (every tenant takes one of maxTenants)."""
        cap = self.cap[4]
        return cap is not None and self.used[4] >= cap

    def fits(self, need: Need) -> bool:
        used = self.used
        for i, cap, _ in self.bounds:  # noqa: SIM110  (a loop: all() over a generator costs twice as much)
            if used[i] + need[i] > cap:
                return False
        return True


def _bins(fleet: Fleet) -> dict[str, _Bin]:
    bins: dict[str, _Bin] = {}
    for name, item in fleet.clusters.items():
        c = item.manifest.spec.capacity
        cap = (
            _units(c.cpu.text, 1000, False) if c.cpu else None,
            _units(c.memory.text, 1, False) if c.memory else None,
            _units(c.storage.text, 1, False) if c.storage else None,
            c.gpus,
            c.maxTenants,
        )
        bins[name] = _Bin(name, cap)
    return bins


# ------------------------------------------------------------------------------------------------ place

_Group = tuple[str, LabelSelector | None, tuple[str, ...]]  # project, placement selector, providers needed


def _group(tenant: ResolvedTenant) -> _Group:
    spec = tenant.manifest.spec
    if spec.placement is None and not spec.privateNodes:
        return (tenant.project, None, ())
    providers = tuple(sorted({pool.provider for pool in spec.privateNodes}))
    return (tenant.project, spec.placement, providers)


def _suits(fleet: Fleet, cluster: str, group: _Group) -> place_reasons.Reason | None:
    """None if `cluster` suits tenants of `group` (selector, providers), else why not."""
    manifest = fleet.clusters[cluster].manifest
    return place_reasons.unsuited(group[1], manifest.metadata.labels, group[2], manifest.spec.nodeProviders)


@dataclass
class _Placer:
    fleet: Fleet
    needs: dict[str, Need]
    bins: dict[str, _Bin]
    heaps: dict[_Group, list[Score]] = field(default_factory=dict)
    allowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suitable: dict[tuple[object, ...], set[str]] = field(default_factory=dict)  # by (selector, providers)
    explained: dict[tuple[object, ...], tuple[str, dict[str, object]]] = field(default_factory=dict)

    def heap(self, group: _Group) -> list[Score]:
        heap = self.heaps.get(group)
        if heap is None:
            allowed = self.allowed_for(group[0])
            suitable = self.suitable.get(group[1:])
            if suitable is None:
                suitable = {c for c in self.fleet.clusters if _suits(self.fleet, c, group) is None}
                self.suitable[group[1:]] = suitable
            heap = [self.bins[c].key for c in allowed if c in suitable]
            heapify(heap)
            self.heaps[group] = heap
        return heap

    def allowed_for(self, project: str) -> tuple[str, ...]:
        allowed = self.allowed.get(project)
        if allowed is None:
            allowed = self.allowed[project] = allowed_clusters(self.fleet, project)
        return allowed

    def choose(self, tenant: ResolvedTenant) -> str | None:
        """The best cluster with room for `tenant`, charged with it; None if nothing fits."""
        need = self.needs.get(tenant.key, _NOTHING)
        heap = self.heaps.get(_group(tenant)) or self.heap(_group(tenant))
        bins = self.bins
        passed: list[Score] | None = None
        while heap:
            score = heap[0]
            b = bins[score[2]]
            if score != b.key:  # charged since this entry was pushed: its score only got worse
                heapreplace(heap, b.key)
            elif b.fits(need):
                b.add(need)
                heapreplace(heap, b.key)
                break
            elif b.full():  # fits nobody any more in this run
                heappop(heap)
            else:
                (passed := passed or []).append(heappop(heap))
        else:
            b = None
        for entry in passed or ():
            heappush(heap, entry)
        return b.name if b is not None else None

    def no_cluster(self, tenant: ResolvedTenant) -> Finding:
        """The place.no-cluster finding: a bounded summary, every candidate's reason in its details."""
        need = self.needs.get(tenant.key, _NOTHING)
        group = _group(tenant)
        allowed = self.allowed_for(tenant.project)
        details: dict[str, object] = {}
        if not self.fleet.clusters:
            detail = "the fleet defines no clusters (fleet/clusters/)"
        elif not allowed:
            detail = f"project {tenant.project!r} allows no existing cluster (spec.clusters)"
        else:
            # Tenants that fail one after another meet the same clusters in the same state (each tenant
            # placed adds one to a cluster's count): their account is built once and shared.
            state = (group, need, sum(self.bins[c].used[4] for c in allowed))
            found = self.explained.get(state)
            if found is None:
                reasons = [(c, _suits(self.fleet, c, group)
                            or place_reasons.capacity(self.bins[c].cap, self.bins[c].used, need)) for c in allowed]
                found = self.explained[state] = place_reasons.explain(
                    reasons, group[1], tenant.project, len(self.fleet.clusters) - len(allowed))
            detail, details = found
        path = ("spec", "placement") if tenant.manifest.spec.placement is not None else ("spec",)
        return error(
            "place.no-cluster",
            f"no cluster can take tenant {tenant.key}: {detail}. Add capacity or a cluster, widen the "
            "placement selector or the project's allowed clusters, or set spec.cluster",
            self.fleet.location(tenant.doc, path),
            subjects.tenant(tenant.key),
            details,
        )


def place(fleet: Fleet, params: ResolvedParams, lock: Lock) -> Placement:
    """Decide every tenant's cluster: explicit, else sticky from the lock, else the roomiest that fits."""
    with gc_paused():
        return _place(fleet, params, lock)


def _place(fleet: Fleet, params: ResolvedParams, lock: Lock) -> Placement:
    explicit: list[tuple[str, str]] = []
    locked: list[tuple[str, str]] = []
    new: list[ResolvedTenant] = []
    findings: list[Finding] = []
    for key, tenant in fleet.tenants.items():
        named = tenant.manifest.spec.cluster
        if named is not None:
            if named in fleet.clusters:  # an unknown one is already a ref.cluster error
                explicit.append((key, named))
            continue
        at = lock.tenants.get(key)
        if at is not None and at in fleet.clusters:
            locked.append((key, at))
            if tenant.manifest.spec.placement is not None:
                findings.extend(_drifted(fleet, tenant, at))
        elif key in params.tenants:  # else its parameters are broken (reported): its size is unknown
            new.append(tenant)
    clusters = dict(explicit + locked)
    placed_by: dict[str, PlacedBy] = dict.fromkeys(clusters, "locked")
    placed_by.update(dict.fromkeys((key for key, _ in explicit), "explicit"))
    if new:
        # Capacity counts explicit tenants first, then locked ones, then new ones in key order: adding a
        # tenant never changes what was charged before it. (With nothing new, there is nothing to count.)
        needs = {key: _need(p.resources) for key, p in params.tenants.items()}
        placer = _Placer(fleet, needs, _bins(fleet))
        for key, cluster in (*explicit, *locked):
            placer.bins[cluster].add(needs.get(key, _NOTHING), rescore=False)
        for b in placer.bins.values():
            b.rescore()
        for tenant in new:
            chosen = placer.choose(tenant)
            if chosen is None:
                findings.append(placer.no_cluster(tenant))
            else:
                clusters[tenant.key] = chosen
                placed_by[tenant.key] = "chosen"
    ordered = dict(sorted(clusters.items()))
    stale = tuple(key for key, cluster in ordered.items() if lock.tenants.get(key) != cluster)
    removed = tuple(key for key in lock.tenants if key not in ordered)
    return Placement(ordered, dict(sorted(placed_by.items())), stale, removed, tuple(findings))


def _drifted(fleet: Fleet, tenant: ResolvedTenant, cluster: str) -> Iterable[Finding]:
    """A locked tenant whose selector no longer matches its cluster stays put, but the user should know."""
    selector = tenant.manifest.spec.placement
    if selector is None or selector.matches(fleet.clusters[cluster].manifest.metadata.labels):
        return ()
    return (
        Finding(
            severity=Severity.WARN,
            code="place.sticky",
            message=f"tenant {tenant.key} stays on cluster {cluster!r} (recorded in {LOCK_FILE}) although "
            "its placement selector no longer matches it: placement never moves a tenant implicitly. "
            "To move it, set spec.cluster, or delete its lock line and run `vfleet place`",
            location=fleet.location(tenant.doc, ("spec", "placement")),
            subject=subjects.tenant(tenant.key),
        ),
    )

