"""Engine tier: an apply SIGKILLed while the engine runs (vfleet, the CLI and the provider at once) is
followed by one that converges: every desired object exists once, the state holds each resource once,
nothing is left pending, and a full preview finds nothing to do. Clusters of this module's own, so the
killed run starts from an empty state on empty clusters."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from enginekit import (
    VFLEET,
    Fleet,
    engine_clusters,
    make_fleet,
    missing_objects,
    namespaces,
    release_revisions,
    require_engine,
    why,
)

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    require_engine()
    with engine_clusters() as clusters:
        yield make_fleet(tmp_path_factory.mktemp("interrupted"), clusters)


def test_an_apply_killed_mid_way_is_followed_by_one_that_converges(fleet: Fleet) -> None:
    proc = subprocess.Popen(
        [VFLEET, "apply", ".", "--yes", "--output", "json"],
        cwd=fleet.root,
        env=fleet.env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(namespaces(fleet.clusters["live-a"])) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert namespaces(fleet.clusters["live-a"]), "the apply never got as far as creating a namespace"
        assert proc.poll() is None, "the apply finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # vfleet, the pulumi CLI and the provider plugin at once
        proc.wait(timeout=60)
    half = namespaces(fleet.clusters["live-a"])

    code, report = fleet.apply_json()
    assert code == 0, why(report)
    for name, state in fleet.compiled_desired().items():
        assert missing_objects(fleet.clusters[name], state, release_revisions(fleet, name)) == [], name
        checkpoint = fleet.pulumi_state(name)["checkpoint"]["latest"]
        urns = collections.Counter(r["urn"] for r in checkpoint["resources"])
        assert [u for u, n in urns.items() if n > 1] == [], "a resource is twice in the state"
        assert not checkpoint.get("pending_operations"), checkpoint.get("pending_operations")
        assert len(urns) == len(state.resources) + 2, name  # + the stack and the provider
    # what the killed run created is what the next run kept (same objects, not deleted and recreated)
    after = namespaces(fleet.clusters["live-a"])
    assert {n: after[n] for n in half} == half
    code, report = fleet.apply_json()
    assert code == 0 and {s["result"] for s in report["stacks"]} == {"skipped"}, why(report)
    code, report = fleet.apply_json("--all", op="preview")
    assert code == 0 and all(set(s["changes"]) <= {"same"} for s in report["stacks"]), why(report)
