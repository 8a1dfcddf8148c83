"""Compile benchmark: the table of stage x fleet size, time and memory, for synthetic fleets.

    .venv/bin/python bench/compile_bench.py [--tenants 1000,10000,100000] [--clusters N] [--repeat 3]

For each size a fleet is generated (bench/synth.py: 100 projects, one connected cluster per 100 tenants
unless `--clusters` is given, every tenant placed), with the repository's policies/. Then, each in a
fresh process, cold (no parse cache) and warm (the parse cache filled by an earlier run):

- compile: the time of each stage (load / model / params / place / render / desired), the resident
  memory held after each stage, and the process's peak;
- `vfleet check` as its library call (compile + the policy gate on the local OPA servers, which start
  while the fleet compiles): wall time, the policy step's share, and the peak memory of the whole
  process tree (vfleet and its OPA processes, summed, sampled every 50 ms).

`GOMEMLIMIT=...` in the environment and `--tenants-per-part N` rerun the OPA memory trade-off of
docs/performance.md (a GOMEMLIMIT of the user's reaches the OPA processes as it is).

Figures are printed, never asserted: this machine is shared and noisy, read them as orders of magnitude
and ratios. The best of `--repeat` runs is shown (one run per mode above 20,000 tenants unless given).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

STAGES = ("load", "model", "params", "place", "render", "desired")
_PER_PART_ENV = "VFLEET_BENCH_TENANTS_PER_PART"  # --tenants-per-part, passed to the child runs
PAGE = os.sysconf("SC_PAGE_SIZE")
T = TypeVar("T")


def _resident_mib(pid: int | str = "self") -> float:
    """The resident memory of a process now (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------- fresh processes


def _child_compile(root: str) -> dict[str, Any]:
    from vfleet import compile as compiler

    held: dict[str, float] = {}
    timed = compiler._timed  # the compile's own stage timer, wrapped to read the memory each stage leaves

    def timed_and_measured(timings: dict[str, float], stage: str, run: Callable[[], T]) -> T:
        result = timed(timings, stage, run)
        held[stage] = _resident_mib()
        return result

    compiler._timed = timed_and_measured
    held["start"] = _resident_mib()
    start = time.perf_counter()
    compiled = compiler.compile_fleet(Path(root), cache=compiler.parse_cache(Path(root)))
    total = time.perf_counter() - start
    errors = compiled.findings.errors
    return {
        "total": total, "stages": compiled.timings, "held_mib": held, "peak_mib": _peak_mib(),
        "errors": len(errors), "first_error": str(errors[0].message) if errors else None,
        "tenants": len(compiled.fleet.tenants),
        "resources": sum(len(s.resources) for s in compiled.desired.values()),
    }


def _child_check(root: str) -> dict[str, Any]:
    from vfleet import compile as compiler
    from vfleet import policy

    if per_part := os.environ.get(_PER_PART_ENV):
        from vfleet.policy import partition

        partition.TENANTS_PER_PART = int(per_part)
    start = time.perf_counter()
    report = policy.check(Path(root), cache=compiler.parse_cache(Path(root)), env=os.environ)
    total = time.perf_counter() - start
    errors = report.findings.errors
    return {
        "total": total, "timings": dict(report.timings), "peak_mib": _peak_mib(),
        "errors": len(errors), "first_error": str(errors[0].message) if errors else None,
        "verdicts": len(report.verdicts),
    }


class TreeMemory:
    """Samples the summed resident memory of a process and its descendants; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every, self.peak_mib = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, sum(_resident_mib(pid) for pid in self._tree()))
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mib


def _run(mode: str, root: Path, cache_dir: Path) -> dict[str, Any]:
    env = os.environ | {"VFLEET_CACHE_DIR": str(cache_dir)}  # GOMEMLIMIT / GOGC, if set, reach OPA as they are
    env.pop("VFLEET_OPA_URL", None)  # the local servers: what CI and `vfleet check` use
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(proc.pid)
    out, err = proc.communicate()
    tree_peak = memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"the {mode} run failed ({proc.returncode}): {err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["tree_peak_mib"] = tree_peak
    return result


def _best(mode: str, root: Path, work: Path, warm: bool, repeat: int) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        cache_dir = work / ("cache-warm" if warm else f"cache-cold-{time.monotonic_ns()}")
        if warm and not cache_dir.exists():
            _run("compile", root, cache_dir)  # fill the cache once
        result = _run(mode, root, cache_dir)
        if not warm:
            shutil.rmtree(cache_dir, ignore_errors=True)
        if best is None or result["total"] < best["total"]:
            best = result
    assert best is not None
    if best["errors"]:
        print(f"  ({mode} reported {best['errors']} errors, first: {best['first_error']})")
    return best


# ---------------------------------------------------------------------------------------------- main


def make_fleet(root: Path, tenants: int, projects: int, clusters: int) -> None:
    import synth

    synth.generate(root, min(projects, tenants), tenants, clusters)
    shutil.copytree(REPO / "policies", root / "policies")
    synth.place_lock(root)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run = {"compile": _child_compile, "check": _child_check}[sys.argv[2]]
        print(json.dumps(run(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", "--sizes", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--clusters", type=int, help="connected clusters (default: one per 100 tenants, >= 10)")
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--repeat", type=int, help="runs per mode, the best shown (default 3; 1 above 20,000)")
    parser.add_argument("--no-check", action="store_true", help="the compile only, without `vfleet check`")
    parser.add_argument("--tenants-per-part", type=int,
                        help="the check's policy input in parts of at most this many tenants "
                             "(default: vfleet.policy.partition.TENANTS_PER_PART)")
    args = parser.parse_args()
    if args.tenants_per_part:
        os.environ[_PER_PART_ENV] = str(args.tenants_per_part)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    times: list[str] = []
    memory: list[str] = []
    checks: list[str] = []
    for size in (int(s) for s in args.tenants.split(",")):
        clusters = args.clusters or max(10, size // 100)
        repeat = args.repeat or (1 if size > 20_000 else 3)
        with tempfile.TemporaryDirectory(prefix="vfleet-bench-") as tmp:
            work = Path(tmp)
            root = work / "repo"
            started = time.perf_counter()
            make_fleet(root, size, args.projects, clusters)
            print(f"{size} tenants on {clusters} clusters: generated and placed in "
                  f"{time.perf_counter() - started:.1f} s; best of {repeat}", flush=True)
            for warm in (False, True):
                mode = "warm" if warm else "cold"
                best = _best("compile", root, work, warm, repeat)
                stages, held = best["stages"], best["held_mib"]
                times.append(f"{size:>8} {clusters:>6} {mode:>5} "
                             + " ".join(f"{stages.get(s, 0):>7.2f}" for s in STAGES) + f" {best['total']:>8.2f}")
                memory.append(f"{size:>8} {clusters:>6} {mode:>5} {held['start']:>7.0f} "
                              + " ".join(f"{held.get(s, 0):>7.0f}" for s in STAGES) + f" {best['peak_mib']:>8.0f}")
                if args.no_check:
                    continue
                check = _best("check", root, work, warm, repeat)
                timing = check["timings"]
                checks.append(f"{size:>8} {clusters:>6} {mode:>5} {check['total']:>8.2f} {timing['compile']:>8.2f} "
                              f"{timing.get('policy-input', 0):>7.2f} {timing.get('policy-eval', 0):>7.2f} "
                              f"{timing.get('policy-wait', 0):>7.2f} {check['peak_mib']:>8.0f} "
                              f"{check['tree_peak_mib']:>8.0f} {check['verdicts']:>8}")
    print("\ncompile, seconds per stage")
    print(f"{'tenants':>8} {'clust.':>6} {'mode':>5} " + " ".join(f"{s:>7}" for s in STAGES) + f" {'total':>8}")
    print("\n".join(times))
    print("\ncompile, resident MiB after each stage (and the process's peak)")
    print(f"{'tenants':>8} {'clust.':>6} {'mode':>5} {'start':>7} " + " ".join(f"{s:>7}" for s in STAGES)
          + f" {'peak':>8}")
    print("\n".join(memory))
    if checks:
        print("\nvfleet check (compile + policy gate): seconds, and peak MiB of vfleet alone and with its OPA servers")
        print(f"{'tenants':>8} {'clust.':>6} {'mode':>5} {'check':>8} {'compile':>8} {'input':>7} {'policy':>7} "
              f"{'waited':>7} {'vfleet':>8} {'+OPA':>8} {'verdicts':>8}")
        print("\n".join(checks))
        print("(policy: serialising the input and every request, overlapping the desired stage; "
              "waited: what it did not hide)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
