"""Stage lifecycle: the compiled fleet + each connected cluster's facts -> sleep / wake done, deletions proposed.

    connect   -> every connected cluster of the fleet, in parallel (unreachable ones are findings)
    observe   -> per cluster a fixed number of list calls -> `Facts` per tenant (observe.py)
    decide    -> per tenant: sleep / wake / finish / nothing; due for deletion or not (decide.py, pure)
    act       -> the merge patches of each decision, sent per cluster in parallel (act.py); not with dry_run
    propose   -> due deletions screened (protected, guards) and committed on a branch (propose.py)

One cluster failing never stops another. Nothing is printed here: the `Report` is data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vfleet.compile import Compiled
from vfleet.core import subjects
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding, Findings, error
from vfleet.lifecycle import act, decide, observe, propose
from vfleet.lifecycle.decide import Action, Facts
from vfleet.live.connect import DEFAULT_TIMEOUT_S, Connection, connect
from vfleet.plan import guards
from vfleet.plan.changes import GuardHit

# Times a tenant is read and decided again after a patch met a concurrent change (409); the next run
# starts from what is there if it still conflicts.
CONFLICT_RETRIES = 3


class NeedsRevision(VfleetError):
    """Deletions are due, but the fleet was read from the work tree: there is no commit to build on."""


@dataclass(frozen=True)
class Options:
    dry_run: bool = False  # decide and report; send no patch, write no branch
    clusters: Sequence[str] | None = None  # default: every cluster of the fleet
    now: datetime | None = None  # the clock (tests, what-ifs); default: the current time
    override: str | None = None  # a reason that lets an overridable guard pass the proposals
    max_deletes: int | None = None
    max_delete_share: float | None = None
    branch: str = propose.DEFAULT_BRANCH
    base: str | None = None  # the revision the proposal branch starts from (the compiled one)
    actor: str = "vfleet lifecycle"  # written to vfleet.dev/slept-by
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class TenantResult:
    key: str
    cluster: str
    namespace: str
    state: str  # before this run: awake | asleep | asleep by spec | not deployed | unknown ...
    action: Action
    reason: str
    done: tuple[str, ...] = ()  # the patches sent
    planned: tuple[str, ...] = ()  # the patches decided (all of them under dry_run)
    error: str | None = None
    last_activity: datetime | None = None
    activity_source: str = ""
    next_event: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClusterResult:
    name: str
    reachable: bool
    requests: int
    seconds: float
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    now: datetime
    dry_run: bool
    revision: str | None
    clusters: tuple[ClusterResult, ...]
    tenants: tuple[TenantResult, ...]
    proposals: tuple[propose.Proposal, ...]
    guard_hits: tuple[GuardHit, ...]
    branch: str | None  # the branch written, None when nothing was (dry run, nothing due, all held)
    commit: str | None
    files: dict[str, bytes | None]  # the Git change (also under dry_run: what would be committed)
    findings: Findings
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.clusters)

    @property
    def exit_code(self) -> int:
        """2 broken input; 1 a cluster not handled, a patch that failed, a proposal a guard held; else 0."""
        if self.findings.errors and not any(f.code.startswith("live.") for f in self.findings.errors):
            return 2
        failed = any(t.error for t in self.tenants) or any(not c.reachable or c.problems for c in self.clusters)
        held = any(p.held and not p.protected for p in self.proposals)
        return 1 if failed or held or self.findings.errors else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "now": decide.rfc3339(self.now),
            "dryRun": self.dry_run,
            "revision": self.revision,
            "seconds": self.seconds,
            "requests": self.requests,
            "clusters": [{"name": c.name, "reachable": c.reachable, "requests": c.requests, "seconds": c.seconds,
                          "problems": list(c.problems)} for c in self.clusters],
            "tenants": [_tenant_json(t) for t in self.tenants],
            "deletions": [{"tenant": p.key, "cluster": p.cluster, "reasons": list(p.reasons),
                           "protected": p.protected, "held": p.held or None} for p in self.proposals],
            "guards": [{"code": h.code, "cluster": h.cluster, "message": h.message, "overridable": h.overridable,
                        "overridden": h.overridden} for h in self.guard_hits],
            "git": {"branch": self.branch, "commit": self.commit,
                    "files": {path: ("deleted" if content is None else "changed")
                              for path, content in sorted(self.files.items())}},
            "findings": [f.to_json() for f in self.findings],
            "exitCode": self.exit_code,
        }


def _tenant_json(t: TenantResult) -> dict[str, Any]:
    return {"key": t.key, "cluster": t.cluster, "namespace": t.namespace, "state": t.state,
            "action": t.action.value, "reason": t.reason, "planned": list(t.planned), "done": list(t.done),
            "error": t.error, "lastActivity": decide.rfc3339(t.last_activity) if t.last_activity else None,
            "activitySource": t.activity_source or None,
            "next": decide.rfc3339(t.next_event) if t.next_event else None}


def lifecycle(compiled: Compiled, options: Options | None = None) -> Report:
    """Carry out (or with `dry_run`, only decide) the lifecycle of every tenant of `compiled`."""
    options = options or Options()
    began = time.monotonic()
    now = (options.now or datetime.now(UTC)).astimezone(UTC)
    fleet = compiled.fleet
    names = sorted(fleet.clusters if options.clusters is None else options.clusters)
    placed: dict[str, dict[str, str]] = {name: {} for name in names}  # cluster -> namespace -> tenant key
    for key, cluster in sorted(compiled.placement.clusters.items()):
        if cluster in placed and key in fleet.tenants:
            placed[cluster][fleet.tenants[key].namespace] = key

    def handle(conn: Connection) -> tuple[observe.ClusterFacts, list[TenantResult]]:
        tenants = {ns: fleet.tenants[key].name for ns, key in placed[conn.cluster].items()}
        read = observe.read(conn, tenants)
        return read, _act(conn, read, placed[conn.cluster], compiled, now, options)

    with connect(fleet, names, env=options.env, timeout_s=options.timeout_s) as conns:
        results = conns.each(handle)
        findings: list[Finding] = list(conns.findings)
    clusters: list[ClusterResult] = []
    rows: list[TenantResult] = []
    facts: dict[str, Facts] = {}
    for name in names:
        if name not in fleet.clusters:
            continue
        result = results.get(name)
        if result is None or isinstance(result, BaseException):
            if isinstance(result, BaseException):
                findings.append(error("live.read", f"cluster {name}: lifecycle failed: {result!r}",
                                      subject=subjects.cluster(name)))
            clusters.append(ClusterResult(name, False, 1, 0.0, ("unreachable",)))
            rows += [TenantResult(k, name, ns, "unknown", Action.NONE, "cluster not read")
                     for ns, k in sorted(placed[name].items())]
            continue
        read, acted = result
        clusters.append(ClusterResult(name, True, read.requests + 1, read.seconds, read.problems))
        findings += [error("live.forbidden" if "forbidden" in p else "live.read", p, subject=subjects.cluster(name))
                     for p in read.problems]
        rows += acted
        for ns, key in placed[name].items():
            if read.facts is not None and ns in read.facts:
                facts[key] = read.facts[ns]
    proposals, hits, files, branch, commit = _propose(compiled, facts, now, options, set(names))
    return Report(now, options.dry_run, compiled.tree.revision, tuple(clusters),
                  tuple(sorted(rows, key=lambda r: (r.key, r.cluster))), tuple(proposals), tuple(hits), branch,
                  commit, files, Findings.of(findings), round(time.monotonic() - began, 3))


def _act(conn: Connection, read: observe.ClusterFacts, tenants: Mapping[str, str], compiled: Compiled,
         now: datetime, options: Options) -> list[TenantResult]:
    rows: list[TenantResult] = []
    for ns, key in sorted(tenants.items()):
        if read.facts is None:
            rows.append(TenantResult(key, conn.cluster, ns, "unknown", Action.NONE,
                                     "cannot read the cluster: " + "; ".join(read.problems)))
            continue
        tenant = compiled.fleet.tenants[key]
        facts = read.facts[ns]
        first: decide.SleepDecision | None = None
        done: tuple[str, ...] = ()
        decided: list[str] = []
        for attempt in range(1 + CONFLICT_RETRIES):
            if attempt:
                # A patch met a change made since the cluster was read (often only a status, written by
                # the object's controller): read the tenant again and decide again from what is there now.
                again = observe.read(conn, {ns: tenant.name})
                if again.facts is None or ns not in again.facts:
                    break
                facts = again.facts[ns]
            decision = decide.decide_sleep(tenant.sleep, facts, now)
            first = first or decision
            planned = act.patches(decision.action, facts, now, decision.reason, options.actor)
            outcome = act.Outcome((), None) if options.dry_run or not planned else act.send(conn, planned)
            done += outcome.done
            decided += [p.what for p in planned if p.what not in decided]
            if not outcome.conflict:
                break
        assert first is not None  # the first attempt always decides
        rows.append(TenantResult(key, conn.cluster, ns, first.state, decision.action, decision.reason, done,
                                 tuple(decided), outcome.error, facts.last_activity, facts.activity_source,
                                 decision.next_event))
    return rows


def _propose(compiled: Compiled, facts: Mapping[str, Facts], now: datetime, options: Options, asked: set[str]
             ) -> tuple[list[propose.Proposal], list[GuardHit], dict[str, bytes | None], str | None, str | None]:
    due: dict[str, tuple[str, ...]] = {}
    for key, tenant in compiled.fleet.tenants.items():
        cluster = compiled.placement.clusters.get(key)
        if cluster is not None and cluster not in asked:
            continue  # `--cluster` narrows deletions too
        verdict = decide.decide_delete(tenant.auto_delete, facts.get(key), now)
        if verdict.reasons:
            due[key] = verdict.reasons
    if not due:
        return [], [], {}, None, None
    config, _ = guards.read_config(compiled.tree)
    config = config.with_flags(options.max_deletes, options.max_delete_share)
    proposals, hits = propose.screen(compiled, due, config, options.override)
    going = [p for p in proposals if not p.held]
    files = propose.changes(compiled, [p.key for p in going]) if going else {}
    if options.dry_run or not going:
        return proposals, hits, files, None, None
    base = options.base or compiled.tree.revision
    if base is None:
        raise NeedsRevision("lifecycle: deletions are proposed as a Git commit, so the fleet must be read from "
                            "a Git revision (--rev HEAD), not the work tree")
    commit = propose.commit_branch(compiled.root, base, files, options.branch, propose.message(going))
    return proposals, hits, files, options.branch, commit


__all__ = ["ClusterResult", "NeedsRevision", "Options", "Report", "TenantResult", "lifecycle"]
