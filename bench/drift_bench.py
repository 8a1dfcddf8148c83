"""`vfleet drift` and `vfleet check --live` for thousands of tenants on two live loopback clusters.

    .venv/bin/python bench/drift_bench.py                      # 2,000 tenants on 2 clusters, 3 rounds
    .venv/bin/python bench/drift_bench.py --tenants 200,2000 --rounds 2

For each size: generates a synthetic fleet (bench/synth.py) on two clusters, starts two loopback
clusters and puts the fleet on them — every desired object by server-side apply (field manager vfleet),
and per tenant a Helm release record (a Secret shaped as Helm writes it, holding the tenant's rendered
values). Then measures, counting API requests where they leave the process:

- `drift` on the fleet in sync (every object decided locally), then with drift made by another client
  (quotas edited, limit ranges deleted, orphans created): library and whole CLI;
- `check --live` of a pull request changing one tenant's parameters, against its base
  (`--live-base`): one release rendered by the real helm, only the touched objects dry-run.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests")]

import synth  # noqa: E402

from vfleet import compile as compiler  # noqa: E402
from vfleet import devclusters  # noqa: E402
from vfleet.desired import HELM_RELEASE  # noqa: E402
from vfleet.live import kube, releases  # noqa: E402
from vfleet.live.connect import Connection, connect  # noqa: E402
from vfleet.live.drift import drift  # noqa: E402
from vfleet.live.dryrun import check_live  # noqa: E402

CLUSTERS = ("eu-000", "us-001")  # synth's names for two clusters; their kubeconfigs come from env vars
ENVS = ("KUBECONFIG_000", "KUBECONFIG_001")


def fleet(root: Path, tenants: int) -> compiler.Compiled:
    from livekit import copy_test_chart

    synth.generate(root, projects=20, tenants=tenants, clusters=2)
    chart = copy_test_chart(root.parent)  # the project's test chart: no chart repository is reachable here
    for path in (root / "fleet" / "clusters").glob("*.yaml"):
        path.write_text(path.read_text() + f"  chart: {{path: {chart}}}\n")
    # synth's third region has no cluster here: its tenants go to the other two, alternately.
    for i, path in enumerate(sorted((root / "fleet" / "projects").rglob("tenants/*.yaml"))):
        text = path.read_text()
        if "region: ap" in text:
            path.write_text(text.replace("region: ap", "region: eu" if i % 2 else "region: us"))
    synth.place_lock(root)
    compiled = compiler.compile_fleet(root)
    assert compiled.ok, [str(f) for f in compiled.findings.errors][:5]
    return compiled


def record(name: str, namespace: str, values: Any) -> dict[str, Any]:
    """A Helm release record Secret as helm writes it (status deployed, revision 1)."""
    release = {
        "name": name,
        "namespace": namespace,
        "version": 1,
        "info": {"status": "deployed", "description": "Install complete"},
        "chart": {"metadata": {"name": "vcluster", "version": "0.35.3"}},
        "config": values,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v1",
            "namespace": namespace,
            "labels": {"owner": "helm", "name": name, "status": "deployed", "version": "1"},
        },
        "type": releases.SECRET_TYPE,
        "data": {"release": releases.encode(release)},
    }


def populate(conn: Connection, compiled: compiler.Compiled) -> int:
    """Every desired object of the cluster by server-side apply, and every release's record."""
    discovery = kube.Discovery(conn)
    state = compiled.desired[conn.cluster]
    crds = [r for r in state.resources if r.kind == "CustomResourceDefinition"]
    for r in crds:
        kube.apply(conn, discovery.find(r.api_version, r.kind), r.body, dry_run=False, force=True)  # type: ignore[arg-type]
    for r in crds:  # wait until the CRD's kinds are served
        group = r.body["spec"]["group"]
        version = r.body["spec"]["versions"][0]["name"]
        kind = r.body["spec"]["names"]["kind"]
        while discovery.find(f"{group}/{version}", kind) is None:
            discovery.forget(f"{group}/{version}")
            time.sleep(0.2)
    secret = kube.ApiResource("v1", "Secret", "secrets", True)
    todo = [r for r in state.resources if r.kind != "CustomResourceDefinition"]
    # namespaces first: everything else lives in one
    for batch in ([r for r in todo if r.kind == "Namespace"], [r for r in todo if r.kind != "Namespace"]):

        def one(r: Any) -> None:
            if r.kind == HELM_RELEASE:
                spec = r.body["spec"]
                body = record(spec["releaseName"], spec["namespace"], spec["values"])
                conn.request("POST", secret.collection(spec["namespace"]), body=body)
            else:
                kube.apply(conn, discovery.find(r.api_version, r.kind), r.body, dry_run=False, force=True)  # type: ignore[arg-type]

        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(one, batch))
    return len(state.resources)


def timed(run: Callable[[], Any], rounds: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(rounds):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return times, result


def make_drift(conn: Connection, compiled: compiler.Compiled, n: int) -> None:
    """`n` quotas edited by another client, `n` limit ranges deleted, `n` orphan network policies."""
    quotas = [r for r in compiled.desired[conn.cluster].resources if r.kind == "ResourceQuota"][:n]
    for r in quotas:
        conn.request(
            "PATCH",
            f"/api/v1/namespaces/{r.namespace}/resourcequotas/{r.name}",
            query={"fieldManager": "kubectl-edit"},
            body={"spec": {"hard": {"pods": "3"}}},
            content_type="application/merge-patch+json",
        )
        conn.request("DELETE", f"/api/v1/namespaces/{r.namespace}/limitranges/vfleet-limits")
        conn.request(
            "POST",
            f"/apis/networking.k8s.io/v1/namespaces/{r.namespace}/networkpolicies",
            body={
                "metadata": {"name": "left-over", "labels": {"app.kubernetes.io/managed-by": "vfleet"}},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            },
        )


def cli(root: Path, env: dict[str, str], *args: str) -> tuple[float, int]:
    began = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vfleet"), *args, str(root)],
        env=env,
        capture_output=True,
        check=False,
        timeout=900,
    )
    return time.perf_counter() - began, done.returncode


def run(tenants: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vfleet-drift-bench-") as tmp:
        root = Path(tmp) / "fleet"
        began = time.perf_counter()
        compiled = fleet(root, tenants)
        counts = {c: len(compiled.desired[c].resources) for c in CLUSTERS}
        print(
            f"\n== {tenants} tenants: fleet generated and compiled in {time.perf_counter() - began:.1f} s; "
            f"desired objects per cluster {counts}"
        )
        clusters = devclusters.start_clusters([f"drift-bench-{i}" for i in range(2)])
        try:
            env = {**os.environ, **{e: str(c.admin_kubeconfig) for e, c in zip(ENVS, clusters, strict=True)}}
            began = time.perf_counter()
            with connect(compiled.fleet, CLUSTERS, env=env) as conns:
                assert not conns.findings, conns.findings
                placed = conns.each(lambda conn: populate(conn, compiled))
            print(f"populated {placed} in {time.perf_counter() - began:.1f} s (server-side apply + release records)")

            times, report = timed(lambda: drift(compiled, env=env), rounds)
            print(
                f"drift, in sync: median {statistics.median(times):.2f} s, min {min(times):.2f} s over {rounds} "
                f"rounds; {report.requests} API requests, {report.dry_runs} dry-runs, exit {report.exit_code}"
            )
            cli_env = {**env, "VFLEET_CACHE_DIR": str(Path(tmp) / "cache")}
            for name in ("first", "second"):
                seconds, code = cli(root, cli_env, "drift", "-o", "json")
                print(f"CLI `vfleet drift -o json`, {name} run (compile included): {seconds:.2f} s, exit {code}")

            with connect(compiled.fleet, CLUSTERS, env=env) as conns:
                conns.each(lambda conn: make_drift(conn, compiled, 10))
            times, report = timed(lambda: drift(compiled, env=env), rounds)
            print(
                f"drift, 60 objects drifted: median {statistics.median(times):.2f} s; {report.requests} requests, "
                f"{report.dry_runs} dry-runs; {len(report.drifts)} drifts, exit {report.exit_code}"
            )

            # A pull request changing one tenant: check --live against its base.
            tenant = next(
                t
                for t in sorted(compiled.fleet.tenants.values(), key=lambda t: t.key)
                if compiled.placement.clusters.get(t.key) == CLUSTERS[0]
            )
            path = root / tenant.doc.file
            text = path.read_text()
            path.write_text(
                text.replace("parameters:", "parameters:\n    replicas: 2", 1)
                if "parameters:" in text
                else text + "  parameters:\n    replicas: 2\n"
            )
            head = compiler.compile_fleet(root)
            assert head.ok, [str(f) for f in head.findings.errors][:3]
            times, live = timed(lambda: check_live(head, base=compiled, env=env), rounds)
            print(
                f"check --live, one tenant changed ({tenant.key}): median {statistics.median(times):.2f} s; "
                f"clusters {live.clusters}, {live.objects} dry-run requests, {live.releases} release rendered, "
                f"findings {[f.code for f in live.findings]}"
            )
        finally:
            devclusters.stop_clusters(clusters)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", default="2000", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for size in (int(s) for s in args.tenants.split(",")):
        run(size, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
