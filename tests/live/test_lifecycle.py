"""`vfleet lifecycle` against the session's real loopback clusters (a third one down).

The fleet lives in a real Git repository. The tenants' objects are created the way the chart and a
tenant's workloads would create them — namespaces by server-side apply of the desired state, each
tenant's vcluster StatefulSet (name = release, `app: vcluster`) and workloads through the kubernetes
client — and the real kube-controller-manager reconciles them (ReplicaSets, Pods):

    lc-a    shop/nightly   sleeps 20:00, wakes 08:00 Europe/Berlin; control plane 1, Deployment web 3,
                           StatefulSet db 2 replicas
    lc-b    shop/idle      sleeps after 1h without activity
            shop/expired   autoDelete.expiry in the past
            shop/gone      autoDelete.expiry in the past (with `expired`: half the cluster expires at once)
            shop/keep      expired too, but protected
    lc-down shop/legacy    its kubeconfig points at a port nobody listens on

Schedules are judged by fixed clocks (`Options.now`), inactivity by the real timestamps the API server
writes on objects the test changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from livekit import REPO, dynamic_client, kube_client
from vfleet import compile as compiler
from vfleet import place
from vfleet.desired import HELM_RELEASE
from vfleet.devclusters import DevCluster
from vfleet.lifecycle import Options, Report, act, lifecycle, observe, propose, run
from vfleet.lifecycle.decide import Action, decide_sleep, rfc3339
from vfleet.live.connect import connect
from vfleet.live.status import Phase, fleet_status

pytestmark = pytest.mark.live

CONTRACTS = (REPO / ".." / "shared" / "contracts").resolve()
ENV = {"lc-a": "VFLEET_TEST_LC_A", "lc-b": "VFLEET_TEST_LC_B", "lc-down": "VFLEET_TEST_LC_DOWN"}
NIGHTS = {"schedule": "0 20 * * *", "wakeup": "0 8 * * *", "timezone": "Europe/Berlin"}
EVENING = datetime(2030, 1, 15, 19, 30, tzinfo=UTC)  # 20:30 in Berlin (CET)
NIGHT = datetime(2030, 1, 15, 23, 0, tzinfo=UTC)
MORNING = datetime(2030, 1, 16, 7, 5, tzinfo=UTC)  # 08:05 in Berlin
NEXT_EVENING = EVENING + timedelta(days=1)
NEXT_MORNING = MORNING + timedelta(days=1)
VFLEET = str(Path(sys.executable).parent / "vfleet")
NS = {"nightly": "vc-shop-nightly", "idle": "vc-shop-idle"}


def _tenant(name: str, cluster: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "vfleet.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
            "spec": {"owner": f"{name}@example.com", "cluster": cluster, **spec}}


def fleet_files() -> dict[str, Any]:
    files: dict[str, Any] = {
        "vfleet.yaml": {"chartSchemas": [str(CONTRACTS)]},
        "fleet/projects/shop/project.yaml": {
            "apiVersion": "vfleet.dev/v1alpha1", "kind": "Project", "metadata": {"name": "shop"},
            "spec": {"templates": [{"name": "basic"}], "defaultTemplate": {"name": "basic", "version": "1.x"},
                     "clusters": {"names": list(ENV)}}},
        "templates/basic/template.yaml": {
            "apiVersion": "vfleet.dev/v1alpha1", "kind": "Template", "metadata": {"name": "basic"},
            "spec": {"versions": [{"version": "1.0.0", "chartVersion": "0.35.3", "values": "values.yaml.j2",
                                   "resources": {"cpu": "1", "memory": "2Gi"}}]}},
        "fleet/projects/shop/tenants/nightly.yaml": _tenant("nightly", "lc-a", sleep=NIGHTS),
        "fleet/projects/shop/tenants/idle.yaml": _tenant("idle", "lc-b", sleep={"afterInactivity": "1h"}),
        "fleet/projects/shop/tenants/expired.yaml": _tenant("expired", "lc-b", autoDelete={"expiry": "2026-01-01"}),
        "fleet/projects/shop/tenants/gone.yaml": _tenant("gone", "lc-b", autoDelete={"expiry": "2026-02-01"}),
        "fleet/projects/shop/tenants/keep.yaml": _tenant("keep", "lc-b", protect=True,
                                                         autoDelete={"expiry": "2026-01-01"}),
        "fleet/projects/shop/tenants/legacy.yaml": _tenant("legacy", "lc-down"),
    }
    for name, env in ENV.items():
        files[f"fleet/clusters/{name}.yaml"] = {
            "apiVersion": "vfleet.dev/v1alpha1", "kind": "Cluster", "metadata": {"name": name},
            "spec": {"kubeconfig": {"env": env}, "capacity": {"maxTenants": 10}}}
    return files


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class World:
    root: Path
    repo: git.Repo
    env: dict[str, str]
    apis: dict[str, k8s.ApiClient]
    compiled: compiler.Compiled

    def run(self, now: datetime, **options: Any) -> Report:
        return lifecycle(self.compiled, Options(now=now, env=self.env, timeout_s=5, **options))

    def replicas(self, namespace: str, cluster: str = "lc-a") -> dict[str, int]:
        apps = k8s.AppsV1Api(self.apis[cluster])
        found = {f"StatefulSet/{s.metadata.name}": s.spec.replicas
                 for s in apps.list_namespaced_stateful_set(namespace).items}
        found |= {f"Deployment/{d.metadata.name}": d.spec.replicas
                  for d in apps.list_namespaced_deployment(namespace).items}
        return found

    def annotations(self, namespace: str, kind: str, name: str, cluster: str = "lc-a") -> dict[str, str]:
        apps = k8s.AppsV1Api(self.apis[cluster])
        read = apps.read_namespaced_stateful_set if kind == "StatefulSet" else apps.read_namespaced_deployment
        return dict(read(name, namespace).metadata.annotations or {})

    def versions(self) -> dict[str, Any]:
        """Spec generation and vfleet's annotations of every workload of this module's namespaces (controllers
        keep writing their status, and the deployment controller adds its revision annotation when it gets
        round to it: a dry run has nothing to do with either)."""
        out: dict[str, Any] = {}
        for cluster, api in self.apis.items():
            apps = k8s.AppsV1Api(api)
            for s in apps.list_stateful_set_for_all_namespaces().items + apps.list_deployment_for_all_namespaces(
            ).items:
                if s.metadata.namespace.startswith("vc-shop-"):
                    key = f"{cluster}/{s.metadata.namespace}/{type(s).__name__}/{s.metadata.name}"
                    ours = {k: v for k, v in (s.metadata.annotations or {}).items() if k.startswith("vfleet.dev/")}
                    out[key] = (s.metadata.generation, s.spec.replicas, ours)
        return out

    def tenant(self, report: Report, key: str) -> Any:
        return next(t for t in report.tenants if t.key == key)

    def restore(self, target: datetime) -> None:
        """Put shop/nightly back to awake with the original counts (for the next test)."""
        report = self.run(target, clusters=["lc-a"])
        assert not any(t.error for t in report.tenants)


def control_plane(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    """The vcluster StatefulSet as the chart names and labels it."""
    labels = {"app": "vcluster", "release": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "serviceName": f"{name}-headless", "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "syncer", "image": "vcluster:test"}]}}}}


def workload(kind: str, name: str, namespace: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                         "spec": {"containers": [{"name": name, "image": f"{name}:test"}]}}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture(scope="module")
def world(live_clusters: list[DevCluster], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    a, b = live_clusters
    root = tmp_path_factory.mktemp("lifecycle-fleet")
    for rel, data in fleet_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (root / "templates/basic/values.yaml.j2").write_text("controlPlane: {}\n", encoding="utf-8")
    down = yaml.safe_load(b.admin_kubeconfig.read_text())
    down["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{closed_port()}"
    down_path = root.parent / f"{root.name}-down.kubeconfig"
    down_path.write_text(yaml.safe_dump(down))
    env = {**os.environ, ENV["lc-a"]: str(a.admin_kubeconfig), ENV["lc-b"]: str(b.admin_kubeconfig),
           ENV["lc-down"]: str(down_path), "VFLEET_CACHE_DIR": str(root.parent / f"{root.name}-cache")}
    place.write_lock(root, compiler.compile_fleet(root, check_lock=False).placement)
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "lifecycle tests")
        config.set_value("user", "email", "lifecycle@example.invalid")
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "fleet")
    compiled = compiler.compile_fleet(root, "HEAD", env=env)
    assert compiled.ok, [f.message for f in compiled.findings.errors]
    apis = {"lc-a": kube_client(a), "lc-b": kube_client(b)}
    namespaces: list[tuple[k8s.ApiClient, str]] = []
    try:
        for cluster, api in apis.items():
            client = dynamic_client(api)
            for r in compiled.desired[cluster].resources:
                if r.kind == HELM_RELEASE:
                    continue
                resource = client.resources.get(api_version=r.api_version, kind=r.kind)
                client.server_side_apply(resource, body=r.body, name=r.name, namespace=r.namespace,
                                         field_manager="vfleet", force_conflicts=True)
                if r.kind == "Namespace":
                    namespaces.append((api, r.name))
            for key, where in sorted(compiled.placement.clusters.items()):
                if where != cluster:
                    continue
                tenant = compiled.fleet.tenants[key]
                k8s.AppsV1Api(api).create_namespaced_stateful_set(
                    tenant.namespace, control_plane(tenant.name, tenant.namespace, 1))
        apps_a = k8s.AppsV1Api(apis["lc-a"])
        apps_a.create_namespaced_deployment(NS["nightly"], workload("Deployment", "web", NS["nightly"], 3))
        apps_a.create_namespaced_stateful_set(NS["nightly"], workload("StatefulSet", "db", NS["nightly"], 2))
        yield World(root, repo, env, apis, compiled)
    finally:
        for api, namespace in namespaces:
            with contextlib.suppress(ApiException):
                k8s.CoreV1Api(api).delete_namespace(namespace)
        deadline = time.monotonic() + 60
        for api, namespace in namespaces:
            core = k8s.CoreV1Api(api)
            while time.monotonic() < deadline:
                try:
                    core.read_namespace(namespace)
                except ApiException:
                    break
                time.sleep(0.3)
        for api in apis.values():
            api.close()


ORIGINAL = {"StatefulSet/nightly": 1, "StatefulSet/db": 2, "Deployment/web": 3}
ASLEEP = {"StatefulSet/nightly": 0, "StatefulSet/db": 0, "Deployment/web": 0}


# -------------------------------------------------------------------------------------------------- tests


def test_dry_run_changes_nothing(world: World) -> None:
    before = world.versions()
    branches = [h.name for h in world.repo.heads]
    report = world.run(EVENING, dry_run=True)
    nightly = world.tenant(report, "shop/nightly")
    assert nightly.action is Action.SLEEP and nightly.planned and not nightly.done
    assert {p.key for p in report.proposals if not p.held} == set()  # held by the mass-delete guard
    assert world.versions() == before
    assert [h.name for h in world.repo.heads] == branches
    assert world.replicas(NS["nightly"]) == ORIGINAL


def test_one_cluster_down_the_others_handled(world: World) -> None:
    report = world.run(EVENING, dry_run=True)
    reachable = {c.name: c.reachable for c in report.clusters}
    assert reachable == {"lc-a": True, "lc-b": True, "lc-down": False}
    assert world.tenant(report, "shop/legacy").state == "unknown"
    assert world.tenant(report, "shop/nightly").action is Action.SLEEP
    assert report.exit_code == 1
    assert any(f.code == "live.unreachable" and "lc-down" in f.message for f in report.findings)
    # Requests per cluster do not depend on the tenants: /version and eight lists.
    assert {c.name: c.requests for c in report.clusters if c.reachable} == {"lc-a": 9, "lc-b": 9}


def test_schedule_sleeps_and_wakes_with_counts_restored(world: World) -> None:
    evening = world.run(EVENING, clusters=["lc-a"])
    nightly = world.tenant(evening, "shop/nightly")
    assert nightly.action is Action.SLEEP and nightly.error is None, nightly
    assert world.replicas(NS["nightly"]) == ASLEEP
    marks = world.annotations(NS["nightly"], "StatefulSet", "nightly")
    assert marks[act.REPLICAS] == "1" and marks["vfleet.dev/sleeping"] == "true"
    assert marks[act.SLEPT_AT] == "2030-01-15T19:30:00Z" and "schedule '0 20 * * *'" in marks["vfleet.dev/slept-reason"]
    assert world.annotations(NS["nightly"], "Deployment", "web")[act.REPLICAS] == "3"
    assert world.annotations(NS["nightly"], "StatefulSet", "db")[act.REPLICAS] == "2"
    # status: the cluster's view says sleeping
    status = fleet_status(world.compiled, ["lc-a"], env=world.env, timeout_s=5, activity=True)
    row = next(t for t in status.tenants if t.key == "shop/nightly")
    assert row.phase is Phase.SLEEPING and row.spec_sleeping is False  # the cluster's view and the spec's

    night = world.run(NIGHT, clusters=["lc-a"])
    assert world.tenant(night, "shop/nightly").action is Action.NONE
    assert world.replicas(NS["nightly"]) == ASLEEP

    morning = world.run(MORNING, clusters=["lc-a"])
    woke = world.tenant(morning, "shop/nightly")
    assert woke.action is Action.WAKE and "wakeup '0 8 * * *'" in woke.reason and woke.error is None
    assert world.replicas(NS["nightly"]) == ORIGINAL
    marks = world.annotations(NS["nightly"], "StatefulSet", "nightly")
    assert act.REPLICAS not in marks and "vfleet.dev/sleeping" not in marks
    assert marks[act.WOKEN_AT] == "2030-01-16T07:05:00Z"
    assert act.REPLICAS not in world.annotations(NS["nightly"], "Deployment", "web")


def _half(world: World, now: datetime, count: int) -> None:
    """A run that dies after sending `count` of its patches."""
    with connect(world.compiled.fleet, ["lc-a"], env=world.env) as conns:
        conn = conns.clients["lc-a"]
        for _ in range(5):  # the deployment controller may write a status between the read and the patch
            facts = observe.read(conn, {NS["nightly"]: "nightly"}).facts
            assert facts is not None
            tenant = world.compiled.fleet.tenants["shop/nightly"]
            decision = decide_sleep(tenant.sleep, facts[NS["nightly"]], now)
            planned = act.patches(decision.action, facts[NS["nightly"]], now, decision.reason, "interrupted")
            assert len(planned) > count
            outcome = act.send(conn, planned[:count])
            if not outcome.conflict:
                break
        assert outcome.error is None


def test_an_interrupted_run_is_finished_by_the_next(world: World) -> None:
    # A sleep interrupted after the first workload: the control plane is still up.
    _half(world, NEXT_EVENING, 1)
    half = world.replicas(NS["nightly"])
    assert half["StatefulSet/nightly"] == 1 and sorted(half.values()).count(0) == 1
    finished = world.run(NEXT_EVENING, clusters=["lc-a"])
    assert world.tenant(finished, "shop/nightly").action is Action.SLEEP
    assert world.replicas(NS["nightly"]) == ASLEEP
    assert world.annotations(NS["nightly"], "Deployment", "web")[act.REPLICAS] == "3"  # recorded once, not as 0
    assert world.annotations(NS["nightly"], "StatefulSet", "db")[act.REPLICAS] == "2"
    # A wake interrupted after the control plane: the workloads are still down.
    _half(world, NEXT_MORNING, 1)
    assert world.replicas(NS["nightly"])["StatefulSet/nightly"] == 1
    again = world.run(NEXT_MORNING, clusters=["lc-a"])
    assert world.tenant(again, "shop/nightly").action is Action.FINISH
    assert world.replicas(NS["nightly"]) == ORIGINAL


def test_a_change_between_the_read_and_the_patch_is_read_again_not_overwritten(world: World) -> None:
    # The cluster is read, then someone else scales `web` from 3 to 5 before the sleep's patches go out
    # (its resourceVersion changes, as any write by a controller changes it): the sleep's first patch meets
    # a 409, the tenant is read again, and the sleep records 5, not the stale 3.
    with connect(world.compiled.fleet, ["lc-a"], env=world.env) as conns:
        conn = conns.clients["lc-a"]
        stale = observe.read(conn, {NS["nightly"]: "nightly"})
        apps = k8s.AppsV1Api(world.apis["lc-a"])
        apps.patch_namespaced_deployment("web", NS["nightly"], {"spec": {"replicas": 5}})
        evening = NEXT_EVENING + timedelta(days=1)
        options = Options(now=evening, env=world.env, actor="conflict test")
        (row,) = run._act(conn, stale, {NS["nightly"]: "shop/nightly"}, world.compiled, evening, options)
    assert row.error is None and row.action is Action.SLEEP, row
    assert "Deployment/web 5 -> 0" in row.done, row.done
    assert world.replicas(NS["nightly"]) == ASLEEP
    assert world.annotations(NS["nightly"], "Deployment", "web")[act.REPLICAS] == "5"
    world.restore(NEXT_MORNING + timedelta(days=1))
    assert world.replicas(NS["nightly"]) == ORIGINAL | {"Deployment/web": 5}
    apps.patch_namespaced_deployment("web", NS["nightly"], {"spec": {"replicas": 3}})
    assert world.replicas(NS["nightly"]) == ORIGINAL


def test_inactivity_from_objects_the_test_changes(world: World) -> None:
    core = k8s.CoreV1Api(world.apis["lc-b"])
    # Creation times have a resolution of one second: a ConfigMap made in the namespace's own second
    # would tie with it, and either is then the newest activity. Start in a later second.
    namespace_created = core.read_namespace(NS["idle"]).metadata.creation_timestamp
    while datetime.now(UTC) < namespace_created + timedelta(seconds=1):
        time.sleep(0.05)
    core.create_namespaced_config_map(NS["idle"], {"metadata": {"name": "touched"}, "data": {"a": "1"}})
    created = core.read_namespaced_config_map("touched", NS["idle"]).metadata.creation_timestamp
    first = world.run(created + timedelta(minutes=59), clusters=["lc-b"], dry_run=True)
    idle = world.tenant(first, "shop/idle")
    assert idle.last_activity == created and idle.activity_source == "ConfigMap touched created"
    assert idle.action is Action.NONE
    time.sleep(1.1)  # managedFields times have a resolution of one second
    core.patch_namespaced_config_map("touched", NS["idle"], {"data": {"a": "2"}}, field_manager="tester")
    changed = world.run(created + timedelta(minutes=59), clusters=["lc-b"], dry_run=True)
    idle = world.tenant(changed, "shop/idle")
    assert idle.last_activity is not None and idle.last_activity > created
    assert idle.activity_source == "ConfigMap touched changed by tester"
    due = world.run(idle.last_activity + timedelta(hours=1), clusters=["lc-b"], dry_run=True)
    assert world.tenant(due, "shop/idle").action is Action.SLEEP
    assert world.tenant(due, "shop/idle").reason.startswith("inactive since ")
    # status shows the same last activity
    status = fleet_status(world.compiled, ["lc-b"], env=world.env, timeout_s=5, activity=True)
    row = next(t for t in status.tenants if t.key == "shop/idle")
    assert row.last_activity == rfc3339(idle.last_activity)
    assert row.activity_source == "ConfigMap touched changed by tester"


def test_expired_tenants_become_a_guarded_git_change(world: World) -> None:
    # Two of lc-b's four tenants expire at once: held by the mass-delete guard, nothing written.
    held = world.run(EVENING, clusters=["lc-b"])
    by_key = {p.key: p for p in held.proposals}
    assert by_key["shop/keep"].protected and by_key["shop/keep"].held == "guard.protected"
    assert by_key["shop/expired"].held == by_key["shop/gone"].held == "guard.mass-delete"
    assert held.branch is None and held.exit_code == 1
    assert propose.DEFAULT_BRANCH not in [h.name for h in world.repo.heads]
    # With a reason, the proposal is committed on the branch; the work tree and HEAD are untouched.
    head = world.repo.head.commit.hexsha
    done = world.run(EVENING, clusters=["lc-b"], override="quarterly clean-up")
    assert done.branch == propose.DEFAULT_BRANCH and done.commit is not None and done.exit_code == 0
    assert sorted(done.files) == ["fleet/placement.lock", "fleet/projects/shop/tenants/expired.yaml",
                                  "fleet/projects/shop/tenants/gone.yaml"]
    assert world.repo.head.commit.hexsha == head and not world.repo.is_dirty(untracked_files=True)
    assert "shop/keep" not in world.repo.commit(done.commit).message
    # `vfleet plan` of the branch shows the deletions, guarded again: refused without the reason ...
    planned = plan_json(world, head, propose.DEFAULT_BRANCH)
    assert planned["exitCode"] == 1
    lc_b = next(c for c in planned["clusters"] if c["cluster"] == "lc-b")
    assert sorted(t["tenant"] for t in lc_b["tenants"] if t["op"] == "delete") == ["shop/expired", "shop/gone"]
    assert [g["code"] for g in lc_b["guards"]] == ["guard.mass-delete"]
    # ... and cleared with it.
    assert plan_json(world, head, propose.DEFAULT_BRANCH, "--override-guard", "quarterly clean-up")["exitCode"] == 3


def plan_json(world: World, base: str, head: str, *extra: str) -> Any:
    done = subprocess.run([VFLEET, "plan", str(world.root), "--base", base, "--head", head,
                           "--no-policy", "--output", "json", *extra], capture_output=True, text=True,
                          env=world.env, check=False, timeout=120)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_the_cli_dry_run_as_json(world: World) -> None:
    done = subprocess.run([VFLEET, "lifecycle", str(world.root), "--dry-run", "-o",
                           "json", "--now", "2030-02-01T19:30:00Z", "--cluster", "lc-a"], capture_output=True,
                          text=True, env=world.env, check=False, timeout=120)
    data = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    nightly = next(t for t in data["tenants"] if t["key"] == "shop/nightly")
    assert nightly["action"] == "sleep" and nightly["done"] == [] and data["dryRun"] is True
