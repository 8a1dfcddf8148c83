"""Engine tier: Argo CD registrations applied by the real Pulumi engine on two loopback clusters.

The example fleet (eu-dev -> live-a, wave 0; eu-central, us-east -> live-b, wave 1) with one Argo CD
instance on live-b (namespace `argocd`). Registered: payments/ledger-dev (on live-a: Argo CD reaches it
through its template's exposed endpoint) and web/design-system (on live-b: through its Service). The test
chart writes each tenant's `vc-<release>` Secret as the vcluster chart does; the registration carries its
CA, client certificate and key, read by the Pulumi program at apply time. In order, on one fleet:

1. the registration Secrets appear on live-b with the right server and credentials, which are nowhere in
   the Pulumi state, vfleet's records or its output in plain text;
2. moving ledger-dev to live-b updates its registration (in-cluster server, the new cluster's credentials);
3. deleting it removes its registration.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from enginekit import Fleet, engine_clusters, make_fleet, require_engine, stacks, why
from livekit import kube_client
from vfleet.desired import argocd

pytestmark = pytest.mark.engine
LEDGER = "fleet/projects/payments/tenants/ledger-dev.yaml"
DESIGN = "fleet/projects/web/tenants/design-system.yaml"
NS = "argocd"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    require_engine()
    with engine_clusters() as clusters:
        made = make_fleet(tmp_path_factory.mktemp("argocd"), clusters)
        with (made.root / "vfleet.yaml").open("a") as f:
            f.write("\nargocd:\n  instances:\n    main: {cluster: live-b, namespace: argocd}\n")
        for rel, project in ((LEDGER, "payments"), (DESIGN, "web")):
            with (made.root / rel).open("a") as f:
                f.write(f"  argocd:\n    instance: main\n    project: {project}\n    labels: {{team: {project}}}\n")
        # Argo CD's own namespace (Argo CD is installed by the platform, not by vfleet).
        k8s.CoreV1Api(kube_client(made.clusters["live-b"])).create_namespace({"metadata": {"name": NS}})
        yield made


def _secret(fleet: Fleet, cluster: str, namespace: str, name: str) -> Any:
    return k8s.CoreV1Api(kube_client(fleet.clusters[cluster])).read_namespaced_secret(name, namespace)


def _registration(fleet: Fleet, name: str) -> tuple[dict[str, str], dict[str, Any]]:
    got = _secret(fleet, "live-b", NS, name)
    data = {k: base64.b64decode(v).decode() for k, v in (got.data or {}).items()}
    assert got.metadata.labels[argocd.SECRET_TYPE_LABEL] == "cluster"
    return data, json.loads(data["config"])


def _tenant_credentials(fleet: Fleet, cluster: str, namespace: str, release: str) -> dict[str, str]:
    data = _secret(fleet, cluster, namespace, f"vc-{release}").data
    return {"caData": data["certificate-authority"], "certData": data["client-certificate"],
            "keyData": data["client-key"]}


def _not_in_plain_text(fleet: Fleet, *values: str) -> None:
    files = [p for p in fleet.state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "live-b.json" for p in files)
    said = "\n".join(fleet.said)
    for value in values:
        pem = base64.b64decode(value).decode()
        for path in files:
            text = path.read_bytes().decode("utf-8", "replace")
            assert value not in text and pem not in text and json.dumps(pem)[1:-1] not in text, path
        assert value not in said and pem not in said


def test_1_registrations_appear_with_server_and_credentials(fleet: Fleet) -> None:
    code, report = fleet.apply_json()
    assert code == 0, why(report)
    ledger, ledger_config = _registration(fleet, "vfleet-payments-ledger-dev")
    assert ledger["name"] == "payments/ledger-dev" and ledger["project"] == "payments"
    assert ledger["server"] == "https://ledger-dev.payments.vc.example.com"  # on live-a: its exposed endpoint
    expected = _tenant_credentials(fleet, "live-a", "vc-payments-ledger-dev", "ledger-dev")
    assert ledger_config == {"tlsClientConfig": expected}
    design, design_config = _registration(fleet, "vfleet-web-design-system")
    assert design["server"] == "https://design-system.vc-web-design-system.svc:443"  # Argo CD's own cluster
    assert design_config == {"tlsClientConfig": _tenant_credentials(fleet, "live-b", "vc-web-design-system",
                                                                     "design-system")}
    got = _secret(fleet, "live-b", NS, "vfleet-payments-ledger-dev")
    assert got.metadata.labels["team"] == "payments"
    assert got.metadata.annotations[argocd.CREDENTIALS_FROM] == "live-a/vc-payments-ledger-dev/vc-ledger-dev"
    # `vfleet drift` compares the registrations as the program applied them: no drift, no credential shown
    done = fleet.vfleet("drift", ".", "--cluster", "live-b", "-o", "json")
    registrations = [(d["name"], f["path"]) for d in json.loads(done.stdout).get("drift", [])
                     if d.get("kind") == "Secret" for f in d.get("fields", [])]
    assert registrations == [], done.stdout[-2000:]
    assert expected["keyData"] not in done.stdout
    _not_in_plain_text(fleet, expected["keyData"], expected["certData"], design_config["tlsClientConfig"]["keyData"])
    # the plan / preview show it like any other object, without its credentials
    code, report = fleet.apply_json("--all", op="preview")
    assert code == 0 and all(set(s["changes"]) <= {"same"} for s in report["stacks"]), why(report)


def test_2_a_moved_tenant_is_registered_where_it_now_runs(fleet: Fleet) -> None:
    fleet.edit(LEDGER, "cluster: live-a", "cluster: live-b")
    fleet.edit("fleet/placement.lock", "payments/ledger-dev: live-a", "payments/ledger-dev: live-b")
    code, report = fleet.apply_json("--override-guard", "engine tier: move ledger-dev to live-b")
    assert code == 0, why(report)
    # pulumi-kubernetes replaces a Secret whose data changes (same name: deleted, then created)
    changed = stacks(report)["live-b"]["changes"]
    assert changed.get("update", 0) + changed.get("replace", 0) >= 1, why(report)
    ledger, config = _registration(fleet, "vfleet-payments-ledger-dev")
    assert ledger["server"] == "https://ledger-dev.vc-payments-ledger-dev.svc:443"
    assert config == {"tlsClientConfig": _tenant_credentials(fleet, "live-b", "vc-payments-ledger-dev", "ledger-dev")}
    got = _secret(fleet, "live-b", NS, "vfleet-payments-ledger-dev")
    assert got.metadata.annotations[argocd.CREDENTIALS_FROM] == "live-b/vc-payments-ledger-dev/vc-ledger-dev"


def test_3_a_deleted_tenant_takes_its_registration_along(fleet: Fleet) -> None:
    (fleet.root / LEDGER).unlink()
    lock = fleet.root / "fleet/placement.lock"
    lock.write_text("".join(line for line in lock.read_text().splitlines(keepends=True)
                            if "payments/ledger-dev:" not in line))
    code, report = fleet.apply_json("--override-guard", "engine tier: delete ledger-dev")
    assert code == 0, why(report)
    names = [s.metadata.name for s in k8s.CoreV1Api(kube_client(fleet.clusters["live-b"])).list_namespaced_secret(
        NS, label_selector=f"{argocd.SECRET_TYPE_LABEL}=cluster").items]
    assert names == ["vfleet-web-design-system"]


def test_4_no_tenant_key_in_the_stack_state(fleet: Fleet) -> None:
    state = json.dumps(fleet.pulumi_state("live-b"))
    design = _tenant_credentials(fleet, "live-b", "vc-web-design-system", "design-system")
    assert design["keyData"] not in state
    assert Path(fleet.state_dir).is_dir()
