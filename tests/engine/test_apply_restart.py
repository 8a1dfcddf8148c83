"""Engine tier, the fault "a kube-apiserver restarted during an apply": both clusters in one wave, their
stacks running concurrently in one `vfleet apply` (a subprocess, as a user runs it); while live-a's stack
is mid-apply its kube-apiserver is stopped (SIGTERM with a grace period, then in a second round SIGKILL)
and started again on the same port with the same etcd and certificates (`devclusters.restart_apiserver`).

What must hold: the apply finishes (no hang) with exit 0 or 1; live-a is failed (the message names the
cluster and what happened) or applied; live-b is applied with every object there; no credential in the
output; the records are readable and live-a's applied hash is not advanced by a failed run. The next
apply exits 0 and converges (every desired object on the cluster, the state names match, every release
deployed) and the one after is a no-change skip. Nothing lost: no namespace that existed before (or was
created by the interrupted run) is deleted and recreated, on either cluster. Clusters of this module's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from enginekit import (
    ENV_VARS,
    VFLEET,
    Fleet,
    engine_clusters,
    make_fleet,
    missing_objects,
    namespaces,
    release_revisions,
    require_engine,
    stacks,
    state_names,
    why,
)
from livekit import helm
from vfleet import devclusters
from vfleet.apply import program, records
from vfleet.apply.outcome import STACK_TYPE as STACK
from vfleet.core import processes
from vfleet.devclusters import DevCluster
from vfleet.devclusters.records import CONTROLLER_MANAGER

pytestmark = pytest.mark.engine
A, B = "live-a", "live-b"
APPLY_TIMEOUT_S = 600  # a hang is a failure, never a stuck test run
_PROVIDER_CRASHED = "the engine's plugin pulumi-resource-kubernetes crashed during the run"


@dataclass
class Rig:
    fleet: Fleet
    clusters: list[DevCluster]  # the list engine_clusters stops: restarted records replace the old ones

    def restart(self, name: str, sig: signal.Signals) -> float:
        """Restart `name`'s kube-apiserver in place; the seconds it took (stop, down 3 s, ready again)."""
        began = time.monotonic()
        index = next(i for i, c in enumerate(self.clusters) if c.name == name)
        restarted = devclusters.restart_apiserver(self.clusters[index], kill_signal=sig, grace_s=5.0, down_for=3.0)
        self.clusters[index] = restarted
        self.fleet.clusters[name] = restarted
        return time.monotonic() - began


def _tenants(first: int, count: int) -> str:
    """`count` small preview tenants on live-a (the web project), numbered from `first`."""
    return "---\n".join(
        f"""\
apiVersion: vfleet.dev/v1alpha1
kind: Tenant
metadata:
  name: preview-pr-{n}
  labels: {{env: dev, app: storefront, pull-request: "{n}"}}
spec:
  description: Preview of storefront PR {n} (engine tier, restart fault).
  owner: ci-previews@example.com
  cluster: {A}
  parameters: {{cpu: "1", memory: 2Gi, storage: 5Gi, eventTTL: 30m}}
  autoDelete:
    expiry: "2027-01-15"
  access:
    - groups: [eng-web]
      clusterRole: edit
"""
        for n in range(first, first + count)
    )


def _add_tenants(fleet: Fleet, file: str, first: int, count: int) -> None:
    (fleet.root / "fleet/projects/web/tenants" / file).write_text(_tenants(first, count))
    lock = fleet.root / "fleet/placement.lock"
    lock.write_text(lock.read_text() + "".join(f"  web/preview-pr-{n}: {A}\n" for n in range(first, first + count)))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    require_engine()
    with engine_clusters() as clusters:
        base = tmp_path_factory.mktemp("restart")
        fleet = make_fleet(base, clusters)
        # One wave: both stacks run concurrently (a failure in an earlier wave would hold the other back).
        fleet.edit(f"fleet/clusters/{B}.yaml", "wave: 1", "wave: 0")
        project = "fleet/projects/web/project.yaml"
        raised = {"tenants: 10": "tenants: 40", "awakeTenants: 6": "awakeTenants: 40", "shared: 10": "shared: 40"}
        raised |= {'cpu: "32"': 'cpu: "96"', "memory: 128Gi": "memory: 512Gi", "storage: 400Gi": "storage: 2Ti"}
        for old, new in raised.items():
            fleet.edit(project, old, new)
        _add_tenants(fleet, "restart-1.yaml", 9000, 8)  # live-a: 3 + 8 tenants, enough for some seconds
        yield Rig(fleet, clusters)


@dataclass
class Faulted:
    code: int
    report: dict[str, Any]
    stderr: str
    fault_at_s: float  # from the start of the apply to the signal
    restart_s: float  # signal to /readyz again
    total_s: float  # the whole apply
    before_fault: dict[str, dict[str, str]]  # namespaces (name -> uid) per cluster when the signal went out


def _apply_with_restart(rig: Rig, sig: signal.Signals, *, after: int) -> Faulted:
    """`vfleet apply` in a subprocess; once live-a holds `after` more vfleet namespaces than at the start
    (the stack is mid-apply), restart live-a's kube-apiserver."""
    fleet = rig.fleet
    start_count = len(namespaces(fleet.clusters[A]))
    out, err = fleet.root.parent / f"apply-{sig.name}.out", fleet.root.parent / f"apply-{sig.name}.err"
    began = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [VFLEET, "apply", ".", "--yes", "--output", "json"],
            cwd=fleet.root,
            env=fleet.env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        deadline = began + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if len(namespaces(fleet.clusters[A])) >= start_count + after:
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the apply ended before the fault (exit {proc.poll()}): {out.read_text()[-3000:]}"
        before = {name: namespaces(cluster) for name, cluster in fleet.clusters.items()}
        fault_at = time.monotonic() - began
        restart_s = rig.restart(A, sig)
        try:
            proc.wait(timeout=APPLY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the apply hung: not finished {APPLY_TIMEOUT_S} s after live-a's apiserver restarted")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    total = time.monotonic() - began
    said, stderr_text = out.read_text(), err.read_text()
    fleet.said += [said, stderr_text]
    report = json.loads(said) if said.strip() else {"stderr": stderr_text}
    return Faulted(proc.returncode, report, stderr_text, fault_at, restart_s, total, before)


def _releases(fleet: Fleet, cluster: str) -> dict[str, tuple[int, str]]:
    """Every Helm release on a cluster, pending and failed ones too: name -> (revision, status)."""
    done = subprocess.run(
        [helm(), "list", "-A", "-a", "-o", "json", "--kubeconfig", fleet.env[ENV_VARS[cluster]]],
        capture_output=True,
        text=True,
        check=True,
    )
    return {f"{r['namespace']}/{r['name']}": (int(r["revision"]), r["status"]) for r in json.loads(done.stdout)}


def _explain(faulted: Faulted) -> str:
    return (
        f"exit {faulted.code}, fault at {faulted.fault_at_s:.1f} s, restart {faulted.restart_s:.1f} s, "
        f"total {faulted.total_s:.1f} s\n{why(faulted.report)}\n{faulted.stderr[-3000:]}"
    )


def _check_faulted_run(rig: Rig, faulted: Faulted, hash_before: str | None) -> None:
    """The faulted run's checks."""
    fleet = rig.fleet
    print(_explain(faulted))  # the figures of the fault table (pytest -s shows them)
    assert faulted.code in (0, 1), _explain(faulted)
    results = stacks(faulted.report)
    assert set(results) == {A, B}, _explain(faulted)
    assert results[B]["result"] == "applied", _explain(faulted)
    a = results[A]
    assert a["result"] in ("applied", "failed"), _explain(faulted)
    assert (faulted.code == 0) == (a["result"] == "applied"), _explain(faulted)
    wanted = fleet.compiled_desired()
    assert missing_objects(fleet.clusters[B], wanted[B], release_revisions(fleet, B)) == []
    kept = records.Records(fleet.state_dir)
    history = kept.history(A, 1)  # readable, newest first
    assert history and history[0].result == a["result"], history
    if a["result"] == "failed":
        message = a["message"]
        port = fleet.clusters[A].server.rsplit(":", 1)[1]
        if _PROVIDER_CRASHED in message:
            # The provider itself died when its cluster went away (seen in CI: the engine's "exited
            # prematurely"); vfleet must name that, not the dead provider's port as an unreachable cluster.
            assert not message.startswith("cluster unreachable"), message
        else:
            assert message.startswith("cluster unreachable: ") and f"127.0.0.1:{port}" in message, message
        assert f"urn:pulumi:{A}::" in message or f"vfleet-{A}" in message, message  # the stack's own resources
        assert "connection refused" in message or "EOF" in message, message  # what happened
        # Not applied: the new hash is not recorded (vfleet drops the hash before every engine run), and the
        # deletion guards' base is still what the last successful apply applied.
        assert kept.applied_hash(A) != wanted[A].hash, "a failed run recorded live-a as applied"
        base = kept.applied_state(A)
        assert (base.hash if base is not None else None) == hash_before, "a failed run changed the guards' base"
        # Nor does the backend claim it: `runner.backend_hashes` (how a CI runner without these records
        # learns whether an earlier wave applied this commit) reads the stack's outputs.
        (stack,) = [r for r in fleet.pulumi_state(A)["checkpoint"]["latest"]["resources"] if r["type"] == STACK]
        claimed = (stack.get("outputs") or {}).get(program.DESIRED_HASH_OUTPUT)
        assert claimed != wanted[A].hash, f"live-a's stack outputs claim {claimed} as applied after a failed run"
        assert kept.unfinished(A)  # and the next run knows this one did not finish
    else:
        assert kept.applied_hash(A) == wanted[A].hash
    assert kept.applied_hash(B) == wanted[B].hash
    done = fleet.vfleet("history", ".", "--output", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["records"], done.stderr
    tokens = [c.admin_token for c in fleet.clusters.values()]
    assert not any(t in text for t in tokens for text in fleet.said), "a cluster token in vfleet's output"


def _controller_manager_tail(rig: Rig) -> str:
    """The end of live-a's kube-controller-manager log: it sets the ResourceQuotas' status.hard the
    provider waits for, so a converging apply that timed out on that is explained there."""
    (cluster,) = [c for c in rig.clusters if c.name == A]
    (kcm,) = [p for p in cluster.processes if p.role == CONTROLLER_MANAGER]
    alive = "running" if processes.alive(kcm) else "NOT running"
    return f"{A}'s kube-controller-manager ({alive}), last lines:\n{processes.tail(kcm.log, 40)}"


def _check_converges(rig: Rig, faulted: Faulted) -> None:
    """The next applies converge, then skip."""
    fleet = rig.fleet
    b_releases = _releases(fleet, B)
    code, report = fleet.apply_json()
    print(f"converging apply: exit {code}\n{why(report)}")
    # Objects whose create reached the apiserver but whose answer was lost (EOF, the provider exiting) are
    # neither in the state nor pending: they carry vfleet's field manager and the stack's last run did not
    # finish, so they are imported (and listed as adopted), not refused as foreign.
    assert code == 0, f"{why(report)}\n{_controller_manager_tail(rig)}"
    print(f"adopted after the fault: {stacks(report)[A].get('adopted')}")
    assert stacks(report)[B]["result"] == "skipped", why(report)  # B was applied by the faulted run
    wanted = fleet.compiled_desired()
    for name, state in wanted.items():
        cluster = fleet.clusters[name]
        assert missing_objects(cluster, state, release_revisions(fleet, name)) == [], name
        assert state_names(fleet, name) == {r.id.split("/", 1)[1] for r in state.resources} | {
            name,
            f"vfleet-{name}",
        }, name
        releases = _releases(fleet, name)
        assert {r: s for r, (_, s) in releases.items() if s != "deployed"} == {}, releases
        # nothing lost: every namespace there at the fault is still the same object
        now = namespaces(cluster)
        assert {n: now.get(n) for n in faulted.before_fault[name]} == faulted.before_fault[name], name
    assert _releases(fleet, B) == b_releases  # B untouched by the converging run
    code, report = fleet.apply_json()
    assert code == 0 and {s["result"] for s in report["stacks"]} == {"skipped"}, why(report)


def test_1_an_apiserver_restarted_by_sigterm_during_the_first_apply(rig: Rig) -> None:
    faulted = _apply_with_restart(rig, signal.SIGTERM, after=3)
    _check_faulted_run(rig, faulted, hash_before=None)
    _check_converges(rig, faulted)


def test_2_an_apiserver_killed_during_a_later_apply(rig: Rig) -> None:
    fleet = rig.fleet
    hash_before = records.Records(fleet.state_dir).applied_hash(A)
    assert hash_before
    _add_tenants(fleet, "restart-2.yaml", 9100, 8)  # live-a: 8 more tenants to create
    for name in ("web/tenants/design-system.yaml", "ml-platform/tenants/feature-store.yaml"):  # live-b changes
        path = fleet.root / "fleet/projects" / name
        path.write_text("# touched\n" + path.read_text())
    uids_b = namespaces(fleet.clusters[B])
    faulted = _apply_with_restart(rig, signal.SIGKILL, after=2)
    _check_faulted_run(rig, faulted, hash_before=hash_before)
    assert namespaces(fleet.clusters[B]) == uids_b  # an update of B recreated nothing
    _check_converges(rig, faulted)


def test_3_the_restarted_cluster_is_the_same_cluster(rig: Rig) -> None:
    """Same port, same etcd, same credentials: the kubeconfig vfleet was given before still works."""
    cluster = rig.fleet.clusters[A]
    assert Path(rig.fleet.env[ENV_VARS[A]]).read_text().count(cluster.server) == 1
    assert set(devclusters.rss_kib(cluster)) == set(devclusters.ROLES)


def _lose_from_state(fleet: Fleet, kind: str) -> list[str]:
    """Drop one `kind` object of live-a (and what depends on it: its tenant's Helm release) from the
    stack's state, as creates whose answers were lost leave them: on the cluster, applied by vfleet,
    unknown to the engine. Returns their resource ids."""
    from vfleet import toolchain

    before = state_names(fleet, A)
    resources = fleet.pulumi_state(A)["checkpoint"]["latest"]["resources"]
    urn = next(r["urn"] for r in resources if f":{kind}::" in r["urn"] and "vc-web-preview-pr-" in r["urn"])
    done = subprocess.run([str(toolchain.binary("pulumi")), "state", "delete", urn, "--stack", A, "--yes",
                           "--target-dependents"],
                          cwd=fleet.root, env=fleet.env | {"PULUMI_BACKEND_URL": f"file://{fleet.state_dir}"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    gone = sorted(f"{A}/{name}" for name in before - state_names(fleet, A))
    assert len(gone) == 2 and any("/HelmRelease/" in rid for rid in gone), gone  # the object and its release
    return gone


def test_4_an_object_vfleet_applied_whose_answer_was_lost_is_imported_only_after_an_unfinished_run(
    rig: Rig,
) -> None:
    """What a provider dying mid-call leaves (seen once in four SIGTERM rounds): an object on the cluster
    that the state lacks. Carrying vfleet's field manager, after a run of this stack that did not finish,
    it is the stack's own: imported and listed. Without that run behind it, it is refused as foreign."""
    fleet = rig.fleet
    kept = records.Records(fleet.state_dir)
    lost = _lose_from_state(fleet, "LimitRange")
    kept.invalidate(A)  # as a failed or killed run leaves the records
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    assert stacks(report)[A]["adopted"] == lost, why(report)
    assert {rid.split("/", 1)[1] for rid in lost} <= state_names(fleet, A) and not kept.unfinished(A)

    lost = _lose_from_state(fleet, "LimitRange")
    kept.store.delete(f"applied/{A}.hash")  # not applied, but no unfinished run: nothing vouches for it
    code, report = fleet.apply_json()
    assert code == 1 and stacks(report)[A]["result"] == "refused", why(report)
    assert "already exist on the cluster" in stacks(report)[A]["message"] and "--adopt" in stacks(report)[A]["message"]
    code, report = fleet.apply_json("--adopt")
    assert code == 0 and stacks(report)[A]["adopted"] == lost, why(report)


def test_5_a_corrupted_stack_state_is_an_error_naming_it_and_nothing_is_recreated(rig: Rig) -> None:
    fleet = rig.fleet
    kept = records.Records(fleet.state_dir)
    (path,) = (fleet.state_dir / ".pulumi" / "stacks").glob(f"**/{A}.json")
    saved = path.read_bytes()
    before = namespaces(fleet.clusters[A])
    path.write_bytes(saved[: len(saved) // 2])  # truncated, as a full disk or a killed copy leaves it
    kept.store.delete(f"applied/{A}.hash")  # so that the stack runs
    try:
        code, report = fleet.apply_json()
        print(f"corrupted state: exit {code}\n{why(report)}")
        assert code == 1, why(report)
        a = stacks(report)[A]
        assert a["result"] == "failed" and str(path) in a["message"], why(report)
        assert "cannot be read" in a["message"] and "nothing ran" in a["message"], why(report)
        assert stacks(report)[B]["result"] == "skipped"
        assert path.read_bytes() == saved[: len(saved) // 2]  # not replaced by an empty state
        assert namespaces(fleet.clusters[A]) == before  # nothing deleted or re-created
    finally:
        path.write_bytes(saved)
    code, report = fleet.apply_json()
    assert code == 0 and stacks(report)[A]["result"] == "applied", why(report)
    assert not {"create", "delete", "replace"} & set(stacks(report)[A]["changes"]), why(report)
