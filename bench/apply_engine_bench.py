"""`vfleet apply` with the real Pulumi engine on one loopback cluster: one stack of N tenants (default 100).

    .venv/bin/python bench/apply_engine_bench.py [--tenants 100] [--repeat 3]

Builds a synthetic fleet (bench/synth.py, 3 clusters; only the first one's stack is applied, on a
loopback cluster started here and stopped after: etcd + kube-apiserver + kube-controller-manager), with
this repository's policies (a real OPA on every apply) and the project's test chart for the releases
(awaiting off: no kubelet). Then times whole `vfleet apply --cluster <c>` processes, end to end
(compile, policy, guards, engine):

- the first apply (every namespace, quota, limit range, network policy, role binding and release);
- a no-change apply (skipped by the desired-state hash: no engine call);
- a forced no-change preview (`vfleet preview --all --full`: the engine diffs every resource);
- a one-tenant change (one release's values), targeted (the default) and untargeted (`--full`),
  alternating, `--repeat` times each.

Peak RSS of the engine's processes (the pulumi CLI, the provider plugin) and of vfleet's own process is
sampled from /proc while each command runs. Prints figures; never asserts on time. Needs the toolchain
(`make toolchain`).
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

ENGINE_NAMES = ("pulumi", "pulumi-resource-kubernetes")


class PeakRss:
    """Samples /proc every 50 ms: the largest RSS seen per program name, and of the sum of all of them."""

    def __init__(self, vfleet_pid: int) -> None:
        self.vfleet_pid = vfleet_pid
        self.peak: dict[str, int] = {}
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (program, CPU seconds at its last sample)
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                name = _program(int(entry.name), self.vfleet_pid)
                if name is None:
                    continue
                rss = _rss_kib(int(entry.name))
                self.cpu[int(entry.name)] = (name, _cpu_s(int(entry.name)))
                total += rss
                self.peak[name] = max(self.peak.get(name, 0), rss)
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(0.05)


def _program(pid: int, vfleet_pid: int) -> str | None:
    if pid == vfleet_pid:
        return "vfleet"
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return None
    name = Path(argv0).name
    return name if name in ENGINE_NAMES else None


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, dict[str, object], PeakRss]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRss(proc.pid) as rss:
        out, err = proc.communicate(timeout=1800)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-3000:]}\n{err[-3000:]}")
    report: dict[str, object] = json.loads(out) if out.strip() else {}
    return elapsed, report, rss


def build(root: Path, tenants: int, kubeconfig: Path, chart: Path) -> str:
    import synth

    synth.generate(root, projects=10, tenants=tenants * 3, clusters=3)
    shutil.copytree(REPO / "policies", root / "policies")
    for name in ("platform.yaml",):
        if (REPO / "fleet" / name).exists():  # the platform roles production clusters must have
            shutil.copyfile(REPO / "fleet" / name, root / "fleet" / name)
    (cluster_file,) = [p for p in (root / "fleet" / "clusters").glob("*.yaml") if "wave: 0" in p.read_text()]
    text = cluster_file.read_text().replace("awaitTenants: true", "awaitTenants: false")
    cluster_file.write_text(text + f"  chart:\n    path: {chart}\n")
    synth.place_lock(root)
    return cluster_file.stem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=100, help="tenants on the applied stack")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from livekit import TEST_CHART, VCLUSTER_SCHEMA
    from vfleet import devclusters, toolchain

    vfleet = str(Path(sys.executable).parent / "vfleet")
    with tempfile.TemporaryDirectory(prefix="vfleet-apply-engine-bench-") as tmp_name, devclusters.running(
        ["bench-a"]
    ) as (cluster,):
        tmp = Path(tmp_name)
        chart = tmp / "vcluster"
        shutil.copytree(TEST_CHART, chart)
        shutil.copyfile(VCLUSTER_SCHEMA, chart / "values.schema.json")
        kubeconfig = devclusters.write_kubeconfig(tmp / "bench.kubeconfig", {"bench-a": cluster})
        root = tmp / "repo"
        stack = build(root, args.tenants, kubeconfig, chart)
        env = {
            **os.environ,
            "KUBECONFIG_000": str(kubeconfig),
            "VFLEET_CACHE_DIR": str(tmp / "cache"),
            "VFLEET_STATE_DIR": str(tmp / "state"),
            "PULUMI_CONFIG_PASSPHRASE": "bench",
            "PULUMI_HOME": str(tmp / "pulumi-home"),
            "PATH": f"{toolchain.binary('helm').parent}{os.pathsep}{os.environ['PATH']}",
        }
        env.pop("PULUMI_BACKEND_URL", None)
        subprocess.run([vfleet, "stacks", "sync", "."], cwd=root, env=env, check=True, capture_output=True)
        apply = [vfleet, "apply", ".", "--cluster", stack, "--yes", "--output", "json"]
        rows: list[tuple[str, list[float], PeakRss, str]] = []

        def one(label: str, cmd: list[str]) -> tuple[float, dict[str, object], PeakRss]:
            elapsed, report, rss = timed(cmd, root, env)
            stacks = report.get("stacks") or [{}]
            assert isinstance(stacks, list)
            cpu: dict[str, float] = {}
            for name, seconds in rss.cpu.values():
                cpu[name] = cpu.get(name, 0.0) + seconds
            cpu_text = ", ".join(f"{n} {v:.1f}" for n, v in sorted(cpu.items()))
            print(f"  {label}: {elapsed:.2f} s {stacks[0].get('result')} {stacks[0].get('changes')}; CPU s: {cpu_text}",
                  flush=True)
            return elapsed, report, rss

        first, report, rss = one("first apply", apply)
        resources = sum(int(v) for v in report["stacks"][0]["changes"].values())  # type: ignore[index,misc]
        rows.append(("first apply", [first], rss, f"{resources} engine steps"))
        runs: dict[str, list[float]] = {"no-change apply": [], "forced preview": [], "targeted": [], "full": []}
        peaks: dict[str, PeakRss] = {}
        tenant = next((root / "fleet" / "projects").rglob("tenant-00000.yaml"))
        versions = ('k8sVersion: "1.35"', 'k8sVersion: "1.34"')
        flip = 0
        for _ in range(args.repeat):
            elapsed, _r, peaks["no-change apply"] = one("no-change apply", apply)
            runs["no-change apply"].append(elapsed)
            elapsed, _r, peaks["forced preview"] = one(
                "forced preview", [vfleet, "preview", ".", "--cluster", stack, "--all", "--full", "--output", "json"]
            )
            runs["forced preview"].append(elapsed)
            for mode, extra in (("targeted", []), ("full", ["--full"])):
                text = tenant.read_text()
                tenant.write_text(text.replace(versions[flip], versions[1 - flip], 1))
                flip = 1 - flip
                elapsed, report, peaks[mode] = one(f"one-tenant change, {mode}", apply + extra)
                runs[mode].append(elapsed)
        print(f"\n{args.tenants} tenants on one stack ({resources} engine steps), loopback cluster, median of "
              f"{args.repeat} (first apply: once)\n")
        print(f"{'run':<34}{'median s':>10}{'min s':>8}{'max s':>8}   peak RSS MiB (vfleet / pulumi / provider / sum)")
        labels = {
            "no-change apply": "no-change apply (hash: no engine)",
            "forced preview": "no-change preview --all --full",
            "targeted": "one-tenant change, targeted",
            "full": "one-tenant change, --full",
        }
        table = [("first apply", [first], rss)] + [(labels[k], v, peaks[k]) for k, v in runs.items()]
        for label, values, peak in table:
            mem = " / ".join(str(peak.peak.get(n, 0) // 1024) for n in ("vfleet", *ENGINE_NAMES))
            print(f"{label:<34}{statistics.median(values):>10.2f}{min(values):>8.2f}{max(values):>8.2f}   "
                  f"{mem} / {peak.peak_total // 1024}")
        ratio = statistics.median(runs["full"]) / statistics.median(runs["targeted"])
        print(f"\nuntargeted / targeted one-tenant change: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
