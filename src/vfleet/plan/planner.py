"""`plan`: base and head compiled from Git, diffed per connected cluster, guarded, judged by policy.

    sources  -> the two sides as file maps (git ls-tree / the work tree), content keys
    compare  -> the desired resources that can differ, and where every tenant lives (incremental or full)
    diff     -> per cluster: create / update / delete, field changes, the vcluster.yaml diff
    aspects  -> per tenant: what the change reads as (move, chart upgrade, sleep, quota ...)
    guards   -> deletion guards per cluster, and for moves across clusters
    policy_delta -> head findings marked new / existing / resolved (real OPA, fail closed)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from vfleet import owners
from vfleet.core import subjects
from vfleet.core.findings import Finding, Findings, Location, Severity
from vfleet.core.gcpause import gc_paused
from vfleet.plan import aspects as aspect_views
from vfleet.plan import guards, policy_delta, vanished
from vfleet.plan.changes import (
    Aspect,
    ClusterPlan,
    GuardHit,
    Plan,
    PolicyResult,
    ResourceChange,
    Side,
    TenantChange,
    TenantOp,
)
from vfleet.plan.compare import Compared, compare
from vfleet.plan.diff import diff_cluster
from vfleet.plan.index import Cache
from vfleet.plan.listings import Listings
from vfleet.plan.sources import Source, changed_paths, open_source


@dataclass(frozen=True)
class Options:
    override: str | None = None  # reason that lets overridable guards pass (recorded in the plan)
    max_deletes: int | None = None  # guard limits; None: the base's vfleet.yaml, else the defaults
    max_delete_share: float | None = None
    policy: bool = True  # evaluate policy (with a real OPA); False only when asked explicitly
    opa_url: str | None = None
    incremental: bool = True  # compile only what the change can affect (exactness: compare.py)
    cache: bool = True  # keep indexes and verdicts under vfleet.core.caches.cache_dir()
    applied: Mapping[str, vanished.Applied] | None = None  # each stack's last applied tenants (the records)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def plan(root: Path, base: str, head: str | None = None, options: Options | None = None) -> Plan:
    """The plan of changing the fleet at `root` from revision `base` to `head` (None: the work tree)."""
    # 100,000-entry listings and indexes are built with no garbage to collect: without the pause the
    # collector walks them again and again (0.2 s of a one-tenant plan at 100,000 tenants).
    with gc_paused():
        return _plan(root, base, head, options or Options())


def _plan(root: Path, base: str, head: str | None, options: Options) -> Plan:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    cache = Cache.open(root, options.env) if options.cache else None
    lister = Listings(cache.listings if cache is not None else None)
    base_src, head_src = open_source(root, base, lister), open_source(root, head, lister)
    timings["sources"] = time.perf_counter() - started

    config, config_findings = guards.read_config(base_src.reader)
    config = config.with_flags(options.max_deletes, options.max_delete_share)
    compared = compare(root, base_src, head_src, cache, incremental=options.incremental, env=options.env)
    timings.update(compared.timings)

    started = time.perf_counter()
    clusters, fleet_guards = _clusters(compared, config, options.override)
    timings["diff"] = time.perf_counter() - started

    if not options.policy:
        judged = PolicyResult(False, note="policy not evaluated (--no-policy)")
    elif compared.findings.errors:
        judged = PolicyResult(False, note="policy not evaluated: the head does not compile")
    else:
        started = time.perf_counter()
        judged = policy_delta.evaluate(root, base_src, head_src, compared.head_index, compared.base_index, cache,
                                 opa_url=options.opa_url, env=options.env)
        timings["policy"] = time.perf_counter() - started
        denies: dict[str, int] = {}
        for f in judged.denies:
            if f.cluster is not None:
                denies[f.cluster] = denies.get(f.cluster, 0) + 1
        clusters = _with_denies(clusters, denies, compared)

    leaving: list[vanished.Vanished] = []
    if options.applied and not compared.findings.errors:
        leaving = _vanished(root, head_src, compared, options.applied, options.override)
        fleet_guards += [GuardHit(v.code, v.cluster, v.message, subjects.tenant(v.tenant), v.overridable,
                                  v.overridden) for v in leaving if v.reason not in vanished.ALLOWED]

    findings = [*compared.findings, *config_findings]
    if compared.base_errors:
        findings.append(Finding(
            Severity.WARN, "plan.base-broken",
            f"the base revision {base_src.label} does not compile cleanly ({len(compared.base_errors)} error(s), "
            f"first: {compared.base_errors[0].message}); the plan compares against what did compile",
            Location(compared.base_errors[0].location.file) if compared.base_errors[0].location else None))
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    return Plan(_side(base_src), _side(head_src), clusters, Findings.of(findings), judged, options.override,
                compared.method, tuple(fleet_guards), timings, config.to_json(), compared.reason,
                _waves(compared), _approvals(compared, base_src, head_src), tuple(leaving))


def _vanished(root: Path, head: Source, compared: Compared, applied: Mapping[str, vanished.Applied],
              override: str | None) -> list[vanished.Vanished]:
    """Tenants of the stacks' last applied states that the head lacks, and why (before anything applies)."""
    if head.rev is None:
        from vfleet.load import FLEET_DIR
        from vfleet.repo import gitindex

        side = vanished.listing_side(head.entries, "Git's index", gitindex.index_blobs(root, FLEET_DIR))
    else:
        side = vanished.revision_side(head.entries, head.label)
    wanted = {key: t.cluster for key, t in compared.head_index.tenants.items()}
    return vanished.in_plan(applied, wanted, side, override=override)


def _approvals(compared: Compared, base: Source, head: Source) -> tuple[owners.Approval, ...]:
    """Who must approve, per touched project: the base's owners, as the forges read the base's CODEOWNERS
    (a change that adds its author as an owner still needs the owners it had)."""
    return owners.approvals(compared.base_compiled.fleet, changed_paths(base, head))


def _waves(compared: Compared) -> dict[str, int]:
    """Rollout wave of every cluster: the head's; a cluster the head removes keeps the base's."""
    out = {n: c.manifest.spec.rollout.wave for n, c in compared.base_compiled.fleet.clusters.items()}
    out |= {n: c.manifest.spec.rollout.wave for n, c in compared.head_compiled.fleet.clusters.items()}
    return dict(sorted(out.items()))


def _side(source: Source) -> Side:
    return Side(source.rev, source.commit, source.label, source.key)


def _clusters(compared: Compared, config: guards.GuardConfig,
              override: str | None) -> tuple[tuple[ClusterPlan, ...], list[GuardHit]]:
    b, h = compared.base_index, compared.head_index
    names = sorted(set(compared.base) | set(compared.head) | (set(b.clusters) ^ set(h.clusters)))
    views: dict[str, tuple[aspect_views.View | None, aspect_views.View | None]] = {}
    moves: dict[str, tuple[str, str, bool]] = {}
    out: list[ClusterPlan] = []
    for cluster in names:
        changes = diff_cluster(cluster, compared.base.get(cluster, ()), compared.head.get(cluster, ()))
        before, after = b.guard_view(cluster), h.guard_view(cluster)
        hits = guards.evaluate(cluster, before, after, config, override) if changes or after is None else []
        if not changes and not hits:
            continue
        tenants: list[TenantChange] = []
        for key in sorted({c.tenant for c in changes if c.tenant is not None}):
            tenant = _tenant_change(key, cluster, compared, views, changes)
            tenants.append(tenant)
            if tenant.op is TenantOp.MOVE and tenant.source is not None and tenant.target is not None:
                moves[key] = (tenant.source, tenant.target, b.tenants[key].protect)
        status = "added" if cluster not in b.clusters else "removed" if cluster not in h.clusters else "changed"
        out.append(ClusterPlan(cluster, status, changes, _ordered(tenants), tuple(hits)))
    fleet_guards = guards.check_moves([(k, s, t, p) for k, (s, t, p) in moves.items()], override)
    return tuple(out), fleet_guards


def _ordered(tenants: list[TenantChange]) -> tuple[TenantChange, ...]:
    rank = {TenantOp.DELETE: 0, TenantOp.MOVE: 1, TenantOp.CREATE: 2, TenantOp.UPDATE: 3}
    return tuple(sorted(tenants, key=lambda t: (rank[t.op], t.tenant)))


def _tenant_change(key: str, cluster: str, compared: Compared,
                   views: dict[str, tuple[aspect_views.View | None, aspect_views.View | None]],
                   changes: tuple[ResourceChange, ...]) -> TenantChange:
    before = compared.base_index.tenants.get(key)
    after = compared.head_index.tenants.get(key)
    source = before.cluster if before else None
    target = after.cluster if after else None
    if source is None:
        op = TenantOp.CREATE
    elif target is None:
        op = TenantOp.DELETE
    elif source != target:
        op = TenantOp.MOVE
    else:
        op = TenantOp.UPDATE
    if key not in views:
        views[key] = (aspect_views.view(compared.base_compiled, key) if before else None,
                      aspect_views.view(compared.head_compiled, key) if after else None)
    old, new = views[key]
    found = aspect_views.aspects(old, new)
    if not found and op is TenantOp.UPDATE and any(c.tenant == key and c.values_diff for c in changes):
        # Nothing in the tenant's own spec changed: its template, project or a team renders differently.
        found = (Aspect("values", None, None, "rendered vcluster.yaml changes"),)
    return TenantChange(key, op, cluster, source, target, found)


def _with_denies(clusters: tuple[ClusterPlan, ...], denies: dict[str, int],
                 compared: Compared) -> tuple[ClusterPlan, ...]:
    known = {c.cluster for c in clusters}
    out = [replace(c, policy_denies=denies.get(c.cluster, 0)) for c in clusters]
    # A cluster without changes but with head denies still gets a row: the summary must show every deny.
    out += [ClusterPlan(name, "unchanged", (), (), (), n) for name, n in denies.items()
            if name not in known and name in compared.head_index.clusters]
    return tuple(sorted(out, key=lambda c: c.cluster))

