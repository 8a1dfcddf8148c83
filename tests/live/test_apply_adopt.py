"""`vfleet apply --adopt`: which desired objects already exist on a real cluster (namespaced objects, a
cluster-scoped one, a Helm release, a custom resource whose CRD is not installed)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from livekit import helm, kube_client
from vfleet.apply import adopt
from vfleet.desired import HELM_RELEASE, Resource
from vfleet.devclusters import DevCluster, write_kubeconfig
from vfleet.specs import KubeconfigRef, kubeconfig

pytestmark = pytest.mark.live
NS = "vc-adopt-probe"


def _resource(
    api_version: str, kind: str, namespace: str | None, name: str, spec: dict[str, Any] | None = None
) -> Resource:
    rid = f"live-a/{api_version}/{kind}/{namespace or '_'}/{name}"
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec or {}}
    return Resource(rid, api_version, kind, namespace, name, body, None, (), False)


def test_probe_finds_exactly_the_objects_that_exist(
    live_clusters: list[DevCluster], test_chart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = live_clusters[0]
    core = k8s.CoreV1Api(kube_client(cluster))
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NS)))
    try:
        core.create_namespaced_resource_quota(
            NS,
            k8s.V1ResourceQuota(
                metadata=k8s.V1ObjectMeta(name="vfleet-quota"), spec=k8s.V1ResourceQuotaSpec(hard={"pods": "10"})
            ),
        )
        path = write_kubeconfig(tmp_path / "kubeconfig", {"ctx": cluster})
        subprocess.run(
            [helm(), "install", "adopt-me", str(test_chart), "-n", NS, "--kubeconfig", str(path)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        resolved = kubeconfig.resolve(KubeconfigRef(env="K"), "live-a", {"K": str(path)})
        resources = [
            _resource("v1", "Namespace", None, NS),
            _resource("v1", "Namespace", None, "vc-not-there"),
            _resource("v1", "ResourceQuota", NS, "vfleet-quota"),
            _resource("v1", "LimitRange", NS, "vfleet-limits"),
            _resource(
                "vfleet.dev/v1alpha1", HELM_RELEASE, NS, "adopt-me", {"namespace": NS, "releaseName": "adopt-me"}
            ),
            _resource("vfleet.dev/v1alpha1", HELM_RELEASE, NS, "other", {"namespace": NS, "releaseName": "other"}),
            _resource("vfleet.dev/v1alpha1", "NodeClaim", NS, "pool-0"),  # no CRD installed: no such kind
        ]
        temporary = tmp_path / "tmp"
        temporary.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(temporary))
        found = adopt.probe_cluster(resolved, resources)
        # The dynamic client's discovery cache is the probe's own, not a file left in the temporary folder.
        # (The client's certificate files stay there until the process exits, as the client decides.)
        assert not [p.name for p in temporary.iterdir() if p.name.startswith("osrcp-") or p.is_dir()]
        assert sorted(found) == sorted([resources[0].id, resources[2].id, resources[4].id])
        # none of them was applied by vfleet (field manager `vfleet`): none is taken as a lost answer of its own
        assert not any(found.values()), found
    finally:
        core.delete_namespace(NS)
