"""`vfleet apply` / `preview` / `destroy` as one library call: gate, decide, run wave by wave, record.

The engine is injected (`Runner`): `engine.PulumiRunner` in production, a plain function in the unit
tests, so everything here — fail-closed gating, skip-unchanged, deletion guards, waves, isolation of
one stack's failure from the others, records — runs and is tested without the Pulumi engine.

Isolation: stacks of a wave run concurrently (up to `parallel`), each in its own thread calling its own
engine process; an exception in one becomes that stack's FAILED result and never reaches the others.
Nothing is rolled back: a stack that applied stays applied. Waves: wave k starts only when every stack of
wave k-1 applied or was skipped; otherwise the later waves are reported NOT_STARTED.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from vfleet import compile as compiler
from vfleet.apply import decide, prechecks, preflight, project, shards
from vfleet.apply.decide import Operation, Result, Schedule, StackResult, Target
from vfleet.apply.preflight import BackendHashes
from vfleet.apply.records import Record, Records, RecordsError
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding, Findings
from vfleet.desired import DesiredState, argocd
from vfleet.plan.vanished import Vanished
from vfleet.specs import KubeconfigRef


@dataclass(frozen=True)
class Job:
    """What the engine is asked to do for one stack; everything in it was decided here."""

    target: Target
    operation: Operation
    root: Path  # the Pulumi project directory (the repository)
    base: DesiredState | None  # what the stack last applied, as far as the state directory knows
    adopt: bool  # import desired objects that already exist on the cluster (and list them)
    override: str | None  # --override-guard reason, handed on to the program's own guard
    kubeconfig: KubeconfigRef | None  # the Cluster spec's reference (None: the spec is gone)
    await_tenants: bool
    total: int  # engine steps expected, for progress
    resume: bool = False  # the stack's last engine run did not succeed: its own objects may lack a state entry
    sources: Mapping[str, KubeconfigRef] = field(default_factory=dict)  # Argo CD registrations' credentials


class Progress(Protocol):
    def __call__(self, done: int, total: int, what: str) -> None: ...


class Runner(Protocol):
    """Runs one stack in the engine and classifies the outcome; must not raise for engine failures."""

    def __call__(self, job: Job, progress: Progress) -> StackResult: ...


class Observer(Protocol):
    """Where progress goes (the CLI's rich display); every method is called from worker threads."""

    def started(self, target: Target, total: int) -> None: ...

    def progress(self, cluster: str, done: int, total: int, what: str) -> None: ...

    def finished(self, result: StackResult) -> None: ...

    def notice(self, findings: Sequence[Finding]) -> None:
        """Said before any engine starts (tenants leaving a stack's applied state)."""


class QuietObserver:
    def started(self, target: Target, total: int) -> None:
        pass

    def progress(self, cluster: str, done: int, total: int, what: str) -> None:
        pass

    def finished(self, result: StackResult) -> None:
        pass

    def notice(self, findings: Sequence[Finding]) -> None:
        pass


@dataclass(frozen=True)
class Options:
    operation: Operation = Operation.UP
    clusters: tuple[str, ...] = ()
    wave: int | None = None
    parallel: int = 4
    override: str | None = None
    adopt: bool = False
    force: bool = False  # run stacks whose desired state is unchanged too (`preview --all`)
    wave_override: str | None = None  # --override-wave-order reason: run ahead of an earlier wave, recorded
    shard: shards.Shard | None = None  # --shard I/N: only this runner's share of each selected wave


@dataclass(frozen=True)
class Report:
    operation: Operation
    results: tuple[StackResult, ...]
    warnings: Findings = field(default_factory=lambda: Findings.of([]))
    refusals: Mapping[str, tuple[Finding, ...]] = field(default_factory=dict)
    orphans: tuple[str, ...] = ()  # stacks (files or applied records) without a Cluster spec
    vanished: tuple[Vanished, ...] = ()  # tenants leaving a stack's last applied state, with the reason
    shard: shards.Shard | None = None  # the runner's share this report covers (--shard), None: all of it

    @property
    def exit_code(self) -> int:
        return decide.exit_code(self.results, self.operation)


def engine_total(state: DesiredState | None) -> int:
    """Steps the engine reports for a stack: its resources, the provider, and the stack itself."""
    return (len(state.resources) if state is not None else 0) + 2


class Cancelled(VfleetError):
    """The operator did not confirm (exit 1): nothing ran."""

    exit_code = 1


Confirm = Callable[[Schedule, Mapping[str, tuple[Finding, ...]]], bool]


def run(
    compiled: compiler.Compiled,
    options: Options,
    *,
    runner: Callable[[], Runner],
    records: Records,
    policy: prechecks.Gate = prechecks.policy_gate,
    guard: prechecks.Guard | None = None,
    observer: Observer | None = None,
    confirm: Confirm | None = None,
    user: str | None = None,
    backend_hashes: BackendHashes | None = None,
) -> Report:
    """Compile result -> gated, guarded, wave-by-wave engine runs -> one result per selected stack.

    The policy gate and `runner` are called only when some stack is to run (a no-change apply needs
    neither OPA nor the engine); `runner` is where the engine's own preconditions are checked
    (`engine.configure`).
    Raises `prechecks.Broken` (exit 2) for a fleet that does not compile, stack files that are missing or
    wrong, or a policy gate without a verdict; `prechecks.Refused` (exit 1) for a policy deny or a `--wave`
    whose earlier waves are not applied yet; `decide.SelectionError` (exit 2) for an unknown selection;
    `Cancelled` (exit 1) when `confirm` says no. `backend_hashes` reads what stacks last applied from the
    shared backend, for earlier-wave clusters this runner's records do not know (see `preflight.wave_order`).
    """
    observer = observer or QuietObserver()
    guard = guard or prechecks.deletion_guard(compiled.tree)
    if not compiled.ok:  # broken input is exit 2 whatever would run
        raise prechecks.Broken("the fleet does not compile", compiled.findings)
    warnings: list[Finding] = []
    specs = {name: item.doc.file for name, item in compiled.fleet.clusters.items()}
    files = project.verify(compiled.root, specs)
    if files.findings.errors:
        raise prechecks.Broken(
            "the Pulumi project files are not what vfleet writes: run `vfleet stacks sync`", files.findings
        )
    warnings += files.findings.warnings
    orphans = tuple(sorted((set(files.orphans) | set(records.known_stacks())) - set(specs)))
    waves = {name: item.manifest.spec.rollout.wave for name, item in compiled.fleet.clusters.items()}
    states = dict(compiled.desired)
    if options.operation is Operation.DESTROY:
        # A stack whose Cluster spec is gone can still be destroyed: its provider is in its state.
        states |= {name: DesiredState(name, ()) for name in orphans}
        waves |= dict.fromkeys(orphans, 0)
    targets = decide.select(states, waves, options.clusters, options.wave)
    if options.shard is not None:  # before anything is read: the other shards' stacks are not this runner's
        targets = shards.select(targets, options.shard)
    if options.operation is Operation.DESTROY:
        targets = [replace(t, state=None) for t in targets]
    applied = records.applied_hashes([t.cluster for t in targets])
    schedule = decide.plan(targets, applied, force=options.force or options.operation is Operation.DESTROY)
    if options.operation is Operation.UP and schedule.to_run:
        warnings += preflight.wave_order(compiled, schedule, states, waves, applied, records, options.wave_override,
                                         backend_hashes)
    if schedule.to_run:
        # Fail closed before anything reaches an engine: raises on policy errors and denies. When every
        # stack is unchanged nothing would be applied, so there is nothing for the gate to stop (the pull
        # request's `vfleet check` is where a policy change meets the whole fleet).
        warnings += prechecks.enforce(compiled, policy)
    bases = {t.cluster: records.applied_state(t.cluster) for t in schedule.to_run}
    if options.operation is Operation.DESTROY:  # unknown here: guard what the stack would hold at least
        bases = {c: b if b is not None else compiled.desired.get(c) for c, b in bases.items()}
    refusals = preflight.guard_all(schedule, bases, guard, options.override, placement=compiled.placement.clusters)
    leaving = [] if options.operation is Operation.DESTROY else \
        preflight.vanishing(compiled, ((t.cluster, bases.get(t.cluster), t.state) for t in schedule.to_run), records,
                            options.override)
    for leaver in leaving:
        if leaver.blocking:
            refusals[leaver.cluster] = (*refusals.get(leaver.cluster, ()), leaver.finding())
    if leaving:
        observer.notice([leaver.finding() for leaver in leaving])
    if schedule.to_run and confirm is not None and not confirm(schedule, refusals):
        raise Cancelled("not confirmed: nothing was run")
    engine = runner() if any(t.cluster not in refusals for t in schedule.to_run) else _no_engine
    context = _Context(compiled, options, engine, records, observer, bases, refusals, user or current_user())
    results = [
        StackResult(
            t.cluster,
            t.wave,
            Result.SKIPPED,
            message=f"desired state unchanged since the last successful apply ({(t.hash or '')[:12]})",
        )
        for t in schedule.skipped
    ]
    for item in results:
        observer.finished(item)
    results += run_waves(schedule, context.execute, options.parallel)
    return Report(
        options.operation,
        tuple(sorted(results, key=lambda r: (r.wave, r.cluster))),
        Findings.of(warnings),
        refusals,
        orphans,
        tuple(leaving),
        options.shard,
    )


def _no_engine(job: Job, progress: Progress) -> StackResult:
    raise AssertionError(f"no engine call was planned for {job.target.cluster}")  # every stack was refused


def run_waves(schedule: Schedule, execute: Callable[[Target], StackResult], parallel: int) -> list[StackResult]:
    """Each wave's stacks concurrently (at most `parallel` at once); stop after a wave that did not succeed."""
    results: list[StackResult] = []
    for index, wave in enumerate(schedule.waves):
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(wave))), thread_name_prefix="stack") as pool:
            done = list(pool.map(lambda t: _isolated(execute, t), wave))
        results += done
        later = schedule.waves[index + 1 :]
        if decide.wave_failed(done) and later:
            bad = ", ".join(sorted(r.cluster for r in done if r.result not in decide.OK_RESULTS))
            results += decide.not_started(
                later, f"wave {wave[0].wave} did not succeed ({bad}); later waves were not started"
            )
            break
    return results


def _isolated(execute: Callable[[Target], StackResult], target: Target) -> StackResult:
    """One stack's failure, whatever it is, stays that stack's result."""
    try:
        return execute(target)
    except Exception as exc:
        return StackResult(
            target.cluster,
            target.wave,
            Result.FAILED,
            message=f"{type(exc).__name__}: {exc}",
            started=now(),
            ended=now(),
        )


@dataclass
class _Context:
    compiled: compiler.Compiled
    options: Options
    runner: Runner
    records: Records
    observer: Observer
    bases: Mapping[str, DesiredState | None]
    refusals: Mapping[str, tuple[Finding, ...]]
    user: str
    _provenance: tuple[str | None, bool] | None = None

    def execute(self, target: Target) -> StackResult:
        started = now()
        refused = self.refusals.get(target.cluster)
        if refused:
            result = StackResult(
                target.cluster,
                target.wave,
                Result.REFUSED,
                message="; ".join(f.message for f in refused),
                started=started,
                ended=now(),
            )
        else:
            result = self._engine(target, started)
        self._record(target, result)
        self.observer.finished(result)
        return result

    def _engine(self, target: Target, started: str) -> StackResult:
        operation = self.options.operation
        total = engine_total(target.state if operation is not Operation.DESTROY else self.bases.get(target.cluster))
        self.observer.started(target, total)
        resume = self.records.unfinished(target.cluster)
        if operation is not Operation.PREVIEW:
            self.records.invalidate(target.cluster)  # a run that dies half-way must not look applied
        job = replace(job_for(self.compiled, target, self.options, self.bases.get(target.cluster), total),
                      resume=resume)

        def progress(done: int, total: int, what: str) -> None:
            self.observer.progress(target.cluster, done, total, what)

        result = self.runner(job, progress)
        result = replace(result, wave=target.wave, started=result.started or started, ended=result.ended or now())
        try:
            if result.result is Result.APPLIED and operation is Operation.UP and target.state is not None:
                self.records.save_applied(target.state, preflight.tenant_sources(self.compiled, target.state))
            elif result.result is Result.APPLIED and operation is Operation.DESTROY:
                self.records.forget(target.cluster)
        except RecordsError as exc:
            # The cluster has what the engine did; only the record is missing. Failed, so that nobody takes
            # the stack as skippable: the next run goes through the engine again and finds nothing to do.
            return replace(result, result=Result.FAILED, message=f"the engine's {operation.value} succeeded, but "
                           f"its record could not be written: {exc}; the next run repeats it through the engine")
        return result

    def _record(self, target: Target, result: StackResult) -> None:
        commit, dirty = self.provenance()
        self.records.write(
            Record(
                cluster=target.cluster,
                operation=self.options.operation.value,
                result=result.result.value,
                started=result.started,
                ended=result.ended,
                commit=commit,
                dirty=dirty,
                user=self.user,
                desired_hash=target.hash,
                wave=target.wave,
                changes=dict(result.changes),
                message=result.message,
                adopted=result.adopted,
                scope=result.scope,
                wave_override=self.options.wave_override,
                override=self.options.override,
            )
        )

    def provenance(self) -> tuple[str | None, bool]:
        if self._provenance is None:
            self._provenance = git_provenance(self.compiled.root)
        return self._provenance


def job_for(
    compiled: compiler.Compiled, target: Target, options: Options, base: DesiredState | None, total: int
) -> Job:
    """The engine's whole brief for one stack, from the compiled fleet and the decisions made here."""
    item = compiled.fleet.clusters.get(target.cluster)
    spec = item.manifest.spec if item is not None else None
    return Job(
        target,
        options.operation,
        compiled.root,
        base,
        options.adopt,
        options.override,
        spec.kubeconfig if spec else None,
        spec.rollout.awaitTenants if spec else True,
        total,
        sources=_sources(compiled, target.state),
    )


def _sources(compiled: compiler.Compiled, state: DesiredState | None) -> dict[str, KubeconfigRef]:
    if state is None:
        return {}
    return argocd.credential_sources(state, {n: c.manifest.spec.kubeconfig for n, c in compiled.fleet.clusters.items()})


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_user(env: Mapping[str, str] = os.environ) -> str:
    """Who ran the apply: an explicit VFLEET_USER, the CI's actor, or the local login."""
    for name in ("VFLEET_USER", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR"):
        if env.get(name):
            return env[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def git_provenance(root: Path, paths: Sequence[str] = ("fleet", "templates", "policies")) -> tuple[str | None, bool]:
    """The commit the work tree is at, and whether the fleet's files differ from it."""
    try:
        import git

        repo = git.Repo(root, search_parent_directories=True)
        commit = repo.head.commit.hexsha
        dirty = any(repo.is_dirty(untracked_files=True, path=str(root / p)) for p in paths if (root / p).exists())
        return commit, dirty
    except Exception:
        return None, False
