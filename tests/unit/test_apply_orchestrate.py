"""Orchestration of `vfleet apply` with the engine call injected: skip-unchanged, waves, isolation, guards,
records, exit codes. The fleet is a copy of the example fleet (waves: eu-dev 0, eu-central 1, us-east 2).

The policy gate is injected here as `allow` (the orchestration's behaviour on each verdict is what is
tested); the real gate, with a real OPA, is exercised in test_apply_policy.py."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vfleet import compile as compiler
from vfleet.apply import decide, orchestrate, prechecks, project
from vfleet.apply.decide import Operation, Result, Schedule, StackResult, Target
from vfleet.apply.orchestrate import Job, Options, Progress
from vfleet.apply.records import Records, RecordsError
from vfleet.core.findings import Finding, Findings, Location, Severity
from vfleet.desired import DesiredState

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = (REPO.parent / "shared" / "contracts").resolve()
WAVES = {"eu-dev": 0, "eu-central": 1, "us-east": 2}


def allow(compiled: compiler.Compiled) -> Findings:
    return Findings.of([])


@dataclass
class FakeEngine:
    """Stands in for the Pulumi engine: records each job, answers per cluster, never touches a cluster."""

    fail: dict[str, str] = field(default_factory=dict)  # cluster -> message (FAILED)
    crash: set[str] = field(default_factory=set)  # clusters whose run raises
    jobs: list[Job] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, job: Job, progress: Progress) -> StackResult:
        with self.lock:
            self.jobs.append(job)
        cluster = job.target.cluster
        if cluster in self.crash:
            raise ConnectionError(f"dial tcp 127.0.0.1:1: connect: connection refused ({cluster})")
        for done in range(1, job.total + 1):
            progress(done, job.total, f"create {done}")
        if cluster in self.fail:
            return StackResult(cluster, job.target.wave, Result.FAILED, message=self.fail[cluster])
        state = job.target.state
        return StackResult(
            cluster, job.target.wave, Result.APPLIED, changes={"create": len(state.resources) if state else 0}
        )

    @property
    def clusters(self) -> list[str]:
        return [j.target.cluster for j in self.jobs]


def no_engine() -> orchestrate.Runner:
    raise AssertionError("the engine was asked for, but nothing should have run")


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("fleet", "templates", "policies"):
        shutil.copytree(REPO / name, root / name)
    shutil.copyfile(REPO / "vfleet.yaml", root / "vfleet.yaml")
    monkeypatch.setenv("VFLEET_CHART_SCHEMAS", str(CONTRACTS))
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "cache"))
    project.sync(root, {c: f"fleet/clusters/{c}.yaml" for c in WAVES})
    return root


def compiled_at(root: Path) -> compiler.Compiled:
    result = compiler.compile_fleet(root)
    assert result.ok, [str(f) for f in result.findings.errors]
    return result


def run(
    root: Path, engine: Callable[[], orchestrate.Runner], options: Options | None = None, **kw: Any
) -> orchestrate.Report:
    return orchestrate.run(
        compiled_at(root),
        options or Options(),
        runner=engine,
        records=Records(root / ".vfleet" / "state"),
        policy=kw.pop("policy", allow),
        guard=prechecks.deletion_guard(),
        user="tester",
        **kw,
    )


def results(report: orchestrate.Report) -> dict[str, Result]:
    return {r.cluster: r.result for r in report.results}


def set_cpu(root: Path, tenant_file: str, old: str, new: str) -> None:
    path = root / tenant_file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# ------------------------------------------------------------------------------------------------ tests


def test_first_apply_runs_every_stack_in_wave_order_and_records_it(fleet: Path) -> None:
    engine = FakeEngine()
    report = run(fleet, lambda: engine, Options(parallel=1))
    assert results(report) == dict.fromkeys(WAVES, Result.APPLIED)
    assert engine.clusters == ["eu-dev", "eu-central", "us-east"]  # wave 0, 1, 2
    assert report.exit_code == 0
    records = Records(fleet / ".vfleet" / "state")
    compiled = compiled_at(fleet)
    for cluster, state in compiled.desired.items():
        assert records.applied_hash(cluster) == state.hash
        (last,) = records.history(cluster)
        assert (last.result, last.operation, last.user, last.desired_hash) == ("applied", "up", "tester", state.hash)
        assert last.changes == {"create": len(state.resources)} and last.wave == WAVES[cluster]


def test_an_unchanged_fleet_touches_no_stack_and_needs_no_engine(fleet: Path) -> None:
    run(fleet, FakeEngine)
    report = run(fleet, no_engine)
    assert results(report) == dict.fromkeys(WAVES, Result.SKIPPED)
    assert report.exit_code == 0


def test_a_one_parameter_change_runs_exactly_one_stack(fleet: Path) -> None:
    run(fleet, FakeEngine)
    set_cpu(fleet, "fleet/projects/payments/tenants/ledger-dev.yaml", 'cpu: "4"', 'cpu: "5"')
    engine = FakeEngine()
    report = run(fleet, lambda: engine)
    assert engine.clusters == ["eu-dev"]
    assert results(report) == {"eu-dev": Result.APPLIED, "eu-central": Result.SKIPPED, "us-east": Result.SKIPPED}


def test_a_failed_wave_stops_the_later_waves_and_names_them(fleet: Path) -> None:
    engine = FakeEngine(fail={"eu-dev": "helm: values don't meet the schema"})
    report = run(fleet, lambda: engine)
    assert engine.clusters == ["eu-dev"]
    assert results(report) == {"eu-dev": Result.FAILED, "eu-central": Result.NOT_STARTED, "us-east": Result.NOT_STARTED}
    not_started = [r for r in report.results if r.result is Result.NOT_STARTED]
    assert all("wave 0 did not succeed (eu-dev)" in r.message for r in not_started)
    assert report.exit_code == 1
    assert decide.summary(report.results) == {"failed": ["eu-dev"], "not-started": ["eu-central", "us-east"]}
    # the failed stack is not recorded as applied: the next apply runs it again (and only it can start)
    assert Records(fleet / ".vfleet" / "state").applied_hash("eu-dev") is None


def test_one_failing_cluster_leaves_the_others_of_its_wave_applied() -> None:
    targets = [Target(c, 0, DesiredState(c, ())) for c in ("a", "b", "c")] + [Target("d", 1, DesiredState("d", ()))]
    schedule = decide.plan(targets, {})
    barrier = threading.Barrier(3, timeout=60)  # a, b and c must all be running at once to pass it

    def execute(target: Target) -> StackResult:
        if target.wave == 0:
            barrier.wait()
        if target.cluster == "b":
            raise ConnectionError("dial tcp 127.0.0.1:6443: connect: connection refused")
        return StackResult(target.cluster, target.wave, Result.APPLIED, changes={"update": 1})

    done = {r.cluster: r for r in orchestrate.run_waves(schedule, execute, parallel=3)}
    assert {c: r.result for c, r in done.items()} == {
        "a": Result.APPLIED,
        "b": Result.FAILED,
        "c": Result.APPLIED,
        "d": Result.NOT_STARTED,
    }
    assert "connection refused" in done["b"].message
    assert decide.exit_code(done.values()) == 1


def test_parallel_limits_how_many_stacks_run_at_once() -> None:
    targets = [Target(f"c{i}", 0, DesiredState(f"c{i}", ())) for i in range(6)]
    running = 0
    most = 0
    lock = threading.Lock()
    release = threading.Semaphore(0)

    def execute(target: Target) -> StackResult:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 2:
                release.release(6)  # both slots taken: let everyone finish
        release.acquire(timeout=60)
        with lock:
            running -= 1
        return StackResult(target.cluster, 0, Result.APPLIED)

    orchestrate.run_waves(decide.plan(targets, {}), execute, parallel=2)
    assert most == 2


def test_an_engine_crash_is_that_stacks_failure_only(fleet: Path) -> None:
    # eu-central and us-east in one wave: one crashing never stops the other
    for cluster in ("eu-central", "us-east"):
        set_cpu(fleet, f"fleet/clusters/{cluster}.yaml", "wave: " + str(WAVES[cluster]), "wave: 1")
    engine = FakeEngine(crash={"us-east"})
    report = run(fleet, lambda: engine)
    assert results(report) == {"eu-dev": Result.APPLIED, "eu-central": Result.APPLIED, "us-east": Result.FAILED}
    failed = next(r for r in report.results if r.cluster == "us-east")
    assert "connection refused" in failed.message and report.exit_code == 1
    assert Records(fleet / ".vfleet" / "state").applied_hash("eu-central") is not None


def test_deleting_a_protected_tenant_is_refused_and_nothing_runs_for_that_stack(fleet: Path) -> None:
    run(fleet, FakeEngine)
    (fleet / "fleet/projects/payments/tenants/checkout.yaml").unlink()  # protected, on eu-central and us-east
    lock = fleet / "fleet/placement.lock"
    lock.write_text("".join(line for line in lock.read_text().splitlines(keepends=True) if "checkout-prod" not in line))
    engine = FakeEngine()
    report = run(fleet, lambda: engine)
    assert results(report)["eu-central"] is Result.REFUSED
    assert "eu-central" not in engine.clusters
    assert "protected" in next(r for r in report.results if r.cluster == "eu-central").message
    # outside Git, nothing shows the deletion was meant either (tests/unit/test_vanished.py)
    assert [f.code for f in report.refusals["eu-central"]] == ["guard.protected", "guard.vanished.no-git"]
    assert report.exit_code == 1
    # eu-central is wave 1: us-east (wave 2) waits for it
    assert results(report)["us-east"] is Result.NOT_STARTED
    # an override does not unprotect
    again = run(fleet, lambda: FakeEngine(), Options(override="cleanup"))
    assert results(again)["eu-central"] is Result.REFUSED


def test_a_policy_deny_or_a_gate_without_verdict_runs_nothing(fleet: Path) -> None:
    def deny(c: compiler.Compiled) -> Findings:
        return Findings.of([Finding(Severity.DENY, "policy.x", "no", Location("fleet/clusters/eu-dev.yaml", 1))])

    def broken(c: compiler.Compiled) -> Findings:
        return Findings.of([Finding(Severity.ERROR, "policy.error", "opa unreachable", Location("policies"))])

    with pytest.raises(prechecks.Refused) as refused:
        run(fleet, no_engine, policy=deny)
    assert refused.value.exit_code == 1
    with pytest.raises(prechecks.Broken) as broken_:
        run(fleet, no_engine, policy=broken)
    assert broken_.value.exit_code == 2
    assert Records(fleet / ".vfleet" / "state").history() == []
    # the gate guards what would be applied: with every stack unchanged it is not needed at all ...
    run(fleet, FakeEngine)

    def unused(c: compiler.Compiled) -> Findings:
        raise AssertionError("the gate was consulted although nothing was to be applied")

    assert results(run(fleet, no_engine, policy=unused)) == dict.fromkeys(WAVES, Result.SKIPPED)
    # ... and with one change it is, before the engine
    set_cpu(fleet, "fleet/projects/payments/tenants/ledger-dev.yaml", 'cpu: "4"', 'cpu: "7"')
    with pytest.raises(prechecks.Refused):
        run(fleet, no_engine, policy=deny)


def test_a_fleet_that_does_not_compile_is_broken_even_with_nothing_to_run(fleet: Path) -> None:
    run(fleet, FakeEngine)
    spec = fleet / "fleet/clusters/eu-dev.yaml"
    spec.write_text(spec.read_text() + "  bogus: 1\n")
    compiled = compiler.compile_fleet(fleet)
    assert not compiled.ok
    with pytest.raises(prechecks.Broken) as exc:
        orchestrate.run(
            compiled,
            Options(),
            runner=no_engine,
            records=Records(fleet / ".vfleet" / "state"),
            policy=allow,
            guard=prechecks.deletion_guard(),
        )
    assert exc.value.exit_code == 2 and exc.value.findings.errors


def test_missing_stack_files_are_broken_input(fleet: Path) -> None:
    (fleet / "stacks" / "Pulumi.eu-dev.yaml").unlink()
    with pytest.raises(prechecks.Broken, match="stacks sync") as exc:
        run(fleet, no_engine)
    assert [f.code for f in exc.value.findings.errors] == ["stacks.missing"]


def test_the_engine_is_checked_only_when_a_stack_runs(fleet: Path) -> None:
    from vfleet.apply.engine import EngineMissing

    def missing() -> orchestrate.Runner:
        raise EngineMissing("`pulumi` is not on PATH")

    with pytest.raises(EngineMissing):
        run(fleet, missing)
    assert Records(fleet / ".vfleet" / "state").history() == []  # raised before any stack ran
    run(fleet, FakeEngine)
    assert results(run(fleet, missing)) == dict.fromkeys(WAVES, Result.SKIPPED)  # nothing to run: no engine


def test_selection_by_cluster_and_wave(fleet: Path) -> None:
    # a cluster of a later wave waits for the earlier waves at this revision, unless told why not to
    with pytest.raises(prechecks.Refused, match="later rollout wave") as refused:
        run(fleet, no_engine, Options(clusters=("us-east",)))
    assert {"eu-dev", "eu-central"} <= {w for f in refused.value.findings for w in f.message.replace(",", " ").split()}
    engine = FakeEngine()
    run(fleet, lambda: engine, Options(clusters=("us-east",), wave_override="hotfix, reviewed in #12"))
    assert engine.clusters == ["us-east"]
    with pytest.raises(decide.SelectionError, match="no connected cluster named nope"):
        run(fleet, no_engine, Options(clusters=("nope",)))
    # wave 1 waits until wave 0 is applied at this revision
    with pytest.raises(prechecks.Refused) as refused:
        run(fleet, no_engine, Options(wave=1))
    assert "eu-dev" in " ".join(f.message for f in refused.value.findings)
    run(fleet, FakeEngine, Options(wave=0))
    engine = FakeEngine()
    report = run(fleet, lambda: engine, Options(wave=1))
    assert engine.clusters == ["eu-central"] and [r.cluster for r in report.results] == ["eu-central"]


def test_a_killed_apply_leaves_the_stack_to_run_again(fleet: Path) -> None:
    run(fleet, FakeEngine)
    set_cpu(fleet, "fleet/projects/payments/tenants/ledger-dev.yaml", 'cpu: "4"', 'cpu: "6"')

    class Killed(BaseException):
        pass

    def killed(job: Job, progress: Progress) -> StackResult:
        raise Killed  # like SIGKILL mid-way: nothing after this line of the orchestration runs

    with pytest.raises(Killed):
        run(fleet, lambda: killed)
    engine = FakeEngine()
    report = run(fleet, lambda: engine)
    assert engine.clusters == ["eu-dev"] and results(report)["eu-dev"] is Result.APPLIED


def test_adopt_and_override_reach_the_engine_job(fleet: Path) -> None:
    engine = FakeEngine()
    run(fleet, lambda: engine, Options(adopt=True, override="migrating", clusters=("eu-dev",)))
    (job,) = engine.jobs
    assert job.adopt and job.override == "migrating" and job.base is None
    assert job.kubeconfig is not None and job.kubeconfig.context == "eu-dev-admin" and job.await_tenants is False
    assert job.total == len(job.target.state.resources) + 2 if job.target.state else False


def test_preview_reports_changes_with_exit_3_and_never_records_an_apply(fleet: Path) -> None:
    engine = FakeEngine()
    report = run(fleet, lambda: engine, Options(operation=Operation.PREVIEW))
    assert report.exit_code == 3
    records = Records(fleet / ".vfleet" / "state")
    assert all(records.applied_hash(c) is None for c in WAVES)
    assert {r.operation for r in records.history()} == {"preview"}


def test_destroy_is_guarded_and_forgets_the_stack(fleet: Path) -> None:
    run(fleet, FakeEngine)
    engine = FakeEngine()
    report = run(fleet, lambda: engine, Options(operation=Operation.DESTROY, clusters=("eu-dev",)))
    assert results(report) == {"eu-dev": Result.REFUSED}  # it still has tenants: needs an override
    assert engine.jobs == []
    report = run(
        fleet, lambda: engine, Options(operation=Operation.DESTROY, clusters=("eu-dev",), override="decommissioned")
    )
    assert results(report) == {"eu-dev": Result.APPLIED} and engine.jobs[0].target.state is None
    assert Records(fleet / ".vfleet" / "state").applied_hash("eu-dev") is None
    # a cluster with a protected tenant cannot be destroyed, override or not
    report = run(
        fleet, lambda: engine, Options(operation=Operation.DESTROY, clusters=("eu-central",), override="decommissioned")
    )
    assert results(report) == {"eu-central": Result.REFUSED}


def test_confirmation_no_runs_nothing(fleet: Path) -> None:
    with pytest.raises(orchestrate.Cancelled):
        run(fleet, no_engine, confirm=lambda schedule, refusals: False)
    asked: list[list[str]] = []

    def confirm(schedule: Schedule, refusals: object) -> bool:
        asked.append([t.cluster for t in schedule.to_run])
        return True

    run(fleet, FakeEngine, confirm=confirm)
    assert asked == [["eu-dev", "eu-central", "us-east"]]


def test_exit_codes() -> None:
    ok = StackResult("a", 0, Result.APPLIED, changes={"same": 3})
    assert decide.exit_code([ok, StackResult("b", 0, Result.SKIPPED)]) == 0
    assert decide.exit_code([ok, StackResult("b", 0, Result.REFUSED)]) == 1
    assert decide.exit_code([ok], Operation.PREVIEW) == 0
    assert decide.exit_code([StackResult("a", 0, Result.APPLIED, changes={"update": 1})], Operation.PREVIEW) == 3


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    yield


class RecordingObserver:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, int]] = []
        self.lock = threading.Lock()

    def started(self, target: Target, total: int) -> None:
        with self.lock:
            self.events.append(("started", target.cluster, 0, total))

    def progress(self, cluster: str, done: int, total: int, what: str) -> None:
        with self.lock:
            self.events.append(("progress", cluster, done, total))

    def finished(self, result: StackResult) -> None:
        with self.lock:
            self.events.append(("finished:" + result.result.value, result.cluster, 0, 0))


def test_progress_per_stack_reaches_the_observer(fleet: Path) -> None:
    observer = RecordingObserver()
    run(fleet, FakeEngine, Options(clusters=("eu-dev",)), observer=observer)
    total = len(compiled_at(fleet).desired["eu-dev"].resources) + 2
    assert observer.events[0] == ("started", "eu-dev", 0, total)
    assert [e for e in observer.events if e[0] == "progress"] == [
        ("progress", "eu-dev", d, total) for d in range(1, total + 1)
    ]
    assert observer.events[-1] == ("finished:applied", "eu-dev", 0, 0)
    observer = RecordingObserver()
    run(fleet, no_engine, Options(clusters=("eu-dev",)), observer=observer)
    assert observer.events == [("finished:skipped", "eu-dev", 0, 0)]


def test_a_move_between_stacks_is_refused_on_its_source_unless_overridden(fleet: Path) -> None:
    """The plan's cross-cluster guard, in apply: the source stack alone cannot tell a move from a delete."""
    run(fleet, FakeEngine)
    set_cpu(fleet, "fleet/projects/payments/tenants/ledger-dev.yaml", "cluster: eu-dev", "cluster: eu-central")
    set_cpu(fleet, "fleet/placement.lock", "payments/ledger-dev: eu-dev", "payments/ledger-dev: eu-central")
    report = run(fleet, FakeEngine)
    assert results(report)["eu-dev"] is Result.REFUSED
    assert "would move from cluster eu-dev to eu-central" in report.refusals["eu-dev"][0].message
    engine = FakeEngine()
    report = run(fleet, lambda: engine, Options(override="moving ledger-dev, volumes copied"))
    assert sorted(engine.clusters) == ["eu-central", "eu-dev"]
    (record,) = Records(fleet / ".vfleet" / "state").history("eu-dev", limit=1)
    assert record.override == "moving ledger-dev, volumes copied"


def test_the_wave_order_override_is_recorded(fleet: Path) -> None:
    run(fleet, FakeEngine, Options(clusters=("us-east",), wave_override="hotfix"))
    (record,) = Records(fleet / ".vfleet" / "state").history("us-east")
    assert record.wave_override == "hotfix"


def test_a_record_that_cannot_be_written_after_the_engine_succeeded_says_so(fleet: Path) -> None:
    class FullDisk(Records):
        def save_applied(self, state: DesiredState, sources: object = None) -> None:
            raise RecordsError(f"cannot write {self.description}/applied/{state.cluster}.json: No space left on device")

    compiled = compiled_at(fleet)
    report = orchestrate.run(compiled, Options(clusters=("eu-dev",)), runner=FakeEngine,
                             records=FullDisk(fleet / ".vfleet" / "state"), policy=allow, user="tester")
    (result,) = report.results
    assert result.result is Result.FAILED and report.exit_code == 1
    assert result.message.startswith("the engine's up succeeded, but its record could not be written: cannot write")
    assert "No space left on device" in result.message and "repeats it through the engine" in result.message
    assert Records(fleet / ".vfleet" / "state").applied_hash("eu-dev") is None  # never taken as applied
