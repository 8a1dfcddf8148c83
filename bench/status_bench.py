"""`vfleet status` for thousands of tenants on two live loopback clusters: time and API requests.

    .venv/bin/python bench/status_bench.py                       # 2,000 tenants on 2 clusters, 3 rounds
    .venv/bin/python bench/status_bench.py --tenants 200,2000 --rounds 5

For each size: starts two loopback clusters, generates a synthetic fleet (bench/synth.py) placed on
them, and puts on each cluster what a deployed fleet has there for status to read — per tenant its
namespace (vfleet's labels), its Helm release record (a real record that helm wrote for the test
chart, the real vcluster values schema inside, copied per tenant with the tenant's rendered values as
Helm would store them) and its StatefulSet (a quarter asleep: 0 replicas under the sleep annotation).
Then times `fleet_status` (the library: connect, read, derive) and the whole CLI (`vfleet status -o
json`, compile included), and counts the API requests where they leave the process.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
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
from kubernetes import client as k8s  # noqa: E402

from vfleet import compile as compiler  # noqa: E402
from vfleet import devclusters, toolchain  # noqa: E402
from vfleet.core import naming  # noqa: E402
from vfleet.devclusters import DevCluster  # noqa: E402
from vfleet.live import releases  # noqa: E402
from vfleet.live.connect import Connection  # noqa: E402
from vfleet.live.status import SLEEP_ANNOTATIONS, fleet_status  # noqa: E402

CLUSTERS = ("eu-000", "us-001")  # synth's names for two clusters; their kubeconfigs come from env vars
ENVS = ("KUBECONFIG_000", "KUBECONFIG_001")
IMAGE = "ghcr.io/loft-sh/vcluster-pro:0.35.3"


def kube(cluster: DevCluster) -> k8s.ApiClient:
    configuration = k8s.Configuration(host=cluster.server, api_key={"authorization": f"Bearer {cluster.admin_token}"})
    configuration.ssl_ca_cert = str(cluster.ca_file)
    configuration.connection_pool_maxsize = 32
    return k8s.ApiClient(configuration)


def fleet(root: Path, tenants: int) -> compiler.Compiled:
    synth.generate(root, projects=20, tenants=tenants, clusters=2)
    # synth's third region has no cluster here: its tenants go to the other two, alternately.
    for i, path in enumerate(sorted((root / "fleet" / "projects").rglob("tenants/*.yaml"))):
        text = path.read_text()
        if "region: ap" in text:
            path.write_text(text.replace("region: ap", "region: eu" if i % 2 else "region: us"))
    synth.place_lock(root)
    return compiler.compile_fleet(root)


def template_record(cluster: DevCluster, home: Path, values: dict[str, Any]) -> dict[str, Any]:
    """A release record written by the real helm for the test chart (with the real values schema)."""
    from livekit import copy_test_chart

    chart = copy_test_chart(home)
    values_file = home / "values.json"
    values_file.write_text(json.dumps(values))
    homes = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    env = {**os.environ, **{v: str(home / v.lower()) for v in homes}}
    subprocess.run([str(toolchain.binary("helm")), "install", "template", str(chart), "-n", "default", "-f",
                    str(values_file), "--kubeconfig", str(cluster.admin_kubeconfig)], check=True, env=env,
                   capture_output=True, timeout=120)
    core = k8s.CoreV1Api(kube(cluster))
    secret = core.read_namespaced_secret("sh.helm.release.v1.template.v1", "default", _preload_content=False)
    return releases.decode(json.loads(secret.data)["data"]["release"])


# What `each_tenant` hands its callback: the clients, the tenant's index, key, namespace and release name.
Populate = Callable[[Any, Any, int, str, str, str], None]


def each_tenant(cluster: DevCluster, compiled: compiler.Compiled, name: str, make: Populate) -> int:
    """For every tenant placed on `name`, 16 at a time: its namespace (labelled as vfleet labels it), then
    `make(core, apps, index, key, namespace, release)` for its objects; returns the count."""
    api = kube(cluster)
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    keys = sorted(k for k, c in compiled.placement.clusters.items() if c == name)

    def one(index_key: tuple[int, str]) -> None:
        index, key = index_key
        tenant = compiled.fleet.tenants[key]
        ns, release = tenant.namespace, naming.release_name(tenant.name)
        labels = {"app.kubernetes.io/managed-by": "vfleet", "vfleet.dev/project": tenant.project,
                  "vfleet.dev/tenant": tenant.name}
        core.create_namespace({"metadata": {"name": ns, "labels": labels}}, _preload_content=False)
        make(core, apps, index, key, ns, release)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, enumerate(keys)))
    api.close()
    return len(keys)


def populate(cluster: DevCluster, compiled: compiler.Compiled, name: str, record: dict[str, Any]) -> int:
    """Namespace, release record and StatefulSet of every tenant placed on `name`; returns the count."""

    def make(core: Any, apps: Any, index: int, key: str, ns: str, release: str) -> None:
        body = {**record, "name": release, "namespace": ns, "config": compiled.rendered.tenants[key].values}
        packed = gzip.compress(json.dumps(body).encode(), compresslevel=6)
        core.create_namespaced_secret(ns, {
            "metadata": {"name": f"sh.helm.release.v1.{release}.v1",
                         "labels": {"owner": "helm", "name": release, "status": "deployed", "version": "1"}},
            "type": releases.SECRET_TYPE, "data": {"release": base64.b64encode(base64.b64encode(packed)).decode()},
        }, _preload_content=False)
        asleep = index % 4 == 0
        apps.create_namespaced_stateful_set(ns, {
            "metadata": {"name": release, "labels": {"app": "vcluster", "release": release},
                         "annotations": {SLEEP_ANNOTATIONS[0]: "true"} if asleep else {}},
            "spec": {"replicas": 0 if asleep else 1, "serviceName": release,
                     "selector": {"matchLabels": {"app": "vcluster", "release": release}},
                     "template": {"metadata": {"labels": {"app": "vcluster", "release": release}},
                                  "spec": {"containers": [{"name": "syncer", "image": IMAGE}]}}},
        }, _preload_content=False)

    return each_tenant(cluster, compiled, name, make)


def count_requests() -> list[str]:
    sent: list[str] = []
    original = Connection._send

    def counting(self: Connection, method: str, path: str, *args: Any) -> Any:
        sent.append(f"{self.cluster} {method} {path}")
        return original(self, method, path, *args)

    Connection._send = counting  # type: ignore[method-assign,assignment]
    return sent


def run(tenants: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vfleet-status-bench-") as tmp:
        root = Path(tmp) / "fleet"
        began = time.perf_counter()
        compiled = fleet(root, tenants)
        print(f"\n== {tenants} tenants: fleet generated and compiled in {time.perf_counter() - began:.1f} s")
        clusters = devclusters.start_clusters([f"status-bench-{i}" for i in range(2)])
        try:
            env = {**os.environ, **{e: str(c.admin_kubeconfig) for e, c in zip(ENVS, clusters, strict=True)}}
            home = Path(tmp) / "helm"
            home.mkdir()
            first = sorted(compiled.rendered.tenants)[0]
            record = template_record(clusters[0], home, compiled.rendered.tenants[first].values)
            began = time.perf_counter()
            placed = [populate(c, compiled, n, record) for c, n in zip(clusters, CLUSTERS, strict=True)]
            print(f"populated {placed} tenants in {time.perf_counter() - began:.1f} s "
                  f"(namespace + release record + StatefulSet each)")
            time.sleep(30)  # let the StatefulSet controller create its pods before measuring
            sent = count_requests()
            cache = Path(tmp) / "cache"

            def timed(**kwargs: Any) -> tuple[float, int, Any]:
                sent.clear()
                began = time.perf_counter()
                status = fleet_status(compiled, env=env, **kwargs)
                return time.perf_counter() - began, len(sent), status

            bare = [timed() for _ in range(rounds)]
            cold, cold_requests, status = timed(cache_dir=cache)
            warm = [timed(cache_dir=cache) for _ in range(rounds)]
            touched = _touch_one(clusters[0], compiled)
            changed = timed(cache_dir=cache)
            counts = {k: v for k, v in status.counts().items() if v}
            print(f"phases: {counts}")
            print(f"fleet_status, empty cache (every release record listed and decoded): {cold:.2f} s, "
                  f"{cold_requests} requests")
            per_cluster = ", ".join(f"{c.name} {c.seconds:.2f} s" for c in warm[-1][2].clusters)
            print(f"fleet_status, records cached: median {statistics.median(w[0] for w in warm):.2f} s, "
                  f"min {min(w[0] for w in warm):.2f} s over {rounds} rounds, {warm[-1][1]} requests "
                  f"(reading per cluster: {per_cluster})")
            print(f"fleet_status, one release changed ({touched}): {changed[0]:.2f} s, {changed[1]} requests")
            print(f"fleet_status, no cache: median {statistics.median(b[0] for b in bare):.2f} s, "
                  f"min {min(b[0] for b in bare):.2f} s, {bare[-1][1]} requests")
            size = _list_bytes(clusters[0])
            print(f"one cluster's Secret list (owner=helm, not superseded): {size / 1e6:.1f} MB")
            cli_env = {**env, "VFLEET_CACHE_DIR": str(Path(tmp) / "cli-cache")}
            for run_name in ("first", "second"):
                began = time.perf_counter()
                cli = subprocess.run([str(Path(sys.executable).parent / "vfleet"), "status", str(root), "-o", "json"],
                                     env=cli_env, capture_output=True, check=False, timeout=600)
                print(f"CLI `vfleet status -o json`, {run_name} run (compile included): "
                      f"{time.perf_counter() - began:.2f} s, exit {cli.returncode}, {len(cli.stdout) / 1e6:.1f} MB")
        finally:
            devclusters.stop_clusters(clusters)


def _touch_one(cluster: DevCluster, compiled: compiler.Compiled) -> str:
    """Change one release record (as an upgrade's status update would): a new resourceVersion."""
    key = sorted(k for k, c in compiled.placement.clusters.items() if c == CLUSTERS[0])[0]
    tenant = compiled.fleet.tenants[key]
    api = kube(cluster)
    k8s.CoreV1Api(api).patch_namespaced_secret(f"sh.helm.release.v1.{tenant.name}.v1", tenant.namespace,
                                               {"metadata": {"labels": {"touched": "1"}}}, _preload_content=False)
    api.close()
    return key


def _list_bytes(cluster: DevCluster) -> int:
    api = kube(cluster)
    answer = k8s.CoreV1Api(api).list_secret_for_all_namespaces(label_selector=releases.LIST_SELECTOR,
                                                               _preload_content=False)
    size = len(answer.data)
    api.close()
    return size


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
