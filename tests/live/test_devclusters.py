"""The loopback clusters themselves: they come up, enforce RBAC, run controllers, take a real Helm
release validated against the real vcluster schema, and leave nothing behind when stopped."""

from __future__ import annotations

import base64
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from livekit import helm, kube_client
from vfleet import devclusters
from vfleet.devclusters import DevCluster

pytestmark = pytest.mark.live


def eventually(check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """The first truthy result of `check`, polling; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"condition not met within {timeout_s} s"
        time.sleep(0.2)


def apply_namespace(api: k8s.ApiClient, name: str) -> k8s.V1Namespace:
    """Server-side apply, as vfleet's field manager."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"by": "vfleet"}}}
    return k8s.CoreV1Api(api).patch_namespace(
        name, body, field_manager="vfleet", _content_type="application/apply-patch+yaml"
    )


def processes_mentioning(text: str) -> list[int]:
    """Pids of running processes whose command line contains `text` (e.g. a cluster's directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    pids.append(int(proc.name))
        except OSError:
            continue
    return pids


# --- the session's two clusters ----------------------------------------------------------------------------


def test_two_clusters_come_up(live_clusters: list[DevCluster]) -> None:
    assert [c.name for c in live_clusters] == ["live-a", "live-b"]
    assert len({c.server for c in live_clusters}) == 2
    for cluster in live_clusters:
        version = k8s.VersionApi(kube_client(cluster)).get_code()
        assert version.git_version == "v1.35.4"
        assert set(devclusters.rss_kib(cluster)) == set(devclusters.ROLES), "a process is not running"


def test_admin_token_creates_a_namespace_by_server_side_apply(live_clusters: list[DevCluster]) -> None:
    cluster = live_clusters[0]
    applied = apply_namespace(kube_client(cluster), "ssa-admin").metadata
    assert applied is not None and (applied.labels or {}).get("by") == "vfleet"
    assert [(entry.manager, entry.operation) for entry in applied.managed_fields or []] == [
        ("vfleet", "Apply")
    ]
    status = k8s.CoreV1Api(kube_client(cluster)).read_namespace("ssa-admin").status
    assert status is not None and status.phase == "Active"


def test_non_admin_token_is_forbidden(live_clusters: list[DevCluster]) -> None:
    user = kube_client(live_clusters[1], admin=False)
    with pytest.raises(ApiException) as denied:
        apply_namespace(user, "nope")
    assert denied.value.status == 403
    assert devclusters.PLAIN_USER in str(denied.value.body)
    with pytest.raises(ApiException) as denied_read:
        k8s.CoreV1Api(user).list_namespace()
    assert denied_read.value.status == 403


def test_controllers_run_and_service_account_tokens_verify(live_clusters: list[DevCluster]) -> None:
    """kube-controller-manager fills quota status; the generated key signs tokens the server accepts."""
    cluster = live_clusters[1]
    core = k8s.CoreV1Api(kube_client(cluster))
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="ctl")))
    quota = k8s.V1ResourceQuota(
        metadata=k8s.V1ObjectMeta(name="q"), spec=k8s.V1ResourceQuotaSpec(hard={"pods": "3"})
    )
    core.create_namespaced_resource_quota("ctl", quota)

    def quota_counted() -> bool:
        status = core.read_namespaced_resource_quota("q", "ctl").status
        return status is not None and (status.hard or {}).get("pods") == "3"

    eventually(quota_counted)

    core.create_namespaced_service_account(
        "ctl", k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="robot"))
    )
    request = k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[]))
    issued = core.create_namespaced_service_account_token("robot", "ctl", request).status
    assert issued is not None
    robot = kube_client(cluster)
    robot.configuration.api_key = {"authorization": f"Bearer {issued.token}"}
    review = k8s.AuthenticationV1Api(robot).create_self_subject_review(k8s.V1SelfSubjectReview())
    assert review.status is not None and review.status.user_info is not None
    assert review.status.user_info.username == "system:serviceaccount:ctl:robot"


# --- helm and the real vcluster values schema ---------------------------------------------------------------


def run_helm(cluster: DevCluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    homes = {
        var: str(tmp_path / "helm" / var.lower())
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    }
    command = [helm(), *args, "--kubeconfig", str(cluster.admin_kubeconfig)]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **homes}, check=False, timeout=120
    )


def write_values(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_helm_installs_the_test_chart(
    live_clusters: list[DevCluster], test_chart: Path, tmp_path: Path
) -> None:
    cluster = live_clusters[0]
    values = write_values(
        tmp_path,
        {
            "controlPlane": {
                "statefulSet": {"highAvailability": {"replicas": 2}, "annotations": {"team": "blue"}}
            }
        },
    )
    done = run_helm(
        cluster,
        tmp_path,
        "install",
        "t1",
        str(test_chart),
        "-n",
        "vc-t1",
        "--create-namespace",
        "-f",
        str(values),
    )
    assert done.returncode == 0, done.stderr

    api = kube_client(cluster)
    sts = k8s.AppsV1Api(api).read_namespaced_stateful_set("t1", "vc-t1")
    assert sts.spec.replicas == 2
    assert sts.metadata is not None and (sts.metadata.annotations or {}).get("team") == "blue"
    core = k8s.CoreV1Api(api)
    service = core.read_namespaced_service("t1", "vc-t1").spec
    assert service is not None and [port.port for port in service.ports or []] == [443]
    core.read_namespaced_service_account("vc-t1", "vc-t1")
    config = (core.read_namespaced_secret("vc-config-t1", "vc-t1").data or {})["config.yaml"]
    stored = yaml.safe_load(base64.b64decode(config))
    assert stored["controlPlane"]["statefulSet"]["highAvailability"]["replicas"] == 2
    # kube-controller-manager's StatefulSet controller creates the pods (they stay Pending: no kubelet).
    eventually(lambda: len(core.list_namespaced_pod("vc-t1", label_selector="release=t1").items) == 2)

    listed = run_helm(cluster, tmp_path, "list", "-n", "vc-t1", "-o", "json")
    assert [(r["name"], r["chart"], r["status"]) for r in json.loads(listed.stdout)] == [
        ("t1", "vcluster-0.35.3", "deployed")
    ]


def test_helm_rejects_values_the_real_schema_forbids(
    live_clusters: list[DevCluster], test_chart: Path, tmp_path: Path
) -> None:
    cluster = live_clusters[0]
    values = write_values(tmp_path, {"controlPlane": {"statefulSet": {}, "notAVclusterKey": True}})
    done = run_helm(
        cluster,
        tmp_path,
        "install",
        "t2",
        str(test_chart),
        "-n",
        "vc-t2",
        "--create-namespace",
        "-f",
        str(values),
    )
    assert done.returncode != 0
    assert "additional properties 'notAVclusterKey' not allowed" in done.stderr
    assert "/controlPlane" in done.stderr
    statefulsets = k8s.AppsV1Api(kube_client(cluster)).list_stateful_set_for_all_namespaces(
        label_selector="release=t2"
    )
    assert statefulsets.items == []


# --- teardown -----------------------------------------------------------------------------------------------


def test_stopping_leaves_no_process_and_no_directory(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(RuntimeError), devclusters.running(["solo"], root=root) as clusters:
        (cluster,) = clusters
        pids = [process.pid for process in cluster.processes]
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
        raise RuntimeError("a test failing inside the block")
    assert devclusters.leftovers(clusters) == []
    assert processes_mentioning(str(root)) == []
    assert not (root / "solo").exists()


def test_a_start_up_failing_halfway_stops_what_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "kcm"
    broken.write_text("#!/bin/sh\necho 'kcm: cannot start: boom' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("VFLEET_KUBE_CONTROLLER_MANAGER_BIN", str(broken))
    root = tmp_path / "root"
    with pytest.raises(devclusters.DevClusterError) as failed:
        devclusters.start_clusters(["half"], root=root)
    message = str(failed.value)
    assert "kube-controller-manager exited (code 3)" in message
    assert "kcm: cannot start: boom" in message  # the last lines of the right log
    assert processes_mentioning(str(root)) == []  # etcd and kube-apiserver were stopped
    assert not (root / "half").exists()


# --- `vfleet dev clusters up|down`: clusters that outlive the command ------------------------------------


def dev_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "from vfleet.cli.dev_cmds import dev_app; dev_app()"
    return subprocess.run(
        [sys.executable, "-c", code, "clusters", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dev_clusters_up_and_down(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "fleet" / "clusters").mkdir(parents=True)
    for name, ref in (("prod", {"env": "KUBE_PROD"}), ("canary", {"context": "canary-admin"})):
        spec = {
            "apiVersion": "vfleet.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name},
            "spec": {"kubeconfig": ref},
        }
        (repo / "fleet" / "clusters" / f"{name}.yaml").write_text(yaml.safe_dump(spec))

    up = dev_cli("up", cwd=repo)
    assert up.returncode == 0, up.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in up.stdout.splitlines()
        if line.startswith("export ")
    )
    assert set(exports) == {"KUBE_PROD", "KUBECONFIG"}
    state = devclusters.load_state(repo / ".vfleet" / "dev")
    assert [c.name for c in state] == ["canary", "prod"]
    # The command has returned; its clusters keep serving, under the contexts the specs name.
    prod = client_from_kubeconfig(exports["KUBE_PROD"], "prod")
    canary = client_from_kubeconfig(exports["KUBECONFIG"], "canary-admin")
    assert k8s.VersionApi(prod).get_code().git_version == "v1.35.4"
    assert k8s.VersionApi(canary).get_code().git_version == "v1.35.4"
    assert "already running" in dev_cli("up", cwd=repo).stderr

    down = dev_cli("down", cwd=repo)
    assert down.returncode == 0, down.stderr
    assert devclusters.leftovers(state) == []
    assert processes_mentioning(str(repo)) == []
    assert devclusters.load_state(repo / ".vfleet" / "dev") == []


def client_from_kubeconfig(path: str, context: str) -> k8s.ApiClient:
    client: k8s.ApiClient = k8s_config.new_client_from_config(
        config_file=path, context=context
    )
    return client


# --- a kube-apiserver restarted in place (the engine tier's fault) -----------------------------------------


def test_an_apiserver_restarted_in_place_keeps_its_port_data_and_credentials(tmp_path: Path) -> None:
    with devclusters.running(["restart"], root=tmp_path / "root") as clusters:
        (cluster,) = clusters
        api = k8s.CoreV1Api(kube_client(cluster))
        uid = api.create_namespace({"metadata": {"name": "kept"}}).metadata.uid
        pids = {p.role: p.pid for p in cluster.processes}
        for number, sig in enumerate((signal.SIGTERM, signal.SIGKILL)):
            restarted = devclusters.restart_apiserver(cluster, kill_signal=sig, down_for=1.0)
            clusters[0] = cluster = restarted  # the new record is the one `running` stops
            now = {p.role: p.pid for p in cluster.processes}
            assert now["kube-apiserver"] != pids["kube-apiserver"]
            assert {r: now[r] for r in ("etcd", "kube-controller-manager")} == {
                r: pids[r] for r in ("etcd", "kube-controller-manager")
            }  # survived
            pids = now
            assert set(devclusters.rss_kib(cluster)) == set(devclusters.ROLES)
            assert api.read_namespace("kept").metadata.uid == uid  # same etcd, same CA, same token
            # the controllers reconnected: the service-account controller serves a new namespace
            api.create_namespace({"metadata": {"name": f"after-{number}"}})
            eventually(functools.partial(_has_default_sa, api, f"after-{number}"), timeout_s=90)
    assert devclusters.leftovers(clusters) == []
    assert processes_mentioning(str(tmp_path / "root")) == []


def _has_default_sa(api: k8s.CoreV1Api, namespace: str) -> bool:
    try:
        api.read_namespaced_service_account("default", namespace)
    except ApiException:
        return False
    return True
