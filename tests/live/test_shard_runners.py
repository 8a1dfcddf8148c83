"""Many fresh runners, one S3 bucket: `vfleet apply --wave W --shard I/K` from K processes at once.

A real S3 server (versitygw from the toolchain, tests/s3kit.py) holds the backend URL's bucket and so
vfleet's records; each runner is a separate process of the vfleet CLI with a state directory and parse
cache of its own (a fresh CI machine), sharing nothing but the bucket. The engine is replaced inside the
runner processes (shardkit.INJECTED_RUNNER: it succeeds at once and logs each call); everything else is
real, the policy gate with a real OPA included. Per wave, as CI's `needs:` orders the jobs, K runners:

- the first apply of a 52-stack fleet: every stack through the engine exactly once, by the runner whose
  shard holds it, and recorded;
- a change of 10 tenants: exactly their stacks through the engine once, the other stacks skipped once;
  the records then hold every stack's desired hash, nothing unfinished, one run record per engine call;
- a fresh runner of the real `vfleet` command with no `pulumi` on PATH finds every stack unchanged
  (exit 0: had any stack needed the engine, it would exit 2).

A missing versitygw or OPA FAILS the test (never a skip).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from s3kit import S3Server, s3_server
from shardkit import INJECTED_RUNNER, set_tenant_cpu, write_wide_fleet
from vfleet import toolchain

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
VFLEET = str(Path(sys.executable).parent / "vfleet")
PREFIX = "fleet"
RUNNERS = 4
CLUSTERS = 50


def _require(tool: str) -> None:
    try:
        toolchain.binary(tool)
    except toolchain.ToolMissing as missing:
        pytest.fail(f"this test needs {tool}: {missing}", pytrace=False)


def _runners(root: Path, base: Path, env: dict[str, str], wave: int, log: Path) -> list[dict[str, Any]]:
    """RUNNERS fresh runner processes at once, runner I `--wave W --shard I/RUNNERS`; their JSON reports."""
    procs = []
    for index in range(1, RUNNERS + 1):
        home = base / f"w{wave}-r{index}"
        home.mkdir(parents=True)
        run_env = env | {"VFLEET_STATE_DIR": str(home / "state"), "VFLEET_CACHE_DIR": str(home / "cache")}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", INJECTED_RUNNER, str(log), "apply", str(root), "--yes", "--output", "json",
             "--wave", str(wave), "--shard", f"{index}/{RUNNERS}"],
            env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    reports = []
    for index, proc in enumerate(procs, start=1):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (f"wave {wave}, shard {index}/{RUNNERS}", out[-2000:], err[-2000:])
        reports.append(json.loads(out))
    return reports


def _rollout(root: Path, base: Path, env: dict[str, str], log: Path) -> tuple[Counter[str], Counter[str]]:
    """Wave by wave, RUNNERS at once per wave: (stacks reported, by cluster; engine calls, by cluster)."""
    reported: Counter[str] = Counter()
    for wave in (0, 1, 2):
        for report in _runners(root, base, env, wave, log):
            assert report["exitCode"] == 0
            assert {s["wave"] for s in report["stacks"]} <= {wave}
            reported.update(s["cluster"] for s in report["stacks"])
    calls = Counter(log.read_text().split()) if log.exists() else Counter[str]()
    return reported, calls


def _applied(s3: S3Server) -> tuple[dict[str, str], list[str], Counter[str]]:
    """The bucket's records: applied hashes by cluster, unfinished markers, run records by cluster."""
    client = s3.client()
    keys = s3.keys(f"{PREFIX}/applied/")
    hashes = {k.rsplit("/", 1)[1][: -len(".hash")]: client.get_object(Bucket=s3.bucket, Key=k)["Body"].read().decode()
              for k in keys if k.endswith(".hash")}
    unfinished = [k for k in keys if k.endswith(".unfinished")]
    runs = Counter(k.split("/")[2] for k in s3.keys(f"{PREFIX}/runs/"))
    return hashes, unfinished, runs


def _desired(root: Path, env: dict[str, str]) -> dict[str, str]:
    from vfleet import compile as compiler

    compiled = compiler.compile_fleet(root, env=env)
    assert compiled.ok, [str(f) for f in compiled.findings.errors]
    return {name: state.hash for name, state in compiled.desired.items()}


def test_concurrent_fresh_runners_apply_each_shard_once_against_one_bucket(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _require("versitygw")
    _require("opa")
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "repo"
    waves = write_wide_fleet(root, CLUSTERS, 100)
    shutil.copytree(REPO / "policies", root / "policies")
    everything = {*waves, "eu-1", "us-1"}
    no_pulumi = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                if p and not (Path(p) / "pulumi").exists())
    with s3_server(tmp_path / "s3") as s3:
        env = s3.subprocess_env() | {"PULUMI_BACKEND_URL": s3.backend_url(PREFIX), "PATH": no_pulumi}
        env.pop("PULUMI_CONFIG_PASSPHRASE", None)

        # The first apply: every stack needs the engine.
        first_log = tmp_path / "engine-first.log"
        reported, calls = _rollout(root, tmp_path / "first", env, first_log)
        assert set(reported) == everything and set(reported.values()) == {1}
        assert set(calls) == everything and set(calls.values()) == {1}
        hashes, unfinished, runs = _applied(s3)
        assert hashes == _desired(root, env) and unfinished == [] and runs == calls

        # A change: 10 tenants on 10 clusters of every wave.
        for t in range(0, 50, 5):
            set_tenant_cpu(root, t, 2)
        changed = {f"c-{t:02d}" for t in range(0, 50, 5)}
        assert {waves[c] for c in changed} == {0, 1, 2}
        change_log = tmp_path / "engine-change.log"
        reported, calls = _rollout(root, tmp_path / "change", env, change_log)
        assert set(reported) == everything and set(reported.values()) == {1}  # each stack by one runner
        assert set(calls) == changed and set(calls.values()) == {1}  # the changed ones through the engine once
        hashes, unfinished, runs_after = _applied(s3)
        assert hashes == _desired(root, env) and unfinished == []
        assert runs_after - runs == calls  # one run record per engine call, none for a skipped stack

        # A fresh runner of the real command, no engine anywhere: nothing left to do.
        done = subprocess.run([VFLEET, "apply", str(root), "--yes", "--output", "json"], capture_output=True,
                              text=True, env=env | {"VFLEET_STATE_DIR": str(tmp_path / "last" / "state"),
                                                    "VFLEET_CACHE_DIR": str(tmp_path / "last" / "cache")})
        assert done.returncode == 0, done.stderr[-2000:]
        assert {s["result"] for s in json.loads(done.stdout)["stacks"]} == {"skipped"}
