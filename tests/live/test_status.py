"""`vfleet status` and its dashboard against real loopback clusters, real Helm releases of the test chart,
and a real headless Chromium.

One fleet (projects `retail` and `data`) is put on the session's two clusters once for the module — the
desired objects by server-side apply through the kubernetes client, releases by the real helm binary
(test infrastructure, not a product apply path) — and a third cluster is down (its kubeconfig points
at a port nobody listens on). Each tenant is brought into one phase:

    st-a  retail/web-running   installed, its pod marked Ready as a kubelet would      -> running
          retail/web-starting  installed, its pod Pending (there is no kubelet)        -> starting
          retail/web-sleeping  installed with `sleep.sleeping: true`                  -> sleeping
          retail/web-new       namespace applied, no release                          -> not deployed
    st-b  retail/api-failed    upgraded to an immutable StatefulSet change            -> failed
          retail/api-deleting  namespace deleting, held by a finalizer                -> deleting
          data/etl           installed with other values than the fleet's          -> starting, values differ
          retail/retired       not in the fleet, still on the cluster                -> "not in fleet"
    down  data/legacy                                                               -> unknown
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from browser import Browser
from fleetkit import CONTRACTS
from livekit import REPO, helm, kube_client
from vfleet import compile as compiler
from vfleet import place
from vfleet.desired import HELM_RELEASE
from vfleet.devclusters import DevCluster
from vfleet.live import releases
from vfleet.live.connect import Connection
from vfleet.live.status import FleetStatus, Phase, fleet_status
from vfleet.report import dashboard

pytestmark = pytest.mark.live

ENV_A, ENV_B, ENV_DOWN = "VFLEET_TEST_STATUS_A", "VFLEET_TEST_STATUS_B", "VFLEET_TEST_STATUS_DOWN"
HOLD = "vfleet.dev/test-hold"  # a finalizer nobody removes but the test: keeps a namespace terminating
ARTIFACTS = Path(os.environ.get("VFLEET_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))


def _cluster(name: str, env: str, max_tenants: int) -> str:
    return f"""
        apiVersion: vfleet.dev/v1alpha1
        kind: Cluster
        metadata: {{name: {name}}}
        spec:
          kubeconfig: {{env: {env}}}
          capacity: {{maxTenants: {max_tenants}}}
        """


def _project(name: str) -> str:
    return f"""
        apiVersion: vfleet.dev/v1alpha1
        kind: Project
        metadata: {{name: {name}}}
        spec:
          templates: [{{name: basic}}]
          defaultTemplate: {{name: basic, version: 1.x}}
          clusters: {{names: [st-a, st-b, st-down]}}
        """


def _tenant(name: str, cluster: str, **spec: Any) -> str:
    return str(yaml.safe_dump({"apiVersion": "vfleet.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
                               "spec": {"owner": f"{name}@example.com", "cluster": cluster, **spec}}))


FLEET: dict[str, str] = {
    "vfleet.yaml": f"chartSchemas: [{str(CONTRACTS)!r}]\n",
    "fleet/clusters/st-a.yaml": _cluster("st-a", ENV_A, 10),
    "fleet/clusters/st-b.yaml": _cluster("st-b", ENV_B, 3),
    "fleet/clusters/st-down.yaml": _cluster("st-down", ENV_DOWN, 5),
    "fleet/projects/retail/project.yaml": _project("retail"),
    "fleet/projects/data/project.yaml": _project("data"),
    "fleet/projects/retail/tenants/web-running.yaml": _tenant("web-running", "st-a", protect=True),
    "fleet/projects/retail/tenants/web-starting.yaml": _tenant("web-starting", "st-a"),
    "fleet/projects/retail/tenants/web-sleeping.yaml": _tenant(
        "web-sleeping", "st-a", sleep={"sleeping": True}, autoDelete={"afterInactivity": "720h"}
    ),
    "fleet/projects/retail/tenants/web-new.yaml": _tenant("web-new", "st-a"),
    "fleet/projects/retail/tenants/api-failed.yaml": _tenant("api-failed", "st-b"),
    "fleet/projects/retail/tenants/api-deleting.yaml": _tenant("api-deleting", "st-b"),
    "fleet/projects/data/tenants/etl.yaml": _tenant("etl", "st-b", sleep={"afterInactivity": "2h"}),
    "fleet/projects/data/tenants/legacy.yaml": _tenant("legacy", "st-down"),
    "templates/basic/template.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Template
        metadata: {name: basic}
        spec:
          versions:
            - version: 1.0.0
              chartVersion: 0.35.3
              values: values.yaml.j2
              resources: {cpu: "1", memory: 2Gi}
        """,
    "templates/basic/values.yaml.j2": """
        controlPlane:
          statefulSet:
            labels:
              vfleet.dev/tenant: {{ tenant }}
        """,
}

PROJECTS = ("retail", "data")
EXPECTED = {
    "retail/web-running": Phase.RUNNING,
    "retail/web-starting": Phase.STARTING,
    "retail/web-sleeping": Phase.SLEEPING,
    "retail/web-new": Phase.NOT_DEPLOYED,
    "retail/api-failed": Phase.FAILED,
    "retail/api-deleting": Phase.DELETING,
    "data/etl": Phase.STARTING,
    "retail/retired": Phase.STARTING,
    "data/legacy": Phase.UNKNOWN,
}


# ------------------------------------------------------------------------------------ test infrastructure


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.2)


def server_side_apply(api: k8s.ApiClient, body: dict[str, Any]) -> None:
    """Server-side apply of one object as field manager vfleet, through the kubernetes client."""
    name, namespace = body["metadata"]["name"], body["metadata"].get("namespace")
    core, networking, rbac = k8s.CoreV1Api(api), k8s.NetworkingV1Api(api), k8s.RbacAuthorizationV1Api(api)
    patch: Callable[..., Any] = {
        "ResourceQuota": core.patch_namespaced_resource_quota,
        "LimitRange": core.patch_namespaced_limit_range,
        "NetworkPolicy": networking.patch_namespaced_network_policy,
        "Role": rbac.patch_namespaced_role,
        "RoleBinding": rbac.patch_namespaced_role_binding,
    }.get(body["kind"]) or (lambda n, b, **kw: core.patch_namespace(n, b, **kw))
    args = (name, body) if body["kind"] == "Namespace" else (name, namespace, body)
    patch(*args, field_manager="vfleet", force=True, _content_type="application/apply-patch+yaml")


def run_helm(cluster: DevCluster, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    homes = {var: str(home / var.lower()) for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
             }
    return subprocess.run([helm(), *args, "--kubeconfig", str(cluster.admin_kubeconfig)], capture_output=True,
                          text=True, env={**os.environ, **homes}, check=False, timeout=120)


def install(cluster: DevCluster, home: Path, chart: Path, release: str, namespace: str,
            values: dict[str, Any], *, upgrade: bool = False) -> subprocess.CompletedProcess[str]:
    values_file = home / f"{namespace}-{release}.json"
    values_file.write_text(json.dumps(values))  # JSON is YAML
    verb = ["upgrade"] if upgrade else ["install"]
    return run_helm(cluster, home, *verb, release, str(chart), "-n", namespace, "-f", str(values_file))


def mark_ready(api: k8s.ApiClient, namespace: str, pod: str) -> None:
    """What a kubelet would report for a started pod: Running and Ready (there is no kubelet here)."""
    core = k8s.CoreV1Api(api)
    eventually(lambda: _exists(lambda: core.read_namespaced_pod(pod, namespace)), f"pod {namespace}/{pod}")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
    ]}}
    core.patch_namespaced_pod_status(pod, namespace, status)


def _exists(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Scenario:
    root: Path
    env: dict[str, str]
    a: DevCluster
    b: DevCluster
    compiled: compiler.Compiled
    status: FleetStatus
    chart: Path
    helm_home: Path

    def tenant(self, key: str, status: FleetStatus | None = None) -> Any:
        return next(t for t in (status or self.status).tenants if t.key == key)


@pytest.fixture(scope="module")
def scenario(live_clusters: list[DevCluster], test_chart: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Scenario]:
    a, b = live_clusters
    root = tmp_path_factory.mktemp("status-fleet")
    for rel, text in FLEET.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"))
    home = tmp_path_factory.mktemp("helm")
    # The down cluster: a real kubeconfig (with a real token in it, which must never be printed) whose
    # server is a port nobody listens on.
    down = yaml.safe_load(b.admin_kubeconfig.read_text())
    down["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{closed_port()}"
    down_path = root.parent / f"{root.name}-down.kubeconfig"
    down_path.write_text(yaml.safe_dump(down))
    env = {**os.environ, ENV_A: str(a.admin_kubeconfig), ENV_B: str(b.admin_kubeconfig),
           ENV_DOWN: str(down_path)}
    placed = compiler.compile_fleet(root, check_lock=False)
    place.write_lock(root, placed.placement)
    compiled = compiler.compile_fleet(root)
    assert compiled.ok, [str(f.message) for f in compiled.findings]
    apis = {"st-a": kube_client(a), "st-b": kube_client(b)}
    clusters = {"st-a": a, "st-b": b}
    namespaces: list[tuple[k8s.ApiClient, str]] = []
    try:
        for name, api in apis.items():
            for resource in compiled.desired[name].resources:
                if resource.kind != HELM_RELEASE:
                    server_side_apply(api, resource.body)
            namespaces += [(api, r.name) for r in compiled.desired[name].resources if r.kind == "Namespace"]

        def release(key: str, values: dict[str, Any] | None = None, *, upgrade: bool = False) -> None:
            tenant = compiled.fleet.tenants[key]
            cluster = clusters[compiled.placement.clusters[key]]
            rendered = compiled.rendered.tenants[key].values if values is None else values
            done = install(cluster, home, test_chart, tenant.name, tenant.namespace, rendered,
                           upgrade=upgrade)
            assert done.returncode == 0 or upgrade, done.stderr

        for key in ("retail/web-running", "retail/web-starting", "retail/web-sleeping", "retail/api-failed"):
            release(key)
        mark_ready(apis["st-a"], "vc-retail-web-running", "web-running-0")
        # An upgrade the API server refuses (volumeClaimTemplates cannot change): Helm marks it failed.
        failed_values = {**compiled.rendered.tenants["retail/api-failed"].values}
        claim = {"persistence": {"volumeClaim": {"enabled": True}}}
        sts = {**failed_values["controlPlane"]["statefulSet"], **claim}
        failed_values["controlPlane"] = {**failed_values["controlPlane"], "statefulSet": sts}
        release("retail/api-failed", failed_values, upgrade=True)
        # Deployed with other values than the fleet's (someone ran helm by hand).
        etl = compiled.rendered.tenants["data/etl"].values
        release("data/etl", {**etl, "controlPlane": {**etl["controlPlane"], "service": {"enabled": False}}})
        # Still on the cluster, no longer in the fleet.
        labels = {"app.kubernetes.io/managed-by": "vfleet", "vfleet.dev/project": "retail",
                  "vfleet.dev/tenant": "retired"}
        server_side_apply(apis["st-b"], {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": "vc-retail-retired", "labels": labels}})
        namespaces.append((apis["st-b"], "vc-retail-retired"))
        assert install(b, home, test_chart, "retired", "vc-retail-retired", {}).returncode == 0
        # Deleting: a finalizer holds the namespace in Terminating.
        core_b = k8s.CoreV1Api(apis["st-b"])
        core_b.create_namespaced_config_map("vc-retail-api-deleting", {
            "metadata": {"name": "hold", "finalizers": [HOLD]}})
        core_b.delete_namespace("vc-retail-api-deleting")
        apps_a = k8s.AppsV1Api(apis["st-a"])
        eventually(lambda: (apps_a.read_namespaced_stateful_set("web-running", "vc-retail-web-running").status
                            .ready_replicas == 1), "web-running's StatefulSet counts its pod ready")
        status = fleet_status(compiled, env=env, timeout_s=5)
        yield Scenario(root, env, a, b, compiled, status, test_chart, home)
    finally:
        with contextlib.suppress(ApiException):
            k8s.CoreV1Api(apis["st-b"]).patch_namespaced_config_map(
                "hold", "vc-retail-api-deleting", {"metadata": {"finalizers": None}})
        for api, namespace in namespaces:
            with contextlib.suppress(ApiException):
                k8s.CoreV1Api(api).delete_namespace(namespace)
        # The clusters are shared: leave them as found for the modules after this one (bounded wait).
        deadline = time.monotonic() + 60
        for api, namespace in namespaces:
            core = k8s.CoreV1Api(api)
            while time.monotonic() < deadline and _exists(lambda: core.read_namespace(namespace)):  # noqa: B023
                time.sleep(0.3)
        for api in apis.values():
            api.close()


# -------------------------------------------------------------------------------------------------- tests


def mine(status: FleetStatus) -> dict[str, Phase]:
    """Phases of this module's tenants. The session's clusters are shared: another module's fleet left
    there shows too, as tenants "not in the fleet" (asserted by `test_phases`), and is left out here."""
    return {t.key: t.phase for t in status.tenants if t.project in PROJECTS}


def test_phases(scenario: Scenario) -> None:
    found = mine(scenario.status)
    assert found == EXPECTED, {t.key: (t.phase.value, t.reason) for t in scenario.status.tenants}
    assert all(not t.in_fleet for t in scenario.status.tenants if t.project not in PROJECTS)
    assert scenario.tenant("retail/web-starting").reason == "0/1 replicas ready"
    assert "helm:" in scenario.tenant("retail/api-failed").reason
    assert scenario.tenant("retail/retired").in_fleet is False


def test_desired_against_deployed(scenario: Scenario) -> None:
    running = scenario.tenant("retail/web-running")
    assert running.deployed is not None and running.deployed.status == "deployed"
    assert running.deployed.chart_version == running.desired_chart == "0.35.3"
    assert running.deployed.values_hash == running.desired_hash == scenario.compiled.rendered.tenants[
        "retail/web-running"].hash
    assert running.in_sync is True and running.replicas == running.ready == 1
    assert running.protect is True and running.owner == "web-running@example.com"
    etl = scenario.tenant("data/etl")
    assert etl.in_sync is False and etl.deployed is not None and etl.deployed.values_hash != etl.desired_hash
    assert etl.sleep == "after 2h idle"
    sleeping = scenario.tenant("retail/web-sleeping")
    assert (sleeping.replicas, sleeping.sleep) == (0, "asleep by hand")
    assert sleeping.auto_delete == "after 720h idle"
    failed = scenario.tenant("retail/api-failed")
    assert failed.deployed is not None and (failed.deployed.revision, failed.deployed.status) == (2, "failed")
    assert scenario.tenant("retail/web-new").deployed is None


def test_clusters_and_one_down(scenario: Scenario) -> None:
    clusters = {c.name: c for c in scenario.status.clusters}
    a, b, down = clusters["st-a"], clusters["st-b"], clusters["st-down"]
    assert (a.reachable, a.version, a.tenants, a.max_tenants, a.deployed) == (True, "v1.35.4", 4, 10, 3)
    assert (b.reachable, b.tenants, b.max_tenants, b.deployed) == (True, 3, 3, 3)
    assert not down.reachable and down.version is None
    legacy = scenario.tenant("data/legacy")
    assert legacy.phase is Phase.UNKNOWN and "st-down" in legacy.reason and "unreachable" in legacy.reason
    assert [f.code for f in scenario.status.findings] == ["live.unreachable"]
    assert scenario.status.exit_code == 2  # a partial picture must not pass for a whole one


def test_one_list_call_per_kind_per_cluster(scenario: Scenario, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """Counted where every request leaves: GET /version and three lists per cluster, whatever the tenants."""
    sent: list[tuple[str, str]] = []
    selectors: list[str] = []
    send = Connection._send

    def counting(self: Connection, method: str, path: str, query: Any, *args: Any) -> Any:
        sent.append((self.cluster, f"{method} {path}"))
        selectors.append(f"{self.cluster} {path} {(query or {}).get('labelSelector', '')}")
        return send(self, method, path, query, *args)

    monkeypatch.setattr(Connection, "_send", counting)
    status = fleet_status(scenario.compiled, ["st-a", "st-b"], env=scenario.env)
    for cluster in ("st-a", "st-b"):
        assert sorted(r for c, r in sent if c == cluster) == [
            "GET /api/v1/namespaces", "GET /api/v1/secrets", "GET /apis/apps/v1/statefulsets", "GET /version"]
    assert status.requests == 8
    assert mine(status) == {k: p for k, p in EXPECTED.items() if k != "data/legacy"}

    # With a cache of decoded release records: Secrets are listed metadata-only first; their bodies
    # once more only while a newest revision is not in the cache. Still no request per tenant.
    cache = tmp_path / "cache"
    sent.clear()
    first = fleet_status(scenario.compiled, ["st-a", "st-b"], env=scenario.env, cache_dir=cache)
    assert sorted(r for c, r in sent if c == "st-a") == [
        "GET /api/v1/namespaces", "GET /api/v1/secrets", "GET /api/v1/secrets", "GET /apis/apps/v1/statefulsets",
        "GET /version"]
    sent.clear()
    second = fleet_status(scenario.compiled, ["st-a", "st-b"], env=scenario.env, cache_dir=cache)
    assert len(sent) == 8 and second.requests == 8
    for run in (first, second):
        assert [(t.key, t.phase, t.deployed, t.in_sync) for t in run.tenants] == [
            (t.key, t.phase, t.deployed, t.in_sync) for t in status.tenants]
    # A release upgraded since: its body alone is listed (one more list call, by release name).
    key = "retail/web-starting"
    upgraded = install(scenario.a, scenario.helm_home, scenario.chart, "web-starting", "vc-retail-web-starting",
                       scenario.compiled.rendered.tenants[key].values, upgrade=True)
    assert upgraded.returncode == 0, upgraded.stderr
    selectors.clear()
    third = fleet_status(scenario.compiled, ["st-a", "st-b"], env=scenario.env, cache_dir=cache)
    assert sorted(s for s in selectors if "/secrets " in s) == [  # clusters are read in parallel: sorted
        f"st-a /api/v1/secrets {releases.LIST_SELECTOR}",
        f"st-a /api/v1/secrets {releases.LIST_SELECTOR},name in (web-starting)",
        f"st-b /api/v1/secrets {releases.LIST_SELECTOR}"]
    revision = scenario.tenant(key, third).deployed
    assert revision is not None and revision.revision == 2 and scenario.tenant(key, third).in_sync is True


def test_forbidden_read_names_the_missing_permission(scenario: Scenario) -> None:
    env = {**scenario.env, ENV_A: str(scenario.a.user_kubeconfig)}
    status = fleet_status(scenario.compiled, ["st-a", "st-b"], env=env)
    a_tenants = [t for t in status.tenants if t.cluster == "st-a"]
    assert a_tenants and all(t.phase is Phase.UNKNOWN for t in a_tenants)
    assert "may not list namespaces cluster-wide" in a_tenants[0].reason
    forbidden = [f for f in status.findings if f.code == "live.forbidden"]
    assert {f.subject for f in forbidden} == {"cluster:st-a"}
    assert any("'list' on resource 'secrets'" in f.message for f in forbidden)
    assert any("statefulsets.apps" in f.message for f in forbidden)
    cluster_a = next(c for c in status.clusters if c.name == "st-a")
    assert cluster_a.reachable and cluster_a.version == "v1.35.4"  # /version is public; the lists are not
    # The other cluster is still reported in full.
    assert scenario.tenant("retail/api-failed", status).phase is Phase.FAILED
    assert scenario.tenant("data/etl", status).phase is Phase.STARTING


def _vfleet(scenario: Scenario, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "vfleet"), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120,
                          env={**(env or scenario.env), "COLUMNS": "200",
                               "VFLEET_CACHE_DIR": str(scenario.root.parent / f"{scenario.root.name}-cache")})


def test_cli_outputs_never_show_a_credential(scenario: Scenario, tmp_path: Path) -> None:
    tokens = [scenario.a.admin_token, scenario.a.user_token, scenario.b.admin_token, scenario.b.user_token]
    forbidden_env = {**scenario.env, ENV_A: str(scenario.a.user_kubeconfig)}
    html = tmp_path / "status.html"
    runs = [
        _vfleet(scenario, "status", str(scenario.root)),
        _vfleet(scenario, "status", str(scenario.root), "-o", "json", "--html", str(html)),
        _vfleet(scenario, "status", str(scenario.root), env=forbidden_env),
    ]
    for run in runs:
        assert run.returncode == 2, run.stderr  # st-down (and, in the last, st-a's reads) are errors
    report = json.loads(runs[1].stdout)
    reported = {t["key"]: t["phase"] for t in report["tenants"] if t["project"] in PROJECTS}
    assert reported == {k: p.value for k, p in EXPECTED.items()} and report["exitCode"] == 2
    assert report["counts"] == scenario.status.counts()
    assert "retail/web-running" in runs[0].stdout and "unreachable" in runs[0].stdout
    assert "forbidden" in runs[2].stdout
    texts = [run.stdout + run.stderr for run in runs] + [html.read_text()]
    for text in texts:
        for token in tokens:
            assert token not in text


def test_cli_broken_fleet_reads_nothing(scenario: Scenario, tmp_path: Path) -> None:
    broken = tmp_path / "fleet"
    for rel, text in FLEET.items():
        (broken / rel).parent.mkdir(parents=True, exist_ok=True)
        (broken / rel).write_text(textwrap.dedent(text).lstrip("\n"))
    (broken / "fleet/projects/data/tenants/etl.yaml").write_text("kind: Tenant\nspec: [\n")
    html = tmp_path / "status.html"
    run = _vfleet(scenario, "status", str(broken), "--html", str(html))
    assert run.returncode == 2 and "etl.yaml" in run.stdout and not html.exists()


# ------------------------------------------------------------------------------------ dashboard in Chromium


def _select(browser: Browser, control: str, value: str) -> int:
    browser.eval(f"""(() => {{ const s = document.getElementById({json.dumps(control)});
        s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()""")
    return int(browser.eval("document.querySelectorAll('#rows tr:not([hidden])').length"))


def test_dashboard_in_a_real_browser(scenario: Scenario, tmp_path: Path) -> None:
    page = tmp_path / "status.html"
    page.write_text(dashboard.render(scenario.status))
    with Browser() as browser:
        browser.open(page.as_uri())
        assert browser.requests() == [page.as_uri()]  # nothing but the file itself
        # The session's clusters may hold other modules' tenants too: expectations come from the status.
        rows = scenario.status.tenants
        total = len(rows)
        assert total >= len(EXPECTED)
        assert browser.eval("document.querySelectorAll('#rows tr:not([hidden])').length") == total
        chips = browser.eval("Object.fromEntries([...document.querySelectorAll('#phases .chip')]"
                             ".map(c => [c.dataset.phase || 'all', +c.dataset.count]))")
        assert chips == scenario.status.counts() | {"all": total}
        cards = browser.eval("[...document.querySelectorAll('#clusters .card')].map(c => c.dataset.cluster)")
        assert cards == ["st-a", "st-b", "st-down"]

        shown_data = _select(browser, "f-project", "data")
        assert shown_data == 2
        assert browser.eval("[...document.querySelectorAll('#rows tr:not([hidden])')].every("
                            "r => r.dataset.project === 'data')")
        # Counts per phase follow the project filter.
        unknown_chip = "#phases .chip[data-phase=\"unknown\"]"
        assert browser.eval(f"+document.querySelector('{unknown_chip}').dataset.count") == 1
        assert _select(browser, "f-project", "") == total
        starting = [t for t in rows if t.phase is Phase.STARTING]
        assert len(starting) >= 3  # web-starting, etl, retired
        assert _select(browser, "f-phase", "starting") == len(starting)
        assert _select(browser, "f-cluster", "st-a") == len([t for t in starting if t.cluster == "st-a"])
        assert browser.eval("location.hash") == "#cluster=st-a&phase=starting"
        _select(browser, "f-cluster", "")
        _select(browser, "f-phase", "")
        browser.eval("(() => { const s = document.getElementById('f-search'); s.value = 'retail/web-sleeping';"
                     " s.dispatchEvent(new Event('input')); })()")
        assert browser.eval("document.querySelectorAll('#rows tr:not([hidden])').length") == 1
        browser.eval("(() => { const s = document.getElementById('f-search'); s.value = '';"
                     " s.dispatchEvent(new Event('input')); })()")
        # A chip is a filter too.
        browser.eval("document.querySelector('#phases .chip[data-phase=\"failed\"]').click()")
        assert browser.eval("document.getElementById('f-phase').value") == "failed"
        failed = len([t for t in rows if t.phase is Phase.FAILED])
        assert browser.eval("document.querySelectorAll('#rows tr:not([hidden])').length") == failed
        browser.eval("document.querySelector('#phases .chip[data-phase=\"\"]').click()")
        shot = browser.screenshot(ARTIFACTS / "status-dashboard.png")
    assert shot.stat().st_size > 10_000


def test_dashboard_filters_from_the_address(scenario: Scenario, tmp_path: Path) -> None:
    page = tmp_path / "status.html"
    page.write_text(dashboard.render(scenario.status))
    with Browser() as browser:
        browser.open(page.as_uri() + "#project=retail&phase=running")
        keys = browser.eval(
            "[...document.querySelectorAll('#rows tr:not([hidden]) strong')].map(e => e.textContent)")
        assert keys == ["retail/web-running"]


def test_dashboard_shows_hostile_text_as_text(scenario: Scenario, tmp_path: Path) -> None:
    """An owner (free text in a spec) that tries to close the data element and run a script stays text."""
    hostile = "</script><script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
    first = scenario.status.tenants[0]
    status = replace(scenario.status, tenants=(replace(first, owner=hostile), *scenario.status.tenants[1:]))
    page = tmp_path / "hostile.html"
    page.write_text(dashboard.render(status))
    with Browser() as browser:
        browser.open(page.as_uri())
        assert browser.eval("window.pwned === undefined")
        assert browser.eval("document.querySelectorAll('#rows img, #rows script').length") == 0
        assert browser.eval(f"document.body.textContent.includes({json.dumps(hostile)})")
        assert browser.requests() == [page.as_uri()]
