"""The command line of each of a cluster's three programs, and the probe that says one answers."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path


def etcd_args(path: Path, port: int, peer_port: int) -> list[str]:
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        f"--data-dir={path / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{port}",
        f"--advertise-client-urls=http://127.0.0.1:{port}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--unsafe-no-fsync=true",
    ]


def apiserver_args(path: Path, etcd_port: int, port: int) -> list[str]:
    key = path / "sa.key"
    return [
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={path / 'certs'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={key}",
        f"--service-account-signing-key-file={key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        f"--token-auth-file={path / 'tokens.csv'}",
        # Pods get no service-account token volume: there is no kubelet to mount one anyway.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
    ]


def controller_manager_args(path: Path, kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--service-account-private-key-file={path / 'sa.key'}",
        f"--root-ca-file={path / 'certs' / 'apiserver.crt'}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
    ]


def https_ok(url: str, ca_file: Path, token: str) -> bool:
    if not ca_file.exists():  # the apiserver writes its cert before serving
        return False
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        # Inside the try: the apiserver may be half-way through writing the cert file, and loading a
        # partial one fails with an SSLError ("no certificate or crl found"); the next probe retries.
        context = ssl.create_default_context(cafile=str(ca_file))
        # ProxyHandler({}): a proxy from the environment must never be asked for 127.0.0.1.
        https = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        with https.open(request, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError, ssl.SSLError):
        return False
