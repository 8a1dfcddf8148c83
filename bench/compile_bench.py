"""Compile benchmark: per-stage timings and peak memory for synthetic fleets.

    .venv/bin/python bench/compile_bench.py [--sizes 1000,10000] [--clusters 100] [--repeat 3]

For each size: generate a fleet (bench/synth.py), then compile it in a fresh process, cold (no parse
cache) and warm (parse cache filled by the cold run), printing the time of each stage
(load / model / params / place / render / desired), the total and the peak RSS. Figures are printed,
never asserted: this machine is shared and noisy, read them as orders of magnitude and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

STAGES = ("load", "model", "params", "place", "render", "desired")


def _child(root: str, cache_dir: str, warm: bool) -> None:
    """Runs in a fresh interpreter: one compile, timings and peak RSS as JSON on stdout."""
    from vfleet import compile as compiler

    os.environ["VFLEET_CACHE_DIR"] = cache_dir
    start = time.perf_counter()
    cache = compiler.parse_cache(Path(root))
    compiled = compiler.compile_fleet(Path(root), cache=cache)
    total = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({
        "warm": warm,
        "total": total,
        "stages": compiled.timings,
        "peak_rss_mib": max(own, kids) / 1024,
        "errors": len(compiled.findings.errors),
        "first_error": str(compiled.findings.errors[0].message) if compiled.findings.errors else None,
        "tenants": len(compiled.fleet.tenants),
        "resources": sum(len(s.resources) for s in compiled.desired.values()),
    }))


def _run(root: Path, cache_dir: Path, warm: bool) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(root), str(cache_dir), "1" if warm else "0"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the best is shown")
    args = parser.parse_args()

    import synth

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    header = f"{'tenants':>8} {'mode':>5} " + " ".join(f"{s:>8}" for s in STAGES) + f" {'total':>8} {'peak MiB':>9}"
    print(header)
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="vfleet-bench-") as tmp:
            root = Path(tmp) / "repo"
            synth.generate(root, min(args.projects, size), size, args.clusters)
            synth.place_lock(root)
            for warm in (False, True):
                best: dict[str, object] | None = None
                for _ in range(args.repeat):
                    cache_dir = Path(tmp) / ("cache-warm" if warm else f"cache-cold-{time.monotonic_ns()}")
                    if warm and not cache_dir.exists():
                        _run(root, cache_dir, warm=False)  # fill the cache once
                    result = _run(root, cache_dir, warm)
                    if best is None or float(result["total"]) < float(best["total"]):  # type: ignore[arg-type]
                        best = result
                assert best is not None
                if best["errors"]:
                    print(f"compile reported {best['errors']} errors, first: {best['first_error']}")
                stages = best["stages"]
                assert isinstance(stages, dict)
                print(f"{size:>8} {'warm' if warm else 'cold':>5} "
                      + " ".join(f"{stages.get(s, 0.0):>8.3f}" for s in STAGES)
                      + f" {float(best['total']):>8.3f} {float(best['peak_rss_mib']):>9.0f}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
