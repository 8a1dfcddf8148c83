"""Start-up time and memory of loopback clusters (etcd + kube-apiserver + kube-controller-manager).

    .venv/bin/python bench/devclusters_bench.py                 # 1 cluster, then 2 side by side, 3 rounds
    .venv/bin/python bench/devclusters_bench.py --counts 1,2,3 --rounds 2 --settle 20

For each round: the wall time until every cluster passed its readiness checks (and each cluster's own
start-up time, key generation included), resident memory (VmRSS) per process right after start-up and
again after `--settle` seconds (controllers fill their caches), and the time to stop everything.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

from vfleet import devclusters


def _mib(kib: int) -> float:
    return kib / 1024


def run(count: int, settle_s: float) -> dict[str, float]:
    names = [f"bench-{i}" for i in range(1, count + 1)]
    started = time.perf_counter()
    clusters = devclusters.start_clusters(names)
    wall = time.perf_counter() - started
    try:
        at_start = [devclusters.rss_kib(c) for c in clusters]
        time.sleep(settle_s)
        settled = [devclusters.rss_kib(c) for c in clusters]
    finally:
        stop_started = time.perf_counter()
        devclusters.stop_clusters(clusters)
        stop = time.perf_counter() - stop_started
    for cluster, rss0, rss1 in zip(clusters, at_start, settled, strict=True):
        parts = ", ".join(f"{role} {_mib(rss1.get(role, 0)):.0f}" for role in devclusters.ROLES)
        ready, later = _mib(sum(rss0.values())), _mib(sum(rss1.values()))
        print(
            f"  {cluster.name}: ready in {cluster.startup_s:.2f} s; RSS {ready:.0f} MiB at ready, "
            f"{later:.0f} MiB after {settle_s:.0f} s ({parts})"
        )
    return {
        "wall": wall,
        "startup": statistics.mean(c.startup_s for c in clusters),
        "rss": statistics.mean(_mib(sum(r.values())) for r in settled),
        "stop": stop,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,2", help="cluster counts to start together, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the second memory reading")
    args = parser.parse_args()
    for count in (int(c) for c in args.counts.split(",")):
        rounds = []
        for i in range(args.rounds):
            print(f"{count} cluster(s), round {i + 1}:")
            rounds.append(run(count, args.settle))
        print(
            f"== {count} cluster(s) started together, {args.rounds} rounds (median): "
            f"all ready in {statistics.median(r['wall'] for r in rounds):.2f} s wall, "
            f"{statistics.median(r['startup'] for r in rounds):.2f} s per cluster; "
            f"RSS {statistics.median(r['rss'] for r in rounds):.0f} MiB per cluster after settling; "
            f"stopped in {statistics.median(r['stop'] for r in rounds):.2f} s"
        )


if __name__ == "__main__":
    main()
