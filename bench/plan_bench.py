"""Plan benchmark: a one-tenant change on a synthetic fleet committed in Git.

    .venv/bin/python bench/plan_bench.py [--tenants 10000] [--clusters 100] [--repeat 3] [--policy]

Generates the fleet (bench/synth.py, placement lock by `vfleet place`'s stage), commits it in a temporary
Git repository, changes one tenant's cpu parameter and commits again, then plans base..head, each run in a
fresh interpreter with its own plan cache directory:

- cold:        no plan cache (the base is compiled whole once, its index cached)
- warm:        the base's index cached (the common CI case: the base was planned or applied before)
- warm --full: both revisions compiled whole, for comparison
- cli warm:    the same as warm through the `vfleet plan` command (its import cost included)
- with --policy: warm with policy (head compiled whole and judged by a real OPA), then with cached verdicts

For each: the wall time of the process' work (imports included), the plan's own step timings and its
exit code. Figures are printed, never asserted: the machine is shared and noisy.
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


def _child(root: str, cache: str, full: bool, policy: bool) -> None:
    """One plan in a fresh interpreter: imports included in the wall time."""
    started = time.perf_counter()
    os.environ["VFLEET_CACHE_DIR"] = cache
    from vfleet.plan import Options, plan

    imported = time.perf_counter()
    result = plan(Path(root), "HEAD~1", "HEAD", Options(policy=policy, incremental=not full))
    done = time.perf_counter()
    print(json.dumps({"wall": done - started, "import": imported - started, "plan": done - imported,
                      "method": result.method, "exit": result.exit_code, "timings": result.timings,
                      "changes": sum(len(c.resources) for c in result.clusters)}))


def _run(root: Path, cache: Path, *, full: bool = False, policy: bool = False) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--child", str(root), str(cache), str(int(full)),
                          str(int(policy))], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _cli(root: Path, cache: Path) -> float:
    vfleet = Path(sys.executable).parent / "vfleet"
    started = time.perf_counter()
    done = subprocess.run([str(vfleet), "plan", str(root), "--base", "HEAD~1", "--head", "HEAD", "--no-policy",
                           "-o", "json"], capture_output=True, env={**os.environ, "VFLEET_CACHE_DIR": str(cache)},
                          check=False)
    if done.returncode not in (0, 3):
        raise SystemExit(done.stderr.decode())
    return time.perf_counter() - started


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args], cwd=root,
                   check=True, capture_output=True)


def _fleet(workdir: Path, tenants: int, clusters: int) -> Path:
    import synth

    root = workdir / "fleet"
    started = time.perf_counter()
    synth.generate(root, max(1, min(100, tenants // 10)), tenants, clusters)
    synth.place_lock(root)
    shutil.copytree(REPO / "policies", root / "policies")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    tenant = next((root / "fleet" / "projects").glob("*/tenants/*.yaml"))
    text = tenant.read_text()
    changed = text.replace('cpu: "1"', 'cpu: "3"').replace('cpu: "2"', 'cpu: "3"', 1)
    tenant.write_text(changed if changed != text else text.replace('cpu: "3"', 'cpu: "4"'))
    _git(root, "commit", "-qam", f"change {tenant.name}")
    print(f"fleet: {tenants} tenants, {clusters} clusters, committed in Git ({time.perf_counter() - started:.1f} s "
          f"to generate); change: one parameter of {tenant.relative_to(root)}")
    return root


def _show(label: str, run: dict[str, object]) -> None:
    steps = ", ".join(f"{k} {v:.3f}" for k, v in run["timings"].items() if k != "total")  # type: ignore[attr-defined]
    print(f"  {label:<22} {run['wall']:6.3f} s  (imports {run['import']:.3f}, plan {run['plan']:.3f}: {steps}) "
          f"method={run['method']} exit={run['exit']} resource-changes={run['changes']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--policy", action="store_true", help="also plan with policy (a real OPA)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        root, cache, full, policy = args.child
        _child(root, cache, full == "1", policy == "1")
        return 0
    with tempfile.TemporaryDirectory(prefix="vfleet-plan-bench-") as tmp:
        workdir = Path(tmp)
        root = _fleet(workdir, args.tenants, args.clusters)
        for i in range(args.repeat):
            cache = workdir / f"cache-{i}"
            print(f"run {i + 1}:")
            _show("cold (no cache)", _run(root, cache))
            _show("warm (base cached)", _run(root, cache))
            _show("warm --full", _run(root, cache, full=True))
            print(f"  {'cli warm (vfleet plan)':<22} {_cli(root, cache):6.3f} s  (process wall time)")
            if args.policy:
                _show("warm + policy", _run(root, cache, policy=True))
                _show("warm + policy cached", _run(root, cache, policy=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
