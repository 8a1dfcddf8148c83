"""Test infrastructure of the live tier: a small fleet pointed at loopback clusters, and putting it on them.

A fleet is put on a cluster the way the issue prescribes for tests — desired objects by server-side apply
through the kubernetes client (field manager vfleet), releases with the real helm binary and the test
chart. This is test scaffolding, not a product apply path.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from livekit import REPO, dynamic_client, helm, kube_client
from vfleet import place
from vfleet.compile import Compiled, compile_fleet
from vfleet.desired import HELM_RELEASE
from vfleet.devclusters import DevCluster

CONTRACTS = (REPO / ".." / "shared" / "contracts").resolve()
PROJECT = "shop"

# A template whose parameters reach the fields the live checks are about: a quantity the API server
# parses (memory), an immutable StatefulSet field (the volume size), an optional CRD-backed object.
TEMPLATE = {
    "apiVersion": "vfleet.dev/v1alpha1",
    "kind": "Template",
    "metadata": {"name": "live"},
    "spec": {
        "versions": [
            {
                "version": "1.0.0",
                "chartVersion": "0.35.3",
                "values": "values.yaml.j2",
                "resources": {"cpu": "1", "memory": "2Gi"},
                "parameters": [
                    {"name": "memory", "type": "string", "default": "256Mi"},
                    {"name": "persist", "type": "bool", "default": False},
                    {"name": "size", "type": "string", "default": "5Gi"},
                    {"name": "monitor", "type": "bool", "default": False},
                    {"name": "replicas", "type": "int", "default": 1, "min": 0, "max": 3},
                ],
            }
        ]
    },
}
VALUES = """\
controlPlane:
  statefulSet:
    highAvailability:
      replicas: {{ replicas }}
    resources:
      requests:
        memory: {{ memory }}
    persistence:
      volumeClaim:
        enabled: {{ persist }}
        size: {{ size }}
  serviceMonitor:
    enabled: {{ monitor }}
"""


def env_var(cluster: str) -> str:
    return "KUBE_" + cluster.upper().replace("-", "_")


def write_fleet(
    root: Path, clusters: list[str], chart: Path, tenants: Mapping[str, Mapping[str, Any]]
) -> Path:
    """A fleet repo: `clusters` (kubeconfig from env var KUBE_<NAME>, chart from the local `chart` dir),
    project `shop` and its `tenants` (name -> {"cluster": ..., "parameters": {...}})."""
    files: dict[str, Any] = {
        "vfleet.yaml": {"chartSchemas": [str(CONTRACTS)]},
        "templates/live/template.yaml": TEMPLATE,
        f"fleet/projects/{PROJECT}/project.yaml": {
            "apiVersion": "vfleet.dev/v1alpha1",
            "kind": "Project",
            "metadata": {"name": PROJECT},
            "spec": {
                "members": [{"user": "alice@example.com", "role": "admin"}],
                "templates": [{"name": "live", "versions": ["1.x"]}],
                "defaultTemplate": {"name": "live", "version": "1.x"},
                "clusters": {"names": clusters},
                # The read-only host view: a Role and RoleBinding per tenant for the live checks to see.
                "hostAccess": {"view": ["admin"]},
            },
        },
    }
    for name in clusters:
        files[f"fleet/clusters/{name}.yaml"] = {
            "apiVersion": "vfleet.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name, "labels": {"env": "test"}},
            "spec": {
                "kubeconfig": {"env": env_var(name)},
                "capacity": {"cpu": "64", "memory": "256Gi", "maxTenants": 50},
                "chart": {"path": str(chart)},
            },
        }
    for name, tenant in tenants.items():
        files[f"fleet/projects/{PROJECT}/tenants/{name}.yaml"] = {
            "apiVersion": "vfleet.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {"owner": "alice@example.com", **tenant},
        }
    tenants_dir = root / "fleet" / "projects" / PROJECT / "tenants"
    if tenants_dir.is_dir():  # a rewrite: tenants no longer listed are removed from Git
        for old in tenants_dir.glob("*.yaml"):
            if old.stem not in tenants:
                old.unlink()
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (root / "templates/live/values.yaml.j2").write_text(VALUES, encoding="utf-8")
    return root


def compile_placed(root: Path) -> Compiled:
    """Compile after recording placement in the lock file (as `vfleet place` would); must be clean."""
    first = compile_fleet(root, check_lock=False)
    place.write_lock(root, first.placement)
    compiled = compile_fleet(root)
    assert compiled.ok, [str(f) for f in compiled.findings.errors]
    return compiled


def cluster_env(clusters: Mapping[str, DevCluster], *, admin: bool = True) -> dict[str, str]:
    """KUBE_<NAME> -> the dev cluster's kubeconfig path, for each fleet cluster name."""
    return {
        env_var(name): str(dev.admin_kubeconfig if admin else dev.user_kubeconfig)
        for name, dev in clusters.items()
    }


def helm_run(dev: DevCluster, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    homes = {
        var: str(home / var.lower()) for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    }
    return subprocess.run(
        [helm(), *args, "--kubeconfig", str(dev.admin_kubeconfig)],
        capture_output=True,
        text=True,
        env={**os.environ, **homes},
        check=False,
        timeout=120,
    )


def put_on_cluster(compiled: Compiled, cluster: str, dev: DevCluster, home: Path) -> None:
    """Every desired object of `cluster` by server-side apply; every release by `helm upgrade --install`."""
    client = dynamic_client(kube_client(dev))
    for r in compiled.desired[cluster].resources:
        if r.kind == HELM_RELEASE:
            install_release(dev, r.body["spec"], home)
            continue
        resource = client.resources.get(api_version=r.api_version, kind=r.kind)
        client.server_side_apply(
            resource,
            body=r.body,
            name=r.name,
            namespace=r.namespace,
            field_manager="vfleet",
            force_conflicts=True,
        )


def install_release(dev: DevCluster, spec: Mapping[str, Any], home: Path, values: Any = None) -> None:
    values_file = home / f"values-{spec['namespace']}-{spec['releaseName']}.json"
    values_file.parent.mkdir(parents=True, exist_ok=True)
    values_file.write_bytes(orjson.dumps(spec["values"] if values is None else values))
    done = helm_run(
        dev,
        home,
        "upgrade",
        "--install",
        str(spec["releaseName"]),
        str(spec["path"]),
        "-n",
        str(spec["namespace"]),
        "-f",
        str(values_file),
    )
    assert done.returncode == 0, done.stderr
