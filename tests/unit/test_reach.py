"""`vfleet kubeconfig` (vfleet.reach): the kubeconfig's shape per exposure kind, no secret in it, scoping by
the tenant's rendered access rules, and errors that name the file:line and what to set."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetkit import BASE, write_fleet
from vfleet import compile as compiler
from vfleet import reach
from vfleet.render import schemas
from vfleet.repo.tree import open_tree

VFLEET = str(Path(sys.executable).with_name("vfleet"))
IDENTITY = "identity:\n  oidc: {issuer: 'https://login.example.com/dex', clientID: vfleet-kubectl}\n"
ACCESS = """
          access:
            - {groups: [devs], clusterRole: edit}
            - {teams: [platform], clusterRole: view}
            - {users: [bob], clusterRole: cluster-admin}
"""
SECRET = "sup3r-s3cret-host-token"  # in the connected cluster's kubeconfig: must never show up


def _add(key: str, extra: str) -> str:
    return BASE[key].rstrip() + "\n" + extra.strip("\n") + "\n"


def _fleet(root: Path, expose: str | None, *, identity: str = IDENTITY, extra: dict[str, str | None] | None = None
           ) -> Path:
    template = BASE["templates/shared/template.yaml"]
    if expose is not None:
        template = _add("templates/shared/template.yaml", f"              expose: {expose}")
    files: dict[str, str | None] = {
        "vfleet.yaml": BASE["vfleet.yaml"] + identity,
        "templates/shared/template.yaml": template,
        "fleet/projects/alpha/tenants/dev.yaml": _add("fleet/projects/alpha/tenants/dev.yaml", ACCESS),
        **(extra or {}),
    }
    write_fleet(root, files)
    subprocess.run([VFLEET, "place", str(root)], capture_output=True)  # fails on a broken fleet: tests say so
    return root


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "300", **(env or {})}
    return subprocess.run([VFLEET, "kubeconfig", *args, "--path", str(root)], capture_output=True, text=True,
                          env=full, timeout=120)


def _config(root: Path, *args: str) -> dict[str, Any]:
    done = _run(root, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    data: dict[str, Any] = yaml.safe_load(done.stdout)
    return data


@pytest.mark.parametrize(("expose", "server"), [
    ("{ingress: {host: '{tenant}.{project}.vc.example.com'}}", "https://dev.alpha.vc.example.com"),
    ("{ingress: {host: 'vc-{namespace}.{cluster}.example.com', port: 8443}}",
     "https://vc-vc-alpha-dev.eu-1.example.com:8443"),
    ("{loadBalancer: {host: '{release}-{project}.lb.example.com'}}", "https://dev-alpha.lb.example.com"),
    ("{nodePort: {host: 'nodes.{cluster}.example.com', port: 31443}}", "https://nodes.eu-1.example.com:31443"),
    ("{serviceProxy: {}}", "https://api.eu-1.example.com:6443/api/v1/namespaces/vc-alpha-dev/services/https:dev:443/proxy"),
])
def test_kubeconfig_shape_per_exposure_kind(tmp_path: Path, expose: str, server: str) -> None:
    cluster = _add("fleet/clusters/eu-1.yaml", "          apiServer: https://api.eu-1.example.com:6443/")
    root = _fleet(tmp_path, expose, extra={"fleet/clusters/eu-1.yaml": cluster})
    config = _config(root, "alpha/dev")
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    assert config["clusters"] == [{"name": "alpha/dev", "cluster": {"server": server}}]
    (context,) = config["contexts"]
    assert context["name"] == config["current-context"] == "alpha/dev"
    assert context["context"]["cluster"] == "alpha/dev" and context["context"]["user"] == reach.USER_NAME
    about = context["context"]["extensions"][0]
    assert about["name"] == reach.EXTENSION
    assert about["extension"]["exposure"] == expose.split(":")[0].strip("{")
    assert about["extension"]["source"] == "fleet/projects/alpha/tenants/dev.yaml:1"
    (user,) = config["users"]
    assert user == {"name": reach.USER_NAME, "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubectl",
        "args": ["oidc-login", "get-token", "--oidc-issuer-url=https://login.example.com/dex",
                 "--oidc-client-id=vfleet-kubectl", "--oidc-extra-scope=groups"],
        "interactiveMode": "IfAvailable", "provideClusterInfo": False}}}


def test_node_port_from_a_parameter(tmp_path: Path) -> None:
    template = BASE["templates/shared/template.yaml"].rstrip() + """
                - {name: apiPort, type: int, default: 30500, min: 30000, max: 32767}
              expose: {nodePort: {host: 'nodes.{cluster}.example.com', port: apiPort}}
        """
    tenant = _add("fleet/projects/alpha/tenants/dev.yaml", ACCESS).replace('parameters: {cpu: "2"}',
                                                                            'parameters: {cpu: "2", apiPort: 31999}')
    root = _fleet(tmp_path, None, extra={"templates/shared/template.yaml": template,
                                         "fleet/projects/alpha/tenants/dev.yaml": tenant})
    assert _config(root, "alpha/dev")["clusters"][0]["cluster"]["server"] == "https://nodes.eu-1.example.com:31999"


def test_no_secret_in_it_and_the_connected_cluster_is_never_read(tmp_path: Path) -> None:
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.vc.example.com'}}")
    host = tmp_path / "eu-1.kubeconfig"  # what EU1_KUBECONFIG names: the connected cluster's credentials
    host.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [
        {"name": "eu-1", "cluster": {"server": "https://host-api.internal:6443"}}], "users": [
        {"name": "admin", "user": {"token": SECRET}}], "contexts": [], "current-context": ""}))
    host.chmod(0o000)  # unreadable: a read would fail the command
    done = _run(root, "alpha/dev", "-o", "json", env={"EU1_KUBECONFIG": str(host)})
    host.chmod(0o600)
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert SECRET not in text and "host-api.internal" not in text
    config = yaml.safe_load(_run(root, "alpha/dev").stdout)
    (user,) = config["users"]
    assert set(user["user"]) == {"exec"}  # no token, password, client key or certificate, auth-provider
    for bad in ("token", "password", "client-key", "client-certificate", "auth-provider", "secret"):
        assert bad not in yaml.safe_dump(config["users"]).replace("get-token", "")


def test_access_rules_scope_who_sees_it_and_what_for(tmp_path: Path) -> None:
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.vc.example.com'}}")
    everyone = _config(root, "alpha/dev")["contexts"][0]["context"]["extensions"][0]["extension"]["roles"]
    assert everyone == {"cluster-admin": {"groups": [], "users": ["bob"]}, "edit": {"groups": ["devs"], "users": []},
                        "view": {"groups": ["oidc:platform"], "users": ["alice"]}}
    devs = _config(root, "alpha/dev", "--group", "devs")["contexts"][0]["context"]["extensions"][0]["extension"]
    assert devs["roles"] == {"edit": {"groups": ["devs"], "users": []}}
    both = _config(root, "alpha/dev", "--group", "devs", "--group", "oidc:platform")
    assert set(both["contexts"][0]["context"]["extensions"][0]["extension"]["roles"]) == {"edit", "view"}
    # Not bound and not a member of the project: refused, naming the tenant's file:line and what to set.
    done = _run(root, "alpha/dev", "--group", "strangers")
    assert done.returncode == 2
    assert "fleet/projects/alpha/tenants/dev.yaml:1" in done.stderr and "spec.access" in done.stderr
    # A project member without an access rule sees the tenant; the kubeconfig grants nothing, and says so.
    member = _run(root, "alpha/dev", "--user", "carol")
    assert member.returncode == 2
    project = root / "fleet/projects/alpha/project.yaml"
    project.write_text(project.read_text().replace("- {user: alice, role: admin}",
                                                   "- {user: alice, role: admin}\n    - {user: carol, role: viewer}"))
    member = _run(root, "alpha/dev", "--user", "carol")
    assert member.returncode == 0, member.stderr
    assert "no access rule binds" in member.stderr


def test_project_lists_only_the_tenants_the_caller_may_see(tmp_path: Path) -> None:
    other = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: ops}
        spec:
          owner: alice
          cluster: us-1
          access:
            - {groups: [ops], clusterRole: admin}
        """
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.{cluster}.vc.example.com'}}",
                  extra={"fleet/projects/alpha/tenants/ops.yaml": other})
    config = _config(root, "--project", "alpha")
    assert [c["name"] for c in config["contexts"]] == ["alpha/dev", "alpha/ops"]
    assert config["clusters"][1]["cluster"]["server"] == "https://ops.us-1.vc.example.com"
    assert len(config["users"]) == 1
    config = _config(root, "--project", "alpha", "--group", "ops")
    assert [c["name"] for c in config["contexts"]] == ["alpha/ops"]


def test_no_endpoint_names_the_tenant_and_the_template_version(tmp_path: Path) -> None:
    root = _fleet(tmp_path, None)
    done = _run(root, "alpha/dev")
    assert done.returncode == 2
    assert "fleet/projects/alpha/tenants/dev.yaml:1" in done.stderr
    assert "templates/shared/template.yaml:6" in done.stderr and "expose:" in done.stderr


def test_service_proxy_without_an_api_server_says_where_to_set_it(tmp_path: Path) -> None:
    root = _fleet(tmp_path, "{serviceProxy: {}}")
    done = _run(root, "alpha/dev")
    assert done.returncode == 2
    assert "spec.apiServer" in done.stderr and "fleet/clusters/eu-1.yaml:" in done.stderr


def test_not_placed_names_the_tenant(tmp_path: Path) -> None:
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.vc.example.com'}}")
    compiled = compiler.compile_fleet(root, check_lock=False)
    from dataclasses import replace

    unplaced = replace(compiled, placement=replace(compiled.placement, clusters={}))
    with pytest.raises(reach.ReachError, match=r"dev.yaml:1: tenant alpha/dev is not placed.*spec.cluster"):
        reach.target(unplaced, "alpha/dev")
    tenant = BASE["fleet/projects/alpha/tenants/dev.yaml"].replace("cluster: eu-1", "placement: {matchLabels: "
                                                                    "{region: mars}}")
    (root / "fleet/projects/alpha/tenants/dev.yaml").write_text(textwrap.dedent(tenant).lstrip())
    (root / "fleet/placement.lock").unlink()  # else the tenant stays where the lock put it (sticky)
    done = _run(root, "alpha/dev")
    said = " ".join(done.stderr.split())
    assert done.returncode == 2 and "dev.yaml:1: tenant alpha/dev is not placed" in said, said
    assert "place.no-cluster" in said  # why, from the placement stage


def test_identity_is_required_and_holds_no_secret(tmp_path: Path) -> None:
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.vc.example.com'}}", identity="")
    done = _run(root, "alpha/dev")
    assert done.returncode == 2 and "identity" in done.stderr and "issuer" in done.stderr
    (root / "vfleet.yaml").write_text(BASE["vfleet.yaml"] + "identity:\n  oidc:\n    issuer: http://plain.example\n"
                                      "    clientID: x\n    clientSecret: hunter2\n")
    settings = schemas.read_settings(open_tree(root))
    assert settings.identity is None
    found = {(f.location.line if f.location else None, f.location.field if f.location else None)
             for f in settings.findings}
    assert found == {(4, "identity.oidc.issuer"), (6, "identity.oidc.clientSecret")}
    assert any("holds no secret" in f.message for f in settings.findings)
    compiled = compiler.compile_fleet(root, check_lock=False)
    assert {f.code for f in compiled.findings.errors} == {"config.invalid"}


def test_expose_is_validated_with_file_and_line(tmp_path: Path) -> None:
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.{team}.example.com'}}")
    found = compiler.compile_fleet(root, check_lock=False).findings.errors
    assert [(str(f.location), f.code) for f in found if f.location and f.location.file.startswith("templates")] \
        == [("templates/shared/template.yaml:12 (spec.versions[0].expose.ingress.host)", "schema.invalid")]
    template = _add("templates/shared/template.yaml", "              expose: {ingress: {host: a.b}, serviceProxy: {}}")
    (root / "templates/shared/template.yaml").write_text(textwrap.dedent(template))
    (bad,) = [f for f in compiler.compile_fleet(root, check_lock=False).findings.errors
              if f.location and f.location.file.startswith("templates")]
    assert "exactly one of" in bad.message and str(bad.location).endswith("(spec.versions[0].expose)")
    template = _add("templates/shared/template.yaml", "              expose: {nodePort: {host: n.example, port: cpu}}")
    (root / "templates/shared/template.yaml").write_text(textwrap.dedent(template))
    (bad,) = [f for f in compiler.compile_fleet(root, check_lock=False).findings.errors
              if f.location and f.location.file.startswith("templates")]
    assert "names no 'int' parameter" in bad.message


def test_ca_file_is_embedded_and_a_private_key_refused(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    root = _fleet(tmp_path, "{ingress: {host: '{tenant}.vc.example.com'}, caFile: ca.pem}",
                  extra={"templates/shared/ca.pem": pem})
    cluster = _config(root, "alpha/dev")["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == pem
    (root / "templates/shared/ca.pem").write_text(pem + "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\n")
    done = _run(root, "alpha/dev")
    assert done.returncode == 2 and "private key" in done.stderr and "BEGIN" not in done.stdout
