"""The credentials an Argo CD registration reads at apply time (vfleet.apply.argocd.read_config), from a real
API server: the test chart's tenant Secret gives Argo CD's tlsClientConfig; a Secret that is missing or
incomplete is an error naming it, never showing what it holds."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubernetes import client as k8s
from livefleet import helm_run

from livekit import kube_client
from vfleet.apply.argocd import CredentialsError, read_config
from vfleet.devclusters import DevCluster
from vfleet.specs.kubeconfig import Kubeconfig

pytestmark = pytest.mark.live
NS = "vc-argocd-read"


def test_read_config_from_the_chart_secret_and_errors_without_content(
    tmp_path: Path, live_clusters: list[DevCluster], test_chart: Path
) -> None:
    dev = live_clusters[0]
    core = k8s.CoreV1Api(kube_client(dev))
    core.create_namespace({"metadata": {"name": NS}})
    kubeconfig = Kubeconfig(dev.admin_kubeconfig.read_text(), None, "test")
    try:
        with pytest.raises(CredentialsError, match=rf"{NS}/vc-t1 on cluster live-a does not exist yet"):
            read_config(kubeconfig, "live-a", NS, "vc-t1")
        done = helm_run(dev, tmp_path, "install", "t1", str(test_chart), "-n", NS)
        assert done.returncode == 0, done.stderr
        written = core.read_namespaced_secret("vc-t1", NS).data
        config = json.loads(read_config(kubeconfig, "live-a", NS, "vc-t1"))
        assert config == {"tlsClientConfig": {"caData": written["certificate-authority"],
                                              "certData": written["client-certificate"],
                                              "keyData": written["client-key"]}}
        assert "BEGIN" in base64.b64decode(config["tlsClientConfig"]["keyData"]).decode()
        # Kept across upgrades, as the real syncer keeps its certificates.
        assert helm_run(dev, tmp_path, "upgrade", "t1", str(test_chart), "-n", NS).returncode == 0
        assert core.read_namespaced_secret("vc-t1", NS).data == written
        core.create_namespaced_secret(NS, {"metadata": {"name": "vc-half"}, "data": {
            "certificate-authority": written["certificate-authority"], "client-key": written["client-key"]}})
        with pytest.raises(CredentialsError) as half:
            read_config(kubeconfig, "live-a", NS, "vc-half")
        assert "lacks client-certificate" in str(half.value)
        assert written["client-key"] not in str(half.value) and written["certificate-authority"] not in str(half.value)
    finally:
        helm_run(dev, tmp_path, "uninstall", "t1", "-n", NS)
        core.delete_namespace(NS)
