"""No-change `vfleet apply` on a synthetic fleet: how long it takes to find that nothing needs the engine.

    .venv/bin/python bench/apply_bench.py [--tenants 10000] [--clusters 100] [--repeat 3] [--backend local|s3|both]

Generates the fleet (bench/synth.py) with this repository's policies/, writes its stack files
(`vfleet stacks sync`), records a first apply through an injected engine (every stack "applied": the
hashes a real first apply would record), then times the real CLI, `vfleet apply --yes --output json`,
in fresh processes, cold (no parse cache) and warm. The timed runs have no `pulumi` on PATH: had any
stack needed the engine, the run would exit 2; exit 0 with every stack skipped means no engine call.
The policy gate runs for real (OPA), as it does on every apply. Prints figures, never asserts on time.

`--backend s3` keeps the Pulumi backend and vfleet's records in a real S3 server on loopback (versitygw,
built by the toolchain; tests/s3kit.py starts it), and every timed run is a fresh runner: an empty state
directory of its own, so all it knows comes from the bucket. `--backend local` keeps them in one state
directory on disk (the peer); `both` runs the two side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO / "tests"))  # s3kit: the S3 server the tests use


def _record_first_apply(root: Path, env: dict[str, str]) -> int:
    from vfleet import compile as compiler
    from vfleet.apply import orchestrate
    from vfleet.apply.decide import Result, StackResult
    from vfleet.apply.records import open_records

    def engine(job: orchestrate.Job, progress: orchestrate.Progress) -> StackResult:
        return StackResult(job.target.cluster, job.target.wave, Result.APPLIED, changes={"create": job.total})

    compiled = compiler.compile_fleet(root, env=env)
    report = orchestrate.run(compiled, orchestrate.Options(parallel=8), runner=lambda: engine,
                             records=open_records(root, env))
    return sum(1 for r in report.results if r.result is Result.APPLIED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("local", "s3", "both"), default="local")
    args = parser.parse_args()
    import synth

    with tempfile.TemporaryDirectory(prefix="vfleet-apply-bench-") as tmp:
        root = Path(tmp) / "repo"
        started = time.perf_counter()
        synth.generate(root, min(args.projects, args.tenants), args.tenants, args.clusters)
        synth.place_lock(root)
        shutil.copytree(REPO / "policies", root / "policies")
        print(f"fleet: {args.tenants} tenants, {args.clusters} clusters ({time.perf_counter() - started:.1f} s)")
        no_pulumi = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                    if p and not (Path(p) / "pulumi").exists())
        env = {**os.environ, "VFLEET_STATE_DIR": str(Path(tmp) / "state"), "PATH": no_pulumi}
        env.pop("PULUMI_CONFIG_PASSPHRASE", None)  # and no passphrase: the engine could not run either
        env.pop("PULUMI_BACKEND_URL", None)
        subprocess.run([VFLEET, "stacks", "sync", str(root)], env=env | {"VFLEET_CACHE_DIR": str(Path(tmp) / "c0")},
                       check=True, capture_output=True)
        backends = ("local", "s3") if args.backend == "both" else (args.backend,)
        for backend in backends:
            if backend == "local":
                _bench(root, Path(tmp) / "local", env, args.repeat, "local state directory")
            else:
                from s3kit import s3_server

                with s3_server(Path(tmp) / "s3-server") as s3:
                    shared = s3.subprocess_env(env) | {"PULUMI_BACKEND_URL": s3.backend_url("fleet")}
                    _bench(root, Path(tmp) / "s3", shared, args.repeat, f"s3 backend ({s3.endpoint})", fresh=True)
    return 0


VFLEET = str(Path(sys.executable).parent / "vfleet")


def _bench(root: Path, work: Path, env: dict[str, str], repeat: int, label: str, *, fresh: bool = False) -> None:
    """Record a first apply into the backend, then time no-change applies (each a fresh runner if `fresh`)."""
    started = time.perf_counter()
    saved = dict(os.environ)
    os.environ.update(env)  # boto3 takes its credentials from this process's environment
    try:
        applied = _record_first_apply(root, env | {"VFLEET_CACHE_DIR": str(work / "c0"),
                                                   "VFLEET_STATE_DIR": str(work / "state")})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    print(f"[{label}] first apply recorded through an injected engine: {applied} stacks "
          f"({time.perf_counter() - started:.1f} s)")
    for mode in ("cold", "warm"):
        times: list[float] = []
        for i in range(repeat):
            cache = work / ("cache-warm" if mode == "warm" else f"cache-cold-{i}")
            state = work / (f"runner-{mode}-{i}" if fresh else "state")
            run_env = env | {"VFLEET_CACHE_DIR": str(cache), "VFLEET_STATE_DIR": str(state)}
            if mode == "warm" and not cache.exists():
                subprocess.run([VFLEET, "apply", str(root), "--yes", "--output", "json"], env=run_env,
                               capture_output=True)
            started = time.perf_counter()
            done = subprocess.run([VFLEET, "apply", str(root), "--yes", "--output", "json"], env=run_env,
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - started
            report = json.loads(done.stdout) if done.stdout.strip() else {}
            results = {s["result"] for s in report.get("stacks", [])}
            if done.returncode != 0 or results != {"skipped"}:
                print(f"[{label}] {mode}: unexpected exit {done.returncode}, results {results}: {done.stderr[-500:]}")
            times.append(seconds)
            print(f"[{label}] {mode} run {i + 1}: {seconds:.2f} s, exit {done.returncode}, "
                  f"{len(report.get('stacks', []))} stacks {sorted(results)}")
        times.sort()
        print(f"[{label}] no-change apply, {mode}{' (fresh runner)' if fresh else ''}: median "
              f"{times[len(times) // 2]:.2f} s, best {times[0]:.2f} s of {repeat}")


if __name__ == "__main__":
    sys.exit(main())
