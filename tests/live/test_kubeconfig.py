"""`vfleet kubeconfig` against real loopback clusters: --live refuses a tenant that is not deployed yet,
and once the test chart's release is on the cluster, the kubeconfig it writes is loaded by the Kubernetes
client library (its exec plugin run, as kubectl runs it), points at that tenant's Service through the
right connected cluster's service proxy, verifies TLS with the CA the template names, and reaches the
API server there — while holding no credential of that connected cluster."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from livefleet import PROJECT, cluster_env, compile_placed, helm_run, put_on_cluster, write_fleet

from livekit import kube_client
from vfleet.devclusters import DevCluster

pytestmark = pytest.mark.live

VFLEET = str(Path(sys.executable).with_name("vfleet"))
TENANTS = {"kc-web": "live-a", "kc-api": "live-b"}
ISSUER = "https://login.example.com/dex"
# The exec plugin kubectl would run (kubelogin): records its arguments, answers with a token.
FAKE_KUBECTL = """#!/bin/sh
echo "$@" >> "{log}"
echo '{{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",'
echo '"status": {{"token": "oidc-id-token"}}}}'
"""


def _fleet(root: Path, chart: Path, devs: dict[str, DevCluster]) -> Path:
    write_fleet(root, sorted(devs), chart, {name: {"cluster": c, "access": [{"groups": ["shop-devs"],
                                                                         "clusterRole": "edit"}]}
                                           for name, c in TENANTS.items()})
    template_file = root / "templates/live/template.yaml"
    template: dict[str, Any] = yaml.safe_load(template_file.read_text())
    template["spec"]["versions"][0]["expose"] = {"serviceProxy": {}, "caFile": "ca.pem"}
    template_file.write_text(yaml.safe_dump(template, sort_keys=False))
    # The connected clusters' serving CAs, one bundle (public certificates): TLS to the proxy ends there.
    ca = "".join(dev.ca_file.read_text() for _, dev in sorted(devs.items()))
    assert "PRIVATE KEY" not in ca
    (root / "templates/live/ca.pem").write_text(ca)
    for name, dev in devs.items():
        path = root / f"fleet/clusters/{name}.yaml"
        cluster: dict[str, Any] = yaml.safe_load(path.read_text())
        cluster["spec"]["apiServer"] = dev.server
        path.write_text(yaml.safe_dump(cluster, sort_keys=False))
    settings = yaml.safe_load((root / "vfleet.yaml").read_text())
    settings["identity"] = {"oidc": {"issuer": ISSUER, "clientID": "vfleet-kubectl"}}
    (root / "vfleet.yaml").write_text(yaml.safe_dump(settings))
    return root


def _kubeconfig(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VFLEET, "kubeconfig", *args, "--path", str(root)], capture_output=True, text=True,
                          env={**env, "NO_COLOR": "1", "COLUMNS": "300"}, timeout=120)


def test_kubeconfig_reaches_the_deployed_tenant_and_holds_no_host_credential(
    tmp_path: Path, live_clusters: list[DevCluster], test_chart: Path
) -> None:
    devs = {c.name: c for c in live_clusters}
    root = _fleet(tmp_path / "repo", test_chart, devs)
    compiled = compile_placed(root)
    env = {**os.environ, **cluster_env(devs)}
    # Not on the cluster yet: --live says so, naming the tenant's file:line and what to do.
    early = _kubeconfig(root, env, f"{PROJECT}/kc-web", "--live")
    said = " ".join(early.stderr.split())
    assert early.returncode == 2, said
    assert f"fleet/projects/{PROJECT}/tenants/kc-web.yaml:1: tenant {PROJECT}/kc-web is not deployed on live-a" in said
    assert "vfleet apply" in said
    # Without --live it is what the tenant will be reached with once deployed.
    assert _kubeconfig(root, env, f"{PROJECT}/kc-web").returncode == 0
    home = tmp_path / "helm"
    try:
        for name, dev in devs.items():
            put_on_cluster(compiled, name, dev, home)
        out = tmp_path / "tenants.kubeconfig"
        done = _kubeconfig(root, env, "--project", PROJECT, "--group", "shop-devs", "--live", "--out", str(out))
        assert done.returncode == 0, done.stderr
        text = out.read_text()
        for dev in devs.values():  # nothing of a connected cluster's credentials
            assert dev.admin_token not in text and dev.user_token not in text
            assert str(dev.admin_kubeconfig) not in text
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        _check_with_client(tmp_path, out, devs)
    finally:
        for name, cluster in TENANTS.items():
            helm_run(devs[cluster], home, "uninstall", name, "-n", f"vc-{PROJECT}-{name}", "--wait")
            k8s.CoreV1Api(kube_client(devs[cluster])).delete_namespace(f"vc-{PROJECT}-{name}")


def _check_with_client(tmp_path: Path, path: Path, devs: dict[str, DevCluster]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "exec.log"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(log=log))
    kubectl.chmod(0o755)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{old_path}"
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=str(path))
        assert sorted(c["name"] for c in contexts) == [f"{PROJECT}/kc-api", f"{PROJECT}/kc-web"]
        for name, cluster in TENANTS.items():
            dev = devs[cluster]
            api = k8s_config.new_client_from_config(config_file=str(path), context=f"{PROJECT}/{name}")
            namespace = f"vc-{PROJECT}-{name}"
            base = f"{dev.server}/api/v1/namespaces/{namespace}/services/https:{name}:443"
            assert api.configuration.host == f"{base}/proxy"
            assert list(api.configuration.api_key.values()) == ["Bearer oidc-id-token"]  # from the exec plugin
            # The service the proxy path names is the tenant's, on the cluster it is placed on.
            service = k8s.CoreV1Api(kube_client(dev)).read_namespaced_service(name, namespace)
            assert [(p.name, p.port) for p in service.spec.ports] == [("https", 443)]
            # And the request really goes there: TLS verified with the template's CA; the connected
            # cluster's API server answers (it does not know the OIDC token: 401, from that server).
            with pytest.raises(ApiException) as refused:
                k8s.VersionApi(api).get_code()
            assert refused.value.status == 401
            api.close()
        args = log.read_text().split()
        assert args[:2] == ["oidc-login", "get-token"] and f"--oidc-issuer-url={ISSUER}" in args
        assert shutil.which("kubectl") == str(kubectl)
    finally:
        os.environ["PATH"] = old_path
    assert json.dumps(current)  # the current context is set
