"""Access on a real kube-apiserver: tenants never touch the connected cluster; platform roles do.

The fixture's no-rights token (devclusters.PLAIN_USER) is made a member — an admin — of the tenant's
project, the fleet is compiled and its desired objects and release are put on a loopback cluster, and
every question is asked of the real API server's authorizer with real requests: read the vcluster's
Secrets, exec into its control plane pod, scale its StatefulSet. Platform roles are held through OIDC
groups, so those identities are the admin token impersonating a user in the group (impersonation is
authorized as the impersonated user: the admin's own rights do not leak into it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from livefleet import PROJECT, compile_placed, put_on_cluster, write_fleet

from livekit import kube_client
from vfleet import devclusters
from vfleet.compile import Compiled
from vfleet.devclusters import DevCluster

pytestmark = pytest.mark.live

CLUSTER = "access-b"
TENANT = "guarded"
NS = f"vc-{PROJECT}-{TENANT}"
POD = f"{TENANT}-0"
MEMBER = devclusters.PLAIN_USER
ADMINS, OPERATORS, VIEWERS = "oidc:platform-admins", "oidc:platform-ops", "oidc:platform-viewers"
PLATFORM = {
    "apiVersion": "vfleet.dev/v1alpha1",
    "kind": "Platform",
    "metadata": {"name": "platform"},
    "spec": {"members": [{"group": ADMINS, "role": "admin"}, {"group": OPERATORS, "role": "operator"},
                         {"group": VIEWERS, "role": "viewer"}]},
}


@dataclass
class OnCluster:
    dev: DevCluster
    root: Path
    home: Path

    def member(self) -> k8s.ApiClient:
        return kube_client(self.dev, admin=False)

    def in_group(self, group: str) -> k8s.ApiClient:
        api = kube_client(self.dev)
        api.set_default_header("Impersonate-User", "someone@example.com")
        api.set_default_header("Impersonate-Group", group)
        return api

    def put(self, host_view: list[str]) -> Compiled:
        """The fleet with MEMBER an admin of the project, and the project's host view for `host_view`."""
        project = self.root / "fleet" / "projects" / PROJECT / "project.yaml"
        spec = yaml.safe_load(project.read_text())
        spec["spec"]["members"] = [{"user": "alice@example.com", "role": "admin"}, {"user": MEMBER, "role": "admin"}]
        spec["spec"]["hostAccess"] = {"view": host_view}
        project.write_text(yaml.safe_dump(spec, sort_keys=False))
        (self.root / "fleet" / "platform.yaml").write_text(yaml.safe_dump(PLATFORM, sort_keys=False))
        compiled = compile_placed(self.root)
        put_on_cluster(compiled, CLUSTER, self.dev, self.home)
        return compiled


@pytest.fixture(scope="module")
def on_cluster(live_clusters: list[DevCluster], test_chart: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnCluster]:
    dev = live_clusters[1]
    root = write_fleet(tmp_path_factory.mktemp("access") / "repo", [CLUSTER], test_chart,
                       {TENANT: {"cluster": CLUSTER}})
    placed = OnCluster(dev, root, tmp_path_factory.mktemp("helm"))
    placed.put(host_view=[])
    admin = kube_client(dev)
    core = k8s.CoreV1Api(admin)
    # What the real vcluster writes: its admin kubeconfig, in its namespace (the test chart writes it too).
    assert "config" in (core.read_namespaced_secret(f"vc-{TENANT}", NS).data or {})
    _eventually(lambda: bool(core.list_namespaced_pod(NS).items), "the StatefulSet controller creates the pod")
    try:
        yield placed
    finally:
        rbac = k8s.RbacAuthorizationV1Api(admin)
        for role in ("admin", "operator", "viewer"):
            for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
                _ignore_missing(delete, f"vfleet-platform-{role}")
        core.delete_namespace(NS)
        _eventually(lambda: NS not in {n.metadata.name for n in core.list_namespace().items if n.metadata},
                    "namespace gone")


def _eventually(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.2)


def _ignore_missing(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _status(call: Callable[[], Any]) -> int:
    """HTTP status of one request: 200 when it succeeds, else the API server's answer."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    return 200


def read_secret(api: k8s.ApiClient) -> int:
    return _status(lambda: k8s.CoreV1Api(api).read_namespaced_secret(f"vc-{TENANT}", NS))


def list_secrets(api: k8s.ApiClient) -> int:
    return _status(lambda: k8s.CoreV1Api(api).list_namespaced_secret(NS))


def exec_control_plane(api: k8s.ApiClient) -> int:
    """POST pods/exec as kubectl does before upgrading the connection. The API server authorizes
    `create pods/exec` first (403); once allowed it fails for want of a node (the loopback cluster has no
    kubelet), never with 403."""
    method, url, headers, body, _ = api.param_serialize(
        "POST", "/api/v1/namespaces/{namespace}/pods/{name}/exec", path_params={"namespace": NS, "name": POD},
        query_params=[("command", "id"), ("stdout", "true")], auth_settings=["BearerToken"])
    return int(api.call_api(method, url, headers, body).status)


def may_exec(api: k8s.ApiClient) -> bool:
    review = k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(
        resource_attributes=k8s.V1ResourceAttributes(namespace=NS, verb="create", resource="pods",
                                                     subresource="exec", name=POD)))
    answer = k8s.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return answer.status is not None and bool(answer.status.allowed)


def scale(api: k8s.ApiClient, replicas: int) -> int:
    return _status(lambda: k8s.AppsV1Api(api).patch_namespaced_stateful_set_scale(
        TENANT, NS, {"spec": {"replicas": replicas}}))


def list_pods(api: k8s.ApiClient) -> int:
    return _status(lambda: k8s.CoreV1Api(api).list_namespaced_pod(NS))


def test_a_project_admin_cannot_touch_the_tenant_on_the_connected_cluster(on_cluster: OnCluster) -> None:
    member = on_cluster.member()
    assert read_secret(member) == 403 and list_secrets(member) == 403
    assert exec_control_plane(member) == 403 and not may_exec(member)
    assert scale(member, 0) == 403
    assert list_pods(member) == 403  # no host view asked for: nothing at all
    assert _status(lambda: k8s.AppsV1Api(member).read_namespaced_stateful_set(TENANT, NS)) == 403


def test_a_platform_admin_can(on_cluster: OnCluster) -> None:
    admin = on_cluster.in_group(ADMINS)
    assert read_secret(admin) == 200
    assert may_exec(admin) and exec_control_plane(admin) not in (401, 403)
    assert scale(admin, 0) == 200
    apps = k8s.AppsV1Api(kube_client(on_cluster.dev))
    assert apps.read_namespaced_stateful_set(TENANT, NS).spec.replicas == 0  # (Scale omits a 0)
    assert scale(admin, 1) == 200


def test_operators_scale_and_viewers_look_neither_reads_secrets(on_cluster: OnCluster) -> None:
    operator, viewer = on_cluster.in_group(OPERATORS), on_cluster.in_group(VIEWERS)
    assert scale(operator, 1) == 200 and list_pods(operator) == 200
    assert read_secret(operator) == 403 and not may_exec(operator)
    assert list_pods(viewer) == 200 and scale(viewer, 1) == 403
    assert read_secret(viewer) == 403 and list_secrets(viewer) == 403 and not may_exec(viewer)


def test_a_host_view_lets_members_look_and_nothing_more(on_cluster: OnCluster) -> None:
    """Runs last: it widens the project to the read-only host view."""
    compiled = on_cluster.put(host_view=["admin"])
    kinds = {(r.kind, r.name) for r in compiled.desired[CLUSTER].resources if r.tenant is not None}
    assert {("Role", "vfleet-host-view"), ("RoleBinding", "vfleet-host-view")} <= kinds
    member = on_cluster.member()
    _eventually(lambda: list_pods(member) == 200, "the RoleBinding takes effect")
    assert _status(lambda: k8s.CoreV1Api(member).list_namespaced_event(NS)) == 200
    assert read_secret(member) == 403 and list_secrets(member) == 403
    assert exec_control_plane(member) == 403 and not may_exec(member)
    assert scale(member, 0) == 403
    assert _status(lambda: k8s.CoreV1Api(member).read_namespaced_pod_log(POD, NS)) == 403
    assert _status(lambda: k8s.AppsV1Api(member).read_namespaced_stateful_set(TENANT, NS)) == 403
