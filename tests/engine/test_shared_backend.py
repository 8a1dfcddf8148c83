"""Engine tier: many runners, one backend. A real S3 server (versitygw, built in the toolchain) on loopback
holds Pulumi's `s3://` backend and vfleet's records; every runner is a separate `vfleet apply` process
with a state directory of its own (a fresh CI machine each), sharing nothing but the bucket.

- two clusters applied by two concurrent processes, while a third process tries the stack the first holds:
  that one fails at once with a message naming the lock, and changes nothing;
- a fresh runner then finds every stack unchanged from the bucket's records: no engine call;
- the state is sound: a full preview from yet another runner finds nothing to do, the checkpoint holds
  each resource once and nothing pending, no lock is left behind."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from enginekit import VFLEET, Fleet, engine_clusters, make_fleet, missing_objects, release_revisions, require_engine
from s3kit import S3Server, s3_server

pytestmark = pytest.mark.engine

PREFIX = "fleet"
PREVIEWS = 24  # tenants added on live-a: its first apply holds the lock long enough for a second runner
LOCKS = f"{PREFIX}/.pulumi/locks/organization/vfleet/"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, S3Server]]:
    require_engine()
    base = tmp_path_factory.mktemp("shared-backend")
    with s3_server(base) as s3, engine_clusters() as clusters:
        fleet = make_fleet(base, clusters)
        fleet.env = s3.subprocess_env(fleet.env) | {"PULUMI_BACKEND_URL": s3.backend_url(PREFIX)}
        # One wave: both stacks may run at once (the wave order is tested in test_apply_engine.py).
        fleet.edit("fleet/clusters/live-b.yaml", "wave: 1", "wave: 0")
        add_previews(fleet, PREVIEWS)
        yield fleet, s3


def add_previews(fleet: Fleet, count: int) -> None:
    """`count` small tenants more on live-a (the web project's quotas raised to fit), placed by `vfleet place`."""
    fleet.edit("fleet/projects/web/project.yaml", "tenants: 10", f"tenants: {count + 10}")
    fleet.edit("fleet/projects/web/project.yaml", "awakeTenants: 6", f"awakeTenants: {count + 10}")
    fleet.edit("fleet/projects/web/project.yaml", "shared: 10", f"shared: {count + 10}")
    fleet.edit("fleet/projects/web/project.yaml", 'cpu: "32"', f'cpu: "{count + 32}"')
    docs = [f"""apiVersion: vfleet.dev/v1alpha1
kind: Tenant
metadata:
  name: load-{i:02d}
spec:
  description: One of the shared-backend test's tenants.
  owner: ci-previews@example.com
  cluster: live-a
  parameters: {{cpu: "1", memory: 2Gi, storage: 5Gi}}
""" for i in range(count)]
    (fleet.root / "fleet/projects/web/tenants/load.yaml").write_text("---\n".join(docs))
    done = subprocess.run([VFLEET, "place", "."], cwd=fleet.root, env=fleet.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def runner(fleet: Fleet, name: str) -> dict[str, str]:
    """A fresh runner's environment: its own empty state directory and parse cache."""
    base = fleet.root.parent / f"runner-{name}"
    return fleet.env | {"VFLEET_STATE_DIR": str(base / "state"), "VFLEET_CACHE_DIR": str(base / "cache")}


def start(fleet: Fleet, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([VFLEET, "apply", ".", "--yes", "--output", "json", *args], cwd=fleet.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(fleet: Fleet, proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any]]:
    out, err = proc.communicate(timeout=900)
    fleet.said += [out, err]
    return proc.returncode, json.loads(out) if out.strip() else {"stderr": err}


def wait_for_lock(s3: S3Server, proc: subprocess.Popen[str], prefix: str, timeout: float) -> bool:
    """Whether a lock object appeared under `prefix` while `proc` ran (one client, polled every 50 ms)."""
    client = s3.client()
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("KeyCount", 0):
            return True
        time.sleep(0.05)
    return bool(s3.keys(prefix))


def stack(report: dict[str, Any], cluster: str) -> dict[str, Any]:
    return next(s for s in report.get("stacks", []) if s["cluster"] == cluster)


def test_1_concurrent_runners_apply_two_stacks_and_a_third_on_a_held_stack_is_refused(
    shared: tuple[Fleet, S3Server],
) -> None:
    fleet, s3 = shared
    first = start(fleet, runner(fleet, "a1"), "--cluster", "live-a")
    try:
        held = wait_for_lock(s3, first, LOCKS + "live-a/", timeout=300)
        if not held:  # say why: what the bucket holds and the runner's own report
            ran = "still running" if first.poll() is None else f"exited {first.returncode}"
            first.kill()
            out, err = first.communicate(timeout=60)
            pytest.fail(f"the first runner never held live-a's lock ({ran}); bucket: {s3.keys(PREFIX + '/')}"
                        f"\nstdout: {out[-4000:]}\nstderr: {err[-4000:]}", pytrace=False)
        other = start(fleet, runner(fleet, "b1"), "--cluster", "live-b")  # concurrently, another stack
        started = time.monotonic()
        done = fleet.vfleet("apply", ".", "--yes", "--output", "json", "--cluster", "live-a",
                            env=runner(fleet, "a2"))
        refused_in = time.monotonic() - started
        assert first.poll() is None, "the first runner finished before the second tried its stack"
    finally:
        if first.stdout is not None and not first.stdout.closed:
            code_a, report_a = finish(fleet, first)
    code_b, report_b = finish(fleet, other)

    assert done.returncode == 1, done.stdout + done.stderr
    second = stack(json.loads(done.stdout), "live-a")
    assert second["result"] == "failed", second
    assert "the stack live-a is locked by another update, nothing ran here" in second["message"]
    assert f"s3://{s3.bucket}/{LOCKS}live-a/" in second["message"] and "pulumi cancel" in second["message"]
    print(f"second runner on the held stack refused in {refused_in:.1f} s")

    assert code_a == 0 and stack(report_a, "live-a")["result"] == "applied", report_a
    assert code_b == 0 and stack(report_b, "live-b")["result"] == "applied", report_b
    desired = fleet.compiled_desired()
    for name in ("live-a", "live-b"):
        assert missing_objects(fleet.clusters[name], desired[name], release_revisions(fleet, name)) == []
    keys = s3.keys(PREFIX + "/")
    for name in ("live-a", "live-b"):  # the records are in the bucket, beside the Pulumi state
        assert f"{PREFIX}/.pulumi/stacks/vfleet/{name}.json" in keys
        assert f"{PREFIX}/applied/{name}.hash" in keys and f"{PREFIX}/applied/{name}.json" in keys
    body = s3.client().get_object(Bucket=s3.bucket, Key=f"{PREFIX}/applied/live-a.hash")["Body"].read()
    assert body.decode() == desired["live-a"].hash  # the refused runner did not leave it invalidated
    runs = [k for k in keys if k.startswith(f"{PREFIX}/runs/live-a/")]
    assert len(runs) == 2  # the applied run and the refused one, both on record
    for name in ("a1", "a2", "b1"):  # nothing of the records stayed on a runner
        assert not (fleet.root.parent / f"runner-{name}" / "state" / "applied").exists()
    assert not s3.keys(LOCKS), "a lock was left behind"


def test_2_a_fresh_runner_finds_every_stack_unchanged_in_the_bucket(shared: tuple[Fleet, S3Server]) -> None:
    fleet, _s3 = shared
    code, report = fleet.apply_json(env=runner(fleet, "fresh"))
    assert code == 0, report
    assert {s["cluster"]: s["result"] for s in report["stacks"]} == {"live-a": "skipped", "live-b": "skipped"}
    history = fleet.vfleet("history", ".", "--output", "json", env=runner(fleet, "fresh2"))
    clusters = Counter(r["cluster"] for r in json.loads(history.stdout)["records"])
    assert clusters == {"live-a": 2, "live-b": 1}, history.stdout


def test_3_the_shared_state_is_sound(shared: tuple[Fleet, S3Server]) -> None:
    fleet, s3 = shared
    code, report = fleet.apply_json("--all", "--full", env=runner(fleet, "preview"), op="preview")
    assert code == 0, report  # 3 would mean the engine found changes
    assert {s["result"] for s in report["stacks"]} == {"applied"}
    for name in ("live-a", "live-b"):
        raw = s3.client().get_object(Bucket=s3.bucket, Key=f"{PREFIX}/.pulumi/stacks/vfleet/{name}.json")["Body"]
        checkpoint = json.loads(raw.read())["checkpoint"]["latest"]
        urns = [r["urn"] for r in checkpoint["resources"]]
        assert len(urns) == len(set(urns)) and not checkpoint.get("pending_operations"), name
    assert not s3.keys(LOCKS)


def test_4_nothing_secret_was_said(shared: tuple[Fleet, S3Server]) -> None:
    fleet, s3 = shared
    said = "\n".join(fleet.said)
    assert s3.secret_key not in said and s3.access_key not in said
