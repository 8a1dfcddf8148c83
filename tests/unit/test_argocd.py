"""Argo CD registration in the desired state (vfleet.desired.argocd): the cluster Secret on the instance's cluster,
its server (in-cluster Service, or the exposed endpoint), no credential in it, errors at file:line, and
the policy input's field."""

from __future__ import annotations

import base64
from pathlib import Path

from fleetkit import BASE, write_fleet
from vfleet import compile as compiler
from vfleet import place
from vfleet.desired import HELM_RELEASE, argocd
from vfleet.policy.input import build as policy_input

SETTINGS = BASE["vfleet.yaml"] + "argocd:\n  instances:\n    main: {cluster: eu-1, namespace: argocd}\n"
OTHER = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Tenant
    metadata: {name: ops}
    spec:
      owner: alice
      cluster: us-1
    """
QUIET = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Tenant
    metadata: {name: quiet}
    spec:
      owner: alice
      cluster: eu-1
      argocd: {never: true}
    """


def _fleet(root: Path, *, expose: bool = True, settings: str = SETTINGS, tenant_argocd: str = "") -> Path:
    template = BASE["templates/shared/template.yaml"].rstrip() + "\n"
    if expose:
        template += "              expose: {ingress: {host: '{tenant}.{cluster}.vc.example.com'}}\n"
    project = BASE["fleet/projects/alpha/project.yaml"].rstrip() + (
        "\n          defaults:\n            argocd: {instance: main, labels: {fleet: vfleet}}\n")
    tenant = BASE["fleet/projects/alpha/tenants/dev.yaml"].rstrip() + "\n" + (
        tenant_argocd or "          argocd: {instance: main, project: team-alpha, labels: {env: dev}}\n")
    write_fleet(root, {
        "vfleet.yaml": settings,
        "templates/shared/template.yaml": template,
        "fleet/projects/alpha/project.yaml": project,
        "fleet/projects/alpha/tenants/dev.yaml": tenant,
        "fleet/projects/alpha/tenants/ops.yaml": OTHER,
        "fleet/projects/alpha/tenants/quiet.yaml": QUIET,
    })
    first = compiler.compile_fleet(root, check_lock=False)
    place.write_lock(root, first.placement)
    return root


def _decoded(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_registrations_land_on_the_instance_cluster_without_credentials(tmp_path: Path) -> None:
    compiled = compiler.compile_fleet(_fleet(tmp_path))
    assert compiled.ok, [str(f) for f in compiled.findings]
    on_eu = [r for r in compiled.desired["eu-1"].resources if r.kind == "Secret"]
    assert [r.id for r in on_eu] == ["eu-1/v1/Secret/argocd/vfleet-alpha-dev", "eu-1/v1/Secret/argocd/vfleet-alpha-ops"]
    assert not [r for r in compiled.desired["us-1"].resources if r.kind == "Secret"]
    dev, ops = on_eu
    assert dev.body["metadata"]["labels"] == {
        "env": "dev", "app.kubernetes.io/managed-by": "vfleet", argocd.SECRET_TYPE_LABEL: "cluster",
        "vfleet.dev/project": "alpha", "vfleet.dev/tenant": "dev"}
    # Argo CD on the tenant's own cluster reaches its Service; on another cluster, the exposed endpoint.
    assert _decoded(dev.body["data"]) == {"name": "alpha/dev", "server": "https://dev.vc-alpha-dev.svc:443",
                                          "project": "team-alpha"}
    assert _decoded(ops.body["data"]) == {"name": "alpha/ops", "server": "https://ops.us-1.vc.example.com",
                                          "project": "default"}
    assert ops.body["metadata"]["labels"]["fleet"] == "vfleet"  # the project's default
    assert dev.body["metadata"]["annotations"][argocd.CREDENTIALS_FROM] == "eu-1/vc-alpha-dev/vc-dev"
    assert ops.body["metadata"]["annotations"][argocd.CREDENTIALS_FROM] == "us-1/vc-alpha-ops/vc-ops"
    assert "config" not in dev.body["data"] and "stringData" not in dev.body  # credentials only at apply time
    release = next(r for r in compiled.desired["eu-1"].resources if r.kind == HELM_RELEASE and r.tenant == "alpha/dev")
    assert dev.depends_on == (release.id,) and ops.depends_on == ()
    assert dev.tenant == "alpha/dev" and not dev.protect
    assert argocd.credential_sources(compiled.desired["eu-1"], {"us-1": "ref"}) == {"us-1": "ref"}  # type: ignore[dict-item,comparison-overlap]


def test_a_deleted_or_moved_tenant_changes_its_registration(tmp_path: Path) -> None:
    root = _fleet(tmp_path)
    moved = (root / "fleet/projects/alpha/tenants/ops.yaml")
    moved.write_text(moved.read_text().replace("cluster: us-1", "cluster: eu-1"))
    lock = root / "fleet/placement.lock"
    lock.write_text(lock.read_text().replace("alpha/ops: us-1", "alpha/ops: eu-1"))
    compiled = compiler.compile_fleet(root)
    assert compiled.ok, [str(f) for f in compiled.findings]
    ops = compiled.desired["eu-1"].by_id["eu-1/v1/Secret/argocd/vfleet-alpha-ops"]
    assert _decoded(ops.body["data"])["server"] == "https://ops.vc-alpha-ops.svc:443"
    assert ops.body["metadata"]["annotations"][argocd.CREDENTIALS_FROM] == "eu-1/vc-alpha-ops/vc-ops"
    moved.unlink()
    compiled = compiler.compile_fleet(root, check_lock=False)
    assert "eu-1/v1/Secret/argocd/vfleet-alpha-ops" not in compiled.desired["eu-1"].by_id


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    root = _fleet(tmp_path, expose=False, tenant_argocd="          argocd: {instance: nope}\n",
                  settings=SETTINGS + "    other: {cluster: mars}\n")
    found = {(f.code, str(f.location)) for f in compiler.compile_fleet(root).findings.errors}
    assert ("argocd.instance", "fleet/projects/alpha/tenants/dev.yaml:11 (spec.argocd.instance)") in found
    assert ("argocd.cluster", "vfleet.yaml:5 (argocd.instances.other.cluster)") in found
    # ops runs on us-1 and its template exposes nothing: Argo CD on eu-1 could not reach it
    (server,) = [f for f in compiler.compile_fleet(root).findings.errors if f.code == "argocd.server"]
    assert server.subject == "tenant:alpha/ops" and "set 'expose:'" in server.message
    assert str(server.location) == "fleet/projects/alpha/project.yaml:12 (spec.defaults.argocd)"  # the default's
    tenant = root / "fleet/projects/alpha/tenants/dev.yaml"
    tenant.write_text(tenant.read_text().replace("{instance: nope}", "{never: true, labels: {a: b}}"))
    (bad,) = [f for f in compiler.compile_fleet(root).findings.errors if f.code == "schema.invalid"]
    assert "never: true" in bad.message and str(bad.location).startswith("fleet/projects/alpha/tenants/dev.yaml:11")


def test_policy_input_has_the_registration(tmp_path: Path) -> None:
    compiled = compiler.compile_fleet(_fleet(tmp_path))
    doc = policy_input(compiled.fleet, compiled.params, compiled.placement.clusters, compiled.rendered.tenants).document
    assert doc["tenants"]["alpha/dev"]["argocd"] == {"instance": "main", "project": "team-alpha",
                                                     "labels": {"env": "dev"}}
    assert doc["tenants"]["alpha/ops"]["argocd"] == {"instance": "main", "project": "default",
                                                     "labels": {"fleet": "vfleet"}}
    assert doc["tenants"]["alpha/quiet"]["argocd"] is None
    assert doc["projects"]["alpha"]["defaults"]["argocd"]["instance"] == "main"


def test_plan_shows_registrations_and_a_vfleet_yaml_change_is_planned_in_full(tmp_path: Path) -> None:
    from plankit import History, resources, tenant

    h = History(tmp_path / "repo")
    h.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", extra="  argocd: {instance: main}\n"))
    h.write("vfleet.yaml", SETTINGS)
    h.write("templates/shared/template.yaml", BASE["templates/shared/template.yaml"].rstrip()
            + "\n              expose: {ingress: {host: '{tenant}.vc.example.com'}}\n")
    base = h.commit("registered")
    h.write("vfleet.yaml", SETTINGS.replace("cluster: eu-1", "cluster: us-1"))
    p = h.plan(base, h.commit("Argo CD moves to us-1"))
    assert p.method == "full"  # vfleet.yaml is read for every tenant: never planned from a slice
    assert ("delete", "Secret", "vfleet-alpha-web") in set(resources(p, "eu-1"))
    assert ("create", "Secret", "vfleet-alpha-web") in set(resources(p, "us-1"))
