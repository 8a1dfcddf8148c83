"""Load + model: every class of bad input is a finding with file, line and field; all reported at once."""

from __future__ import annotations

from pathlib import Path

from fleetkit import load_model, write_fleet
from vfleet.core.findings import Severity

TENANT = "fleet/projects/alpha/tenants/dev.yaml"


def _findings(tmp_path: Path, overrides: dict[str, str | None]) -> list[tuple[str, int | None, str | None, str, str]]:
    fleet = load_model(write_fleet(tmp_path, overrides))
    assert all(f.severity is Severity.ERROR for f in fleet.findings)
    return sorted((f.location.file, f.location.line, f.location.field, f.code, f.message) for f in fleet.findings)


def test_base_fleet_is_valid(tmp_path: Path) -> None:
    fleet = load_model(write_fleet(tmp_path))
    assert fleet.findings == ()
    assert list(fleet.tenants) == ["alpha/dev"]
    tenant = fleet.tenants["alpha/dev"]
    assert (tenant.template, tenant.version, tenant.namespace) == ("shared", "1.0.0", "vc-alpha-dev")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    bad = "apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\nmetadata: {name: dev\nspec: {}\n"
    assert _findings(tmp_path, {TENANT: bad}) == [
        (TENANT, 4, None, "yaml.syntax",
         "YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping)"),
    ]


def test_unknown_field_names_expected_ones(tmp_path: Path) -> None:
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: dev}
        spec:
          owner: alice
          clustr: eu-1
        """
    (found,) = _findings(tmp_path, {TENANT: text})
    assert found[:4] == (TENANT, 6, "spec.clustr", "schema.unknown-field")
    assert found[4].startswith("unknown field 'clustr'; expected one of: access, argocd, autoDelete, cluster,")


def test_missing_and_invalid_values_all_reported(tmp_path: Path) -> None:
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: dev}
        spec:
          sleep:
            afterInactivity: 2d
            schedule: "0 25 * * *"
            timezone: Mars/Olympus
        """
    assert _findings(tmp_path, {TENANT: text}) == [
        (TENANT, 4, "spec.owner", "schema.missing", "required field 'owner' is missing"),
        (TENANT, 6, "spec.sleep.afterInactivity", "schema.invalid",
         "'2d' is not a Go duration (expected e.g. '90m', '2h', '720h', '1h30m')"),
        (TENANT, 7, "spec.sleep.schedule", "schema.invalid",
         "'0 25 * * *' is not a 5-field cron expression (expected e.g. '0 20 * * 1-5')"),
        (TENANT, 8, "spec.sleep.timezone", "schema.invalid",
         "'Mars/Olympus' is not an IANA time zone name (expected e.g. 'Europe/Berlin', 'UTC')"),
    ]


def test_bad_quantity_in_cluster_capacity(tmp_path: Path) -> None:
    path = "fleet/clusters/us-1.yaml"
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Cluster
        metadata: {name: us-1}
        spec:
          kubeconfig: {env: US1}
          capacity: {cpu: lots}
        """
    assert _findings(tmp_path, {path: text}) == [
        (path, 6, "spec.capacity.cpu", "schema.invalid",
         "'lots' is not a Kubernetes quantity (expected e.g. '500m', '2', '8Gi', '1.5G')"),
        # the invalid cluster is not defined, so the project's reference to it breaks too
        ("fleet/projects/alpha/project.yaml", 10, "spec.clusters.names[1]", "ref.cluster",
         "unknown cluster 'us-1' (known: eu-1)"),
    ]


def test_kubeconfig_inside_repo_refused(tmp_path: Path) -> None:
    path = "fleet/clusters/us-1.yaml"
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Cluster
        metadata: {name: us-1}
        spec:
          kubeconfig: {file: secrets/kubeconfig}
        """
    ((file, line, field, code, message), _) = _findings(tmp_path, {path: text})
    assert (file, line, field, code) == (path, 5, "spec.kubeconfig", "schema.invalid")
    assert "outside the repository" in message


def test_cross_references(tmp_path: Path) -> None:
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: dev}
        spec:
          owner: alice
          cluster: mars-1
          template: {name: shared, version: "2.x"}
          privateNodes:
            - {name: gpu, provider: metal, nodeType: gpu-h100, quantity: 1}
            - {name: other, provider: cloud, nodeType: x, quantity: 1}
          access:
            - {teams: [nobody], clusterRole: view}
        """
    assert _findings(tmp_path, {TENANT: text}) == [
        (TENANT, 6, "spec.cluster", "ref.cluster", "unknown cluster 'mars-1' (known: eu-1, us-1)"),
        (TENANT, 7, "spec.template.version", "ref.template-version",
         "template 'shared' has no version matching '2.x' (versions: 1.0.0)"),
        (TENANT, 9, "spec.privateNodes[0].nodeType", "ref.node-type",
         "node provider 'metal' has no node type 'gpu-h100' (known: gpu-l4)"),
        (TENANT, 10, "spec.privateNodes[1].provider", "ref.node-provider",
         "unknown node provider 'cloud' (known: metal)"),
        (TENANT, 12, "spec.access[0].teams[0]", "ref.team", "unknown team 'nobody' (known: platform)"),
    ]


def test_project_references(tmp_path: Path) -> None:
    path = "fleet/projects/alpha/project.yaml"
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Project
        metadata: {name: alpha}
        spec:
          members: [{team: ghosts, role: user}]
          templates: [{name: shared, versions: ["3.x"]}, {name: missing}]
          defaultTemplate: {name: shared, version: "1.x"}
          clusters: {names: [eu-1, nowhere]}
        """
    assert _findings(tmp_path, {path: text}) == [
        (path, 5, "spec.members[0].team", "ref.team", "unknown team 'ghosts' (known: platform)"),
        (path, 6, "spec.templates[0].versions[0]", "ref.template-version",
         "no version of template 'shared' matches '3.x' (versions: 1.0.0)"),
        (path, 6, "spec.templates[1].name", "ref.template", "unknown template 'missing' (known: shared)"),
        (path, 8, "spec.clusters.names[1]", "ref.cluster", "unknown cluster 'nowhere' (known: eu-1, us-1)"),
    ]


def test_duplicate_names(tmp_path: Path) -> None:
    again = "fleet/projects/alpha/tenants/again.yaml"
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: dev}
        spec: {owner: bob}
        """
    assert _findings(tmp_path, {again: text}) == [
        (TENANT, 4, "metadata.name", "name.duplicate",
         f"Tenant 'alpha/dev' is already defined at {again}:1"),
    ]


def test_colliding_namespaces(tmp_path: Path) -> None:
    """Project 'alpha-x' tenant 'y' and project 'alpha' tenant 'x-y' both become vc-alpha-x-y."""
    project = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Project
        metadata: {name: alpha-x}
        spec:
          templates: [{name: shared}]
          defaultTemplate: {name: shared, version: "1.0.0"}
        """
    tenant = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: %s}
        spec: {owner: alice, cluster: eu-1}
        """
    found = _findings(tmp_path, {
        "fleet/projects/alpha-x/project.yaml": project,
        "fleet/projects/alpha-x/tenants/y.yaml": tenant % "y",
        "fleet/projects/alpha/tenants/x-y.yaml": tenant % "x-y",
    })
    assert found == [
        ("fleet/projects/alpha/tenants/x-y.yaml", 3, "metadata.name", "name.collision",
         "tenant 'alpha/x-y' and tenant 'alpha-x/y' both map to namespace 'vc-alpha-x-y'; rename one"),
    ]


def test_layout_rules(tmp_path: Path) -> None:
    stray = "fleet/tenants/lost.yaml"
    text = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: lost}
        spec: {owner: alice}
        """
    wrong_project = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Tenant
        metadata: {name: dev}
        spec: {owner: alice, project: beta}
        """
    assert _findings(tmp_path, {stray: text, TENANT: wrong_project}) == [
        (TENANT, 4, "spec.project", "layout.project",
         "spec.project 'beta' does not match the folder's project 'alpha'"),
        (stray, 2, "kind", "layout.tenant", "a Tenant must live in fleet/projects/<project>/tenants/"),
    ]


def test_unknown_kind_and_api_version(tmp_path: Path) -> None:
    path = "fleet/clusters/more.yaml"
    text = "apiVersion: v1\nkind: Cluster\n---\napiVersion: vfleet.dev/v1alpha1\nkind: Clustr\n"
    assert _findings(tmp_path, {path: text}) == [
        (path, 1, "apiVersion", "schema.apiVersion", "apiVersion must be 'vfleet.dev/v1alpha1', got 'v1'"),
        (path, 5, "kind", "schema.kind",
         "unknown kind 'Clustr'; expected one of: Cluster, Project, Template, Tenant, NodeProvider, Team, Platform"),
    ]


def test_all_problems_of_all_files_reported_at_once(tmp_path: Path) -> None:
    found = _findings(tmp_path, {
        "fleet/clusters/us-1.yaml": "a: [\n",
        TENANT: "apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\nmetadata: {name: dev}\nspec: {owner: a, x: 1}\n",
        "fleet/teams/platform.yaml": "apiVersion: vfleet.dev/v1alpha1\nkind: Team\nmetadata: {name: Bad_Name}\n",
    })
    assert {(f[0], f[3]) for f in found} == {
        ("fleet/clusters/us-1.yaml", "yaml.syntax"),
        (TENANT, "schema.unknown-field"),
        ("fleet/teams/platform.yaml", "schema.invalid"),
        ("fleet/teams/platform.yaml", "schema.missing"),
        ("fleet/projects/alpha/project.yaml", "ref.team"),  # the team is gone, so the project's reference breaks
        ("fleet/projects/alpha/project.yaml", "ref.cluster"),  # and so is cluster us-1
    }


def test_one_platform_document_with_known_teams(tmp_path: Path) -> None:
    second = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Platform
        metadata: {name: more}
        spec:
          members:
            - {team: nosuch, role: admin}
        """
    fleet = load_model(write_fleet(tmp_path, {"fleet/zz-more.yaml": second}))
    assert fleet.platform is not None and fleet.platform.name == "platform"  # the first one, by file
    assert [(f.code, f.location.file if f.location else None) for f in fleet.findings] == [
        ("platform.duplicate", "fleet/zz-more.yaml")]
    fleet = load_model(write_fleet(tmp_path / "b", {"fleet/platform.yaml": second}))
    assert [(f.code, f.location.line if f.location else None) for f in fleet.findings] == [("ref.team", 6)]


def test_access_specs_cannot_ask_for_more_than_they_may(tmp_path: Path) -> None:
    """A host view is all a project can ask for; platform roles are admin, operator or viewer."""
    broken = {
        "fleet/platform.yaml": """
            apiVersion: vfleet.dev/v1alpha1
            kind: Platform
            metadata: {name: platform}
            spec:
              members:
                - {group: g, role: owner}
                - {group: g, user: u, role: admin}
            """,
        "fleet/projects/alpha/project.yaml": """
            apiVersion: vfleet.dev/v1alpha1
            kind: Project
            metadata: {name: alpha}
            spec:
              members: [{user: alice, role: admin}]
              templates: [{name: shared, versions: ["1.x"]}]
              hostAccess: {view: [admin], edit: [admin]}
            """,
    }
    fleet = load_model(write_fleet(tmp_path, broken))
    found = {(f.location.file, f.location.field) for f in fleet.findings if f.location}
    assert ("fleet/projects/alpha/project.yaml", "spec.hostAccess.edit") in found
    assert ("fleet/platform.yaml", "spec.members[0].role") in found
    assert any(f.location and f.location.file == "fleet/platform.yaml" and "exactly one" in f.message
               for f in fleet.findings)
