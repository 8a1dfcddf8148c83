"""Many CI runners, one S3 backend: a 1,000-cluster fleet applied by K runners at once, each its own shard.

    .venv/bin/python bench/runners_bench.py [--tenants 10000] [--clusters 1000] [--runners 1,4,10,20]
                                            [--change 0.01] [--projects 100]

Generates the fleet (bench/synth.py, three rollout waves), writes its stack files, starts a real S3 server
on loopback (versitygw from the toolchain, via tests/s3kit.py) holding the Pulumi backend URL and vfleet's
records, and records a first apply of every stack there through an injected engine (the hashes, states and
sources a real first apply records). Then two scenarios, each for every K of --runners:

- no change: K runner processes at once, runner I `vfleet apply --yes --output json --shard I/K`. No
  `pulumi` on PATH and no passphrase: had any stack needed the engine, that runner would exit 2. Every
  stack must come back `skipped`, each from exactly one runner.
- changed fleet: --change of the tenants get another k8sVersion (their values change, nothing moves). The
  stacks that need the engine are known beforehand from the desired-state hashes (head against the
  recorded ones). Wave by wave, as CI's `needs:` orders them, K runners at once with `--wave W --shard
  I/K`; the engine is injected in these runner processes (it returns "applied" at once: the engine's own
  time is not in these figures, ~10 s per targeted one-tenant change of a 100-tenant stack, docs/apply.md),
  everything else is real: compile, the policy gate (OPA), guards, wave order, records in S3. Checked: each
  changed stack applied exactly once, every other stack skipped, and afterwards every stack's recorded hash
  is its desired one with no `unfinished` marker. The changed stacks' records are put back before the next K.

Every runner is fresh: its own empty state directory and parse cache, so all it knows comes from the bucket.
A runner is this script re-entered as `--runner`: it counts its S3 calls (a botocore hook) and times its
compile and policy gate, then runs the vfleet CLI's own entry point with the arguments given (in the
changed scenario after replacing `vfleet.api.stacks.make_runner` with the injected engine). Per runner: wall time
from spawn to exit, CPU seconds (user + system, OPA included: os.wait4) and S3 calls. On this machine the
K runners share 2 cores: wall time with K > 2 measures contention, not scale-out; the CPU seconds per
runner are what one CI runner spends. Prints figures, never asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO / "tests"))  # s3kit: the S3 server the tests use
PREFIX = "fleet"


# ------------------------------------------------------------------------------------- a runner process


def runner_main(counts_file: Path, inject: bool, args: list[str]) -> int:
    """One CI runner: the vfleet CLI with `args`, its S3 calls counted, its compile and gate timed."""
    calls: Counter[str] = Counter()
    touched: Counter[str] = Counter()  # cluster -> calls on its applied/ or runs/ keys
    lists: list[str] = []
    phases: dict[str, float] = {}

    import boto3.session

    original = boto3.session.Session.client

    def client(self: Any, *a: Any, **kw: Any) -> Any:
        made = original(self, *a, **kw)

        def count(params: Mapping[str, Any], model: Any, **_: Any) -> None:
            calls[model.name] += 1
            key = str(params.get("Key") or params.get("Prefix") or "")[len(PREFIX) + 1 :]
            if model.name == "ListObjectsV2":
                lists.append(key)
            elif key.startswith("applied/"):
                touched[key[len("applied/") :].split(".", 1)[0]] += 1
            elif key.startswith("runs/"):
                touched[key.split("/")[1]] += 1

        made.meta.events.register("provide-client-params.s3", count)
        return made

    boto3.session.Session.client = client

    from vfleet import compile as compiler
    from vfleet.apply import prechecks

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    compiler.compile_fleet = timed("compile", compiler.compile_fleet)
    prechecks.enforce = timed("policy", prechecks.enforce)
    if inject:
        _inject_engine()
    # perf_counter is CLOCK_MONOTONIC here, one clock for every process: spawn -> the CLI's entry point
    phases["startup"] = time.perf_counter() - float(os.environ["RUNNERS_BENCH_SPAWNED"])
    from vfleet.cli import main

    sys.argv = ["vfleet", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        counts_file.write_text(json.dumps({"calls": calls, "touched": touched, "lists": lists, "phases": phases}))
    return code


def _inject_engine() -> None:
    """`vfleet apply` with an engine that succeeds at once, counting what it would have changed."""
    from vfleet.api import stacks
    from vfleet.apply import orchestrate
    from vfleet.apply.decide import Result, StackResult

    def engine(job: orchestrate.Job, progress: orchestrate.Progress) -> StackResult:
        head = job.target.state.by_id if job.target.state is not None else {}
        base = job.base.by_id if job.base is not None else {}
        changed = sum(1 for rid, r in head.items() if base.get(rid) != r) + sum(1 for rid in base if rid not in head)
        return StackResult(job.target.cluster, job.target.wave, Result.APPLIED,
                           changes={"update": changed, "same": len(head) - changed})

    def make_runner(*_: Any, **__: Any) -> orchestrate.Runner:
        return engine

    stacks.make_runner = make_runner


# ------------------------------------------------------------------------------------- the driver side


@dataclass
class Run:
    shard: str
    seconds: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0
    code: int = -1
    report: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""

    def results(self, kind: str) -> list[str]:
        return [s["cluster"] for s in self.report.get("stacks", []) if s["result"] == kind]


def spawn_runners(root: Path, work: Path, env: Mapping[str, str], shards: Sequence[str], extra: Sequence[str],
                  inject: bool) -> tuple[float, list[Run]]:
    """len(shards) fresh runners at once; (wall time of the whole set, each runner's figures)."""
    runs = [Run(s) for s in shards]
    procs: list[tuple[subprocess.Popen[bytes], Path, Path, Path, float]] = []
    started = time.perf_counter()
    for i, run in enumerate(runs):
        home = work / f"runner-{i:02d}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        out, err, counts = home / "out.json", home / "err.txt", home / "counts.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--runner", str(counts),
               *(["--inject"] if inject else []), "--", "apply", str(root), "--yes", "--output", "json",
               "--shard", run.shard, *extra]
        run_env = {**env, "VFLEET_STATE_DIR": str(home / "state"), "VFLEET_CACHE_DIR": str(home / "cache"),
                   "RUNNERS_BENCH_SPAWNED": repr(time.perf_counter())}
        with out.open("wb") as o, err.open("wb") as e:
            procs.append((subprocess.Popen(cmd, env=run_env, stdout=o, stderr=e), out, err, counts,
                          time.perf_counter()))

    def wait(index: int) -> None:
        proc, _out, _err, _counts, spawned = procs[index]
        _pid, status, usage = os.wait4(proc.pid, 0)
        runs[index].seconds = time.perf_counter() - spawned
        proc.returncode = runs[index].code = os.waitstatus_to_exitcode(status)
        runs[index].cpu = usage.ru_utime + usage.ru_stime  # the runner and what it reaped (OPA)
        runs[index].rss_mib = usage.ru_maxrss / 1024

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(len(procs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    for run, (_proc, out, err, counts, _spawned) in zip(runs, procs, strict=True):
        text = out.read_text()
        run.report = json.loads(text) if text.strip() else {}
        run.counts = json.loads(counts.read_text()) if counts.exists() else {}
        run.stderr = err.read_text()[-800:]
    return wall, runs


def record_first_apply(root: Path, env: dict[str, str], work: Path) -> int:
    """Every stack 'applied' through an injected engine, in this process: the records of a first apply."""
    from vfleet import compile as compiler
    from vfleet.apply import orchestrate
    from vfleet.apply.decide import Result, StackResult
    from vfleet.apply.records import open_records

    def engine(job: orchestrate.Job, progress: orchestrate.Progress) -> StackResult:
        return StackResult(job.target.cluster, job.target.wave, Result.APPLIED, changes={"create": job.total})

    run_env = env | {"VFLEET_CACHE_DIR": str(work / "c0"), "VFLEET_STATE_DIR": str(work / "state0")}
    saved = dict(os.environ)
    os.environ.update(run_env)  # boto3 takes its credentials from this process's environment
    try:
        compiled = compiler.compile_fleet(root, env=run_env)
        report = orchestrate.run(compiled, orchestrate.Options(parallel=16), runner=lambda: engine,
                                 records=open_records(root, run_env))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return sum(1 for r in report.results if r.result is Result.APPLIED)


def desired_hashes(root: Path, cache: Path) -> tuple[dict[str, str], dict[str, int]]:
    from vfleet import compile as compiler

    compiled = compiler.compile_fleet(root, env={**os.environ, "VFLEET_CACHE_DIR": str(cache)})
    waves = {n: c.manifest.spec.rollout.wave for n, c in compiled.fleet.clusters.items()}
    return {n: s.hash for n, s in compiled.desired.items()}, waves


def change_tenants(root: Path, share: float) -> int:
    """Every 1/share-th tenant file gets another k8sVersion: its values change, its placement does not."""
    step = max(1, round(1 / share))
    files = sorted((root / "fleet" / "projects").glob("*/tenants/*.yaml"))
    for path in files[::step]:
        text = path.read_text()
        path.write_text(text.replace('k8sVersion: "1.35"', 'k8sVersion: "1.34"'))
    return len(files[::step])


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _calls(run: Run) -> int:
    return int(sum(run.counts.get("calls", {}).values()))


def summarize(label: str, k: int, wall: float, runs: Sequence[Run], figures: list[dict[str, Any]]) -> None:
    phases = [r.counts.get("phases", {}) for r in runs]
    row = {
        "scenario": label, "K": k, "wall": wall,
        "runner_med": _median([r.seconds for r in runs]), "runner_max": max(r.seconds for r in runs),
        "cpu_med": _median([r.cpu for r in runs]), "cpu_sum": sum(r.cpu for r in runs),
        "compile_med": _median([p.get("compile", 0.0) for p in phases]),
        "policy_med": _median([p.get("policy", 0.0) for p in phases if "policy" in p]),
        "s3_med": _median([_calls(r) for r in runs]), "s3_max": max(_calls(r) for r in runs),
        "rss_max": max(r.rss_mib for r in runs),
        "engine": sum(len(r.results("applied")) for r in runs),
    }
    figures.append(row)
    print(f"  {label} K={k}: wall {wall:.1f} s; runner median {row['runner_med']:.1f} s, max "
          f"{row['runner_max']:.1f} s; CPU/runner median {row['cpu_med']:.1f} s (sum {row['cpu_sum']:.0f} s); "
          f"compile {row['compile_med']:.1f} s; S3 calls/runner median {row['s3_med']:.0f}, max {row['s3_max']}; "
          f"engine calls {row['engine']}")


def check_exactly_once(runs: Sequence[Run], clusters: Sequence[str], applied: set[str]) -> list[str]:
    """What is wrong with the union of the runners' results (nothing: an empty list)."""
    problems: list[str] = []
    seen = Counter(s["cluster"] for r in runs for s in r.report.get("stacks", []))
    twice = sorted(c for c, n in seen.items() if n > 1)
    missing = sorted(set(clusters) - set(seen))
    if twice:
        problems.append(f"{len(twice)} stacks reported by more than one runner: {twice[:5]}")
    if missing:
        problems.append(f"{len(missing)} stacks reported by no runner: {missing[:5]}")
    got = {c for r in runs for c in r.results("applied")}
    if got != applied:
        problems.append(f"engine ran {len(got)} stacks, expected {len(applied)} (extra {sorted(got - applied)[:5]}, "
                        f"missing {sorted(applied - got)[:5]})")
    others = {s["result"] for r in runs for s in r.report.get("stacks", []) if s["result"] != "applied"}
    if others - {"skipped"}:
        problems.append(f"unexpected results {sorted(others)}")
    for r in runs:
        if r.code != 0:
            problems.append(f"runner {r.shard} exit {r.code}: {r.stderr[-300:]}")
    return problems


def outside_shard(runs: Sequence[Run]) -> tuple[int, int]:
    """(median, max) over runners of the calls on other stacks' record keys (wave order reads earlier waves)."""
    counts = []
    for r in runs:
        own = {s["cluster"] for s in r.report.get("stacks", [])}
        counts.append(sum(n for c, n in r.counts.get("touched", {}).items() if c not in own))
    return int(_median(counts)), max(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--runners", default="1,4,10,20", help="comma-separated K values")
    parser.add_argument("--change", type=float, default=0.01, help="share of tenants changed in scenario 2")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    args = parser.parse_args()
    ks = [int(k) for k in args.runners.split(",")]
    import synth

    from s3kit import s3_server

    with tempfile.TemporaryDirectory(prefix="vfleet-runners-bench-") as tmp:
        base = args.keep or Path(tmp)
        root = base / "repo"
        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        synth.generate(root, min(args.projects, args.tenants), args.tenants, args.clusters)
        synth.place_lock(root)
        shutil.copytree(REPO / "policies", root / "policies")
        no_pulumi = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                    if p and not (Path(p) / "pulumi").exists())
        env = {**os.environ, "PATH": no_pulumi}
        env.pop("PULUMI_CONFIG_PASSPHRASE", None)  # the engine could not run: no passphrase either
        vfleet = str(Path(sys.executable).parent / "vfleet")
        subprocess.run([vfleet, "stacks", "sync", str(root)], env=env | {"VFLEET_CACHE_DIR": str(base / "c0")},
                       check=True, capture_output=True)
        hashes, waves = desired_hashes(root, base / "c-base")
        clusters = sorted(hashes)
        print(f"fleet: {args.tenants} tenants on {len(clusters)} clusters in {len(set(waves.values()))} waves "
              f"({time.perf_counter() - started:.1f} s to generate)")
        figures: list[dict[str, Any]] = []
        failed = False
        with s3_server(base / "s3-server") as s3:
            env = s3.subprocess_env(env) | {"PULUMI_BACKEND_URL": s3.backend_url(PREFIX)}
            started = time.perf_counter()
            count = record_first_apply(root, env, base)
            print(f"first apply recorded in s3 through an injected engine: {count} stacks "
                  f"({time.perf_counter() - started:.1f} s)")
            print("no change (every runner all waves of its shard, real engine adapter, no pulumi on PATH):")
            for k in ks:
                wall, runs = spawn_runners(root, base / f"nochange-{k}", env, [f"{i}/{k}" for i in range(1, k + 1)],
                                           (), inject=False)
                summarize("no change", k, wall, runs, figures)
                problems = check_exactly_once(runs, clusters, set())
                failed |= _report(problems, runs)
            changed_tenants = change_tenants(root, args.change)
            head, _ = desired_hashes(root, base / "c-head")
            need = {c for c in clusters if head[c] != hashes[c]}
            per_wave = Counter(waves[c] for c in need)
            print(f"changed fleet: {changed_tenants} tenants changed -> {len(need)} stacks need the engine "
                  f"(by wave: {dict(sorted(per_wave.items()))}); wave by wave, K runners per wave, injected engine:")
            client = s3.client()
            snapshot = {key: client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
                        for key in s3.keys(f"{PREFIX}/applied/") if key.split("/")[-1].split(".", 1)[0] in need}
            for k in ks:
                for key, data in snapshot.items():  # the changed stacks' records as the first apply left them
                    client.put_object(Bucket=s3.bucket, Key=key, Body=data)
                runs_before = Counter(key.split("/")[2] for key in s3.keys(f"{PREFIX}/runs/"))
                all_runs: list[Run] = []
                total = 0.0
                for wave in sorted(set(waves.values())):
                    wall, runs = spawn_runners(root, base / f"changed-{k}-w{wave}", env,
                                               [f"{i}/{k}" for i in range(1, k + 1)], ("--wave", str(wave)),
                                               inject=True)
                    total += wall
                    all_runs += runs
                    summarize(f"changed, wave {wave}", k, wall, runs, figures)
                    out_med, out_max = outside_shard(runs)
                    print(f"    calls on other shards' record keys per runner: median {out_med}, max {out_max}")
                problems = check_exactly_once(all_runs, clusters, need)
                problems += check_records(s3, head, need, runs_before)
                print(f"  changed K={k}: whole fleet, three waves one after the other: {total:.1f} s")
                figures.append({"scenario": "changed, all waves", "K": k, "wall": total,
                                "cpu_sum": sum(r.cpu for r in all_runs),
                                "engine": sum(len(r.results("applied")) for r in all_runs)})
                failed |= _report(problems, all_runs)
        print_table(figures)
        if args.keep is None:
            shutil.rmtree(base / "s3-server", ignore_errors=True)
    return 1 if failed else 0


def check_records(s3: Any, head: Mapping[str, str], need: set[str], runs_before: Counter[str]) -> list[str]:
    """After the changed scenario: every stack's recorded hash is its desired one, nothing unfinished, and one
    new run record per changed stack (none for the others)."""
    client = s3.client()
    problems = []
    keys = s3.keys(f"{PREFIX}/applied/")
    unfinished = [k for k in keys if k.endswith(".unfinished")]
    if unfinished:
        problems.append(f"{len(unfinished)} unfinished markers left: {unfinished[:3]}")
    wrong = [c for c in sorted(head)
             if client.get_object(Bucket=s3.bucket, Key=f"{PREFIX}/applied/{c}.hash")["Body"].read().decode()
             != head[c]]
    if wrong:
        problems.append(f"{len(wrong)} stacks' recorded hash is not their desired one: {wrong[:5]}")
    after = Counter(key.split("/")[2] for key in s3.keys(f"{PREFIX}/runs/"))
    new = {c: after[c] - runs_before.get(c, 0) for c in after if after[c] != runs_before.get(c, 0)}
    if set(new) != need or any(n != 1 for n in new.values()):
        problems.append(f"new run records {len(new)} (expected one for each of {len(need)} changed stacks)")
    return problems


def _report(problems: Sequence[str], runs: Sequence[Run]) -> bool:
    for p in problems:
        print(f"    MISMATCH: {p}")
    if not problems:
        print(f"    checked: every stack exactly once over {len(runs)} runner runs; records consistent")
    return bool(problems)


def print_table(figures: Sequence[dict[str, Any]]) -> None:
    print()
    print("| scenario | K | wall s | runner s median / max | CPU s per runner median | CPU s all runners "
          "| compile s median | policy gate s median | S3 calls per runner median / max | peak RSS MiB "
          "| engine calls |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for f in figures:
        if "runner_med" not in f:
            print(f"| **{f['scenario']}** | {f['K']} | **{f['wall']:.1f}** | | | {f['cpu_sum']:.0f} | | | | "
                  f"| {f['engine']} |")
            continue
        print(f"| {f['scenario']} | {f['K']} | {f['wall']:.1f} | {f['runner_med']:.1f} / {f['runner_max']:.1f} | "
              f"{f['cpu_med']:.1f} | {f['cpu_sum']:.0f} | {f['compile_med']:.1f} | "
              f"{f['policy_med']:.1f} | {f['s3_med']:.0f} / {f['s3_max']} | {f['rss_max']:.0f} | {f['engine']} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--runner":
        rest = sys.argv[2:]
        counts, rest = Path(rest[0]), rest[1:]
        inject = bool(rest) and rest[0] == "--inject"
        rest = rest[1:] if inject else rest
        sys.exit(runner_main(counts, inject, rest[1:] if rest and rest[0] == "--" else rest))
    sys.exit(main())
