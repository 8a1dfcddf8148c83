"""A small, valid fleet to start tests from, and helpers to write variations of it to disk."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = (REPO / ".." / "shared" / "contracts").resolve()
CHART_SCHEMA = CONTRACTS / "vcluster-chart-0.35.3" / "values.schema.json"

BASE: dict[str, str] = {
    "vfleet.yaml": f"chartSchemas: [{str(CONTRACTS)!r}]\n",
    "fleet/clusters/eu-1.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Cluster
        metadata:
          name: eu-1
          labels: {region: eu, env: prod}
        spec:
          kubeconfig: {env: EU1_KUBECONFIG}
          capacity: {cpu: "64", memory: 256Gi, storage: 2Ti, gpus: 0, maxTenants: 50}
          nodeProviders: [metal]
        """,
    "fleet/clusters/us-1.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Cluster
        metadata:
          name: us-1
          labels: {region: us, env: prod}
        spec:
          kubeconfig: {file: ~/.kube/us-1.yaml, context: us-1}
          capacity: {cpu: "32", memory: 128Gi, maxTenants: 20}
          rollout: {wave: 1}
        """,
    "fleet/nodes/metal.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: NodeProvider
        metadata: {name: metal}
        spec:
          nodeTypes:
            - name: gpu-l4
              resources: {cpu: "16", memory: 64Gi, nvidia.com/gpu: "1"}
              properties: {region: eu}
              maxCapacity: 4
        """,
    "fleet/teams/platform.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Team
        metadata: {name: platform}
        spec:
          members: [alice]
          groups: ["oidc:platform"]
        """,
    "fleet/platform.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Platform
        metadata: {name: platform}
        spec:
          members:
            - {group: "oidc:platform", role: admin}
        """,
    "fleet/projects/alpha/project.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Project
        metadata: {name: alpha}
        spec:
          members:
            - {user: alice, role: admin}
            - {team: platform, role: viewer}
          templates: [{name: shared, versions: ["1.x"]}]
          defaultTemplate: {name: shared, version: "1.x"}
          clusters: {names: [eu-1, us-1]}
        """,
    "fleet/projects/alpha/tenants/dev.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata:
          name: dev
          labels: {env: dev}
        spec:
          owner: alice
          cluster: eu-1
          parameters: {cpu: "2"}
          sleep: {afterInactivity: 2h}
        """,
    "templates/shared/template.yaml": """
        apiVersion: vfleet.dev/v1alpha1
        kind: Template
        metadata: {name: shared}
        spec:
          versions:
            - version: 1.0.0
              chartVersion: 0.35.3
              values: values.yaml.j2
              resources: {cpu: cpu, memory: 4Gi}
              parameters:
                - {name: cpu, type: quantity, default: "1", min: 100m, max: "8"}
        """,
    "templates/shared/values.yaml.j2": """
        controlPlane:
          statefulSet:
            resources:
              requests:
                cpu: {{ cpu }}
        """,
}


def write_fleet(root: Path, overrides: Mapping[str, str | None] | None = None) -> Path:
    """BASE with `overrides` applied (a None value deletes that file); texts are dedented."""
    files = {**BASE, **(overrides or {})}
    for rel, text in files.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def load_model(root: Path):  # type: ignore[no-untyped-def]
    from vfleet.load import load
    from vfleet.model import build
    from vfleet.repo.tree import open_tree

    return build(load(open_tree(root)))
