"""No-change `vfleet apply` on a synthetic fleet: how long it takes to find that nothing needs the engine.

    .venv/bin/python bench/apply_bench.py [--tenants 10000] [--clusters 100] [--repeat 3]

Generates the fleet (bench/synth.py) with this repository's policies/, writes its stack files
(`vfleet stacks sync`), records a first apply through an injected engine (every stack "applied": the
hashes a real first apply would record), then times the real CLI, `vfleet apply --yes --output json`,
in fresh processes, cold (no parse cache) and warm. The timed runs have no `pulumi` on PATH: had any
stack needed the engine, the run would exit 2; exit 0 with every stack skipped means no engine call.
The policy gate runs for real (OPA), as it does on every apply. Prints figures, never asserts on time.
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


def _record_first_apply(root: Path, env: dict[str, str]) -> int:
    from vfleet import compile as compiler
    from vfleet.apply import orchestrate
    from vfleet.apply.decide import Result, StackResult
    from vfleet.apply.records import Records, state_dir

    def engine(job: orchestrate.Job, progress: orchestrate.Progress) -> StackResult:
        return StackResult(job.target.cluster, job.target.wave, Result.APPLIED, changes={"create": job.total})

    compiled = compiler.compile_fleet(root, env=env)
    report = orchestrate.run(compiled, orchestrate.Options(parallel=8), runner=lambda: engine,
                             records=Records(state_dir(root, env)))
    return sum(1 for r in report.results if r.result is Result.APPLIED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import synth

    vfleet = str(Path(sys.executable).parent / "vfleet")
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
        subprocess.run([vfleet, "stacks", "sync", str(root)], env=env | {"VFLEET_CACHE_DIR": str(Path(tmp) / "c0")},
                       check=True, capture_output=True)
        started = time.perf_counter()
        applied = _record_first_apply(root, env | {"VFLEET_CACHE_DIR": str(Path(tmp) / "c0")})
        print(f"first apply recorded through an injected engine: {applied} stacks "
              f"({time.perf_counter() - started:.1f} s)")
        for mode in ("cold", "warm"):
            best = None
            for i in range(args.repeat):
                cache = Path(tmp) / ("cache-warm" if mode == "warm" else f"cache-cold-{i}")
                if mode == "warm" and not cache.exists():
                    subprocess.run([vfleet, "apply", str(root), "--yes", "--output", "json"],
                                   env=env | {"VFLEET_CACHE_DIR": str(cache)}, capture_output=True)
                started = time.perf_counter()
                done = subprocess.run([vfleet, "apply", str(root), "--yes", "--output", "json"],
                                      env=env | {"VFLEET_CACHE_DIR": str(cache)}, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                report = json.loads(done.stdout) if done.stdout.strip() else {}
                results = {s["result"] for s in report.get("stacks", [])}
                if done.returncode != 0 or results != {"skipped"}:
                    print(f"{mode}: unexpected exit {done.returncode}, results {results}: {done.stderr[-500:]}")
                best = seconds if best is None else min(best, seconds)
                print(f"{mode} run {i + 1}: {seconds:.2f} s, exit {done.returncode}, "
                      f"{len(report.get('stacks', []))} stacks {sorted(results)}")
            print(f"no-change apply, {mode}: best {best:.2f} s of {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
