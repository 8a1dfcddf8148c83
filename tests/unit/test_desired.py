"""desired: resources per connected cluster — ids, order, dependencies, shapes, determinism."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from vfleet import desired, load, model, place
from vfleet.core.units import parse_quantity
from vfleet.desired import DesiredState, access
from vfleet.model import Fleet, Item
from vfleet.params import ResolvedParams, Resources, TenantParams
from vfleet.repo.tree import open_tree

API = "vfleet.dev/v1alpha1"


@dataclasses.dataclass(frozen=True)
class Rendered:
    """The shape of render.RenderedTenant that desired relies on."""

    key: str
    values: dict[str, Any]
    yaml: str
    hash: str


class Repo:
    """A fixture fleet written into a temporary directory, one spec per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.write("templates/basic/template.yaml", {
            "kind": "Template", "metadata": {"name": "basic"},
            "spec": {"versions": [{"version": "1.0.0", "chartVersion": "0.35.3", "values": "vcluster.yaml"}]},
        })

    def write(self, path: str, doc: dict[str, Any]) -> None:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(yaml.safe_dump({"apiVersion": API, **doc}, sort_keys=False))

    def cluster(self, name: str, **spec: Any) -> None:
        self.write(f"fleet/clusters/{name}.yaml",
                   {"kind": "Cluster", "metadata": {"name": name}, "spec": {"kubeconfig": {"context": name}, **spec}})

    def project(self, name: str, **spec: Any) -> None:
        defaults = {"templates": [{"name": "basic"}], "defaultTemplate": {"name": "basic", "version": "1.x"}}
        self.write(f"fleet/projects/{name}/project.yaml",
                   {"kind": "Project", "metadata": {"name": name}, "spec": {**defaults, **spec}})

    def tenant(self, key: str, **spec: Any) -> None:
        project, name = key.split("/")
        self.write(f"fleet/projects/{project}/tenants/{name}.yaml",
                   {"kind": "Tenant", "metadata": {"name": name}, "spec": {"owner": "alice", **spec}})

    def team(self, name: str, members: list[str], groups: list[str]) -> None:
        self.write(f"fleet/teams/{name}.yaml",
                   {"kind": "Team", "metadata": {"name": name}, "spec": {"members": members, "groups": groups}})

    def provider(self) -> None:
        self.write("fleet/nodes/metal.yaml", {"kind": "NodeProvider", "metadata": {"name": "metal"}, "spec": {
            "nodeTypes": [{"name": "gpu-node", "resources": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "1"}}],
        }})

    def fleet(self) -> Fleet:
        fleet = model.build(load.load(open_tree(self.root)))
        assert fleet.findings == ()
        return fleet


SIZE = Resources(cpu=parse_quantity("2"), memory=parse_quantity("4Gi"))


def compile_states(fleet: Fleet, sizes: dict[str, Resources] | None = None,
                   skip_render: tuple[str, ...] = ()) -> dict[str, DesiredState]:
    sizes = sizes or {}
    params = ResolvedParams({k: TenantParams(k, {}, sizes.get(k, SIZE)) for k in fleet.tenants})
    placement = place.place(fleet, params, place.Lock())
    assert placement.findings == ()
    rendered = {k: Rendered(k, {"sync": {"toHost": {"pods": {"enabled": True}}}, "x": k}, "", f"hash-{k}")
                for k in fleet.tenants if k not in skip_render}
    return desired.build(fleet, params, placement, rendered)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.cluster("c1")
    r.project("p")
    return r


def kinds(state: DesiredState) -> list[tuple[str, str]]:
    return [(r.kind, r.name) for r in state.resources]


# ------------------------------------------------------------------------------- ids, order, deps


def test_one_tenant_ids_order_and_dependencies(repo: Repo) -> None:
    repo.tenant("p/t1")
    state = compile_states(repo.fleet())["c1"]
    assert kinds(state) == [
        ("Namespace", "vc-p-t1"),
        ("ResourceQuota", "vfleet-quota"),
        ("LimitRange", "vfleet-limits"),
        ("NetworkPolicy", "vfleet-isolate"),
        ("NetworkPolicy", "vfleet-control-plane"),
        ("HelmRelease", "t1"),
    ]
    ids = [r.id for r in state.resources]
    ns = "c1/v1/Namespace/_/vc-p-t1"
    assert ids == [
        ns,
        "c1/v1/ResourceQuota/vc-p-t1/vfleet-quota",
        "c1/v1/LimitRange/vc-p-t1/vfleet-limits",
        "c1/networking.k8s.io/v1/NetworkPolicy/vc-p-t1/vfleet-isolate",
        "c1/networking.k8s.io/v1/NetworkPolicy/vc-p-t1/vfleet-control-plane",
        "c1/vfleet.dev/v1alpha1/HelmRelease/vc-p-t1/t1",
    ]
    by_id = state.by_id
    assert by_id[ns].depends_on == () and by_id[ns].namespace is None
    for rid in ids[1:5]:
        assert by_id[rid].depends_on == (ns,)
        assert by_id[rid].namespace == "vc-p-t1"
    assert by_id[ids[-1]].depends_on == tuple(ids[:-1])
    assert all(r.tenant == "p/t1" and r.protect is False for r in state.resources)


def test_every_dependency_precedes_its_dependent_and_ids_are_unique(repo: Repo) -> None:
    repo.provider()
    repo.cluster("c1", nodeProviders=["metal"])
    repo.team("devs", ["bob"], ["oidc:devs"])
    repo.project("p", members=[{"team": "devs", "role": "user"}, {"user": "alice", "role": "admin"}])
    for name in ("b", "a", "c"):
        repo.tenant(f"p/{name}", privateNodes=[
            {"name": "pool", "provider": "metal", "nodeType": "gpu-node", "quantity": 2}])
    state = compile_states(repo.fleet())["c1"]
    seen: set[str] = set()
    for resource in state.resources:
        assert resource.id not in seen
        assert set(resource.depends_on) <= seen, resource.id
        seen.add(resource.id)
    tenants = [r.tenant for r in state.resources if r.kind == "Namespace"]
    assert tenants == ["p/a", "p/b", "p/c"]


def test_protect_marks_every_resource_of_the_tenant_and_the_crd(repo: Repo) -> None:
    repo.provider()
    repo.cluster("c1", nodeProviders=["metal"])
    repo.tenant("p/keep", protect=True,
                privateNodes=[{"name": "pool", "provider": "metal", "nodeType": "gpu-node", "quantity": 1}])
    repo.tenant("p/scratch")
    state = compile_states(repo.fleet())["c1"]
    assert state.resources[0].kind == "CustomResourceDefinition" and state.resources[0].protect is True
    assert {r.protect for r in state.resources if r.tenant == "p/keep"} == {True}
    assert {r.protect for r in state.resources if r.tenant == "p/scratch"} == {False}


def test_crd_is_not_protected_when_only_unprotected_tenants_claim_nodes(repo: Repo) -> None:
    repo.provider()
    repo.cluster("c1", nodeProviders=["metal"])
    repo.tenant("p/keep", protect=True)
    repo.tenant("p/nodes", privateNodes=[{"name": "pool", "provider": "metal", "nodeType": "gpu-node",
                                          "quantity": 1}])
    state = compile_states(repo.fleet())["c1"]
    assert state.resources[0].kind == "CustomResourceDefinition" and state.resources[0].protect is False


# --------------------------------------------------------------------------------------- determinism


def populate(r: Repo, reverse: bool) -> None:
    r.cluster("c1")
    r.cluster("c2", capacity={"maxTenants": 2})
    r.team("devs", ["bob", "carol"], ["oidc:devs"])
    r.project("p", members=[{"team": "devs", "role": "user"}, {"user": "alice", "role": "admin"}])
    names = ["t1", "t2", "t3", "t4"]
    for name in reversed(names) if reverse else names:
        r.tenant(f"p/{name}", cluster="c2" if name == "t3" else None)


def test_same_tree_gives_byte_identical_output(tmp_path: Path) -> None:
    first, second = Repo(tmp_path / "one"), Repo(tmp_path / "two")
    populate(first, reverse=False)
    populate(second, reverse=True)  # same content written in another order
    a, b = compile_states(first.fleet()), compile_states(second.fleet())
    c = compile_states(first.fleet())
    assert list(a) == ["c1", "c2"]
    for cluster in a:
        assert a[cluster].to_json() == b[cluster].to_json() == c[cluster].to_json()
        assert a[cluster].hash == b[cluster].hash
    assert a["c1"].to_json() != a["c2"].to_json()


def test_a_change_changes_only_its_clusters_hash(tmp_path: Path) -> None:
    r = Repo(tmp_path / "r")
    populate(r, reverse=False)
    before = compile_states(r.fleet())
    r.tenant("p/t3", cluster="c2", protect=True)
    after = compile_states(r.fleet())
    assert after["c2"].hash != before["c2"].hash
    assert after["c1"].hash == before["c1"].hash


def test_json_round_trip(repo: Repo) -> None:
    repo.tenant("p/t1")
    state = compile_states(repo.fleet())["c1"]
    again = DesiredState.from_json(state.to_json())
    assert again == state
    assert again.to_json() == state.to_json() and again.hash == state.hash
    assert state.hash == __import__("hashlib").sha256(state.to_json()).hexdigest()


# ------------------------------------------------------------------------------------- the objects


def test_labels_and_source_annotation_on_every_object(repo: Repo) -> None:
    repo.project("p", defaults={"podSecurity": "restricted"})
    repo.tenant("p/t1")
    state = compile_states(repo.fleet())["c1"]
    for r in state.resources:
        meta = r.body["metadata"]
        assert (r.body["apiVersion"], r.body["kind"], meta["name"]) == (r.api_version, r.kind, r.name)
        assert meta.get("namespace") == r.namespace
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "vfleet"
        assert meta["labels"]["vfleet.dev/project"] == "p"
        assert meta["labels"]["vfleet.dev/tenant"] == "t1"
        assert meta["annotations"] == {"vfleet.dev/source": "fleet/projects/p/tenants/t1.yaml:1"}
    ns_labels = state.resources[0].body["metadata"]["labels"]
    assert ns_labels["vfleet.dev/template"] == "basic"
    assert ns_labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns_labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_long_names_get_a_shortened_namespace_everywhere(repo: Repo) -> None:
    project = "platform-engineering-europe-west"
    tenant = "continuous-integration-runners-large-pool"
    repo.project(project)
    repo.tenant(f"{project}/{tenant}")
    fleet = repo.fleet()
    namespace = fleet.tenants[f"{project}/{tenant}"].namespace
    assert len(namespace) <= 63 and namespace.startswith(f"vc-{project}-cont")
    assert namespace != f"vc-{project}-{tenant}"
    state = compile_states(fleet)["c1"]
    assert state.resources[0].name == namespace
    assert {r.namespace for r in state.resources[1:]} == {namespace}
    assert all(r.id.split("/")[-2] == namespace for r in state.resources[1:])
    release = state.resources[-1]
    assert release.name == tenant and release.body["spec"]["namespace"] == namespace


def test_quota_and_limit_range_follow_the_size_and_never_exceed_it(repo: Repo) -> None:
    for name in ("big", "tiny", "unsized"):
        repo.tenant(f"p/{name}")
    q = parse_quantity
    states = compile_states(repo.fleet(), {
        "p/big": Resources(cpu=q("4"), memory=q("8Gi"), storage=q("20Gi"), gpus=1),
        "p/tiny": Resources(cpu=q("50m"), memory=q("64Mi")),
        "p/unsized": Resources(),
    })["c1"]

    def spec(tenant: str, kind: str) -> dict[str, Any]:
        (r,) = [r for r in states.resources if r.tenant == tenant and r.kind == kind]
        return r.body["spec"]  # type: ignore[no-any-return]

    assert spec("p/big", "ResourceQuota")["hard"] == {
        "requests.cpu": "4", "requests.memory": "8Gi", "requests.storage": "20Gi",
        "requests.nvidia.com/gpu": "1", "pods": "80",
    }
    assert spec("p/big", "LimitRange")["limits"] == [{
        "type": "Container", "default": {"cpu": "1", "memory": "1Gi"},
        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
    }]
    assert spec("p/tiny", "ResourceQuota")["hard"] == {
        "requests.cpu": "50m", "requests.memory": "64Mi", "requests.nvidia.com/gpu": "0", "pods": "20",
    }
    assert spec("p/tiny", "LimitRange")["limits"] == [{
        "type": "Container", "default": {"cpu": "50m", "memory": "64Mi"},
        "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
    }]
    assert spec("p/unsized", "ResourceQuota")["hard"] == {"requests.nvidia.com/gpu": "0", "pods": "200"}


def test_network_policies_isolate_the_namespace(repo: Repo) -> None:
    repo.tenant("p/t1")
    state = compile_states(repo.fleet())["c1"]
    isolate, control_plane = (r.body["spec"] for r in state.resources if r.kind == "NetworkPolicy")
    assert isolate["podSelector"] == {} and isolate["policyTypes"] == ["Ingress", "Egress"]
    assert isolate["ingress"] == [{"from": [{"podSelector": {}}]}]  # same namespace only
    dns = isolate["egress"][1]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert control_plane["podSelector"] == {"matchLabels": {"app": "vcluster", "release": "t1"}}


def test_project_members_get_nothing_on_the_host_by_default(repo: Repo) -> None:
    """Tenants never touch the connected cluster: no Role or binding for any project role."""
    repo.team("devs", ["carol"], ["oidc:devs"])
    repo.project("p", members=[{"user": "alice", "role": "admin"}, {"team": "devs", "role": "user"},
                               {"group": "oidc:auditors", "role": "viewer"}])
    repo.tenant("p/t1")
    state = compile_states(repo.fleet())["c1"]
    assert [r for r in state.resources if "Role" in r.kind] == []


def test_host_view_binds_only_the_roles_a_project_asks_for(repo: Repo) -> None:
    repo.team("devs", ["carol", "bob"], ["oidc:devs"])
    repo.project("p", hostAccess={"view": ["admin", "user"]}, members=[
        {"user": "alice", "role": "admin"},
        {"team": "devs", "role": "user"},
        {"user": "bob", "role": "user"},  # also in devs: listed once
        {"group": "oidc:auditors", "role": "viewer"},  # viewers are not in hostAccess.view
    ])
    repo.tenant("p/t1")
    state = compile_states(repo.fleet())["c1"]
    rbac = [r for r in state.resources if r.kind in {"Role", "RoleBinding"}]
    assert [(r.kind, r.name) for r in rbac] == [("Role", "vfleet-host-view"), ("RoleBinding", "vfleet-host-view")]
    role, binding = rbac
    group = "rbac.authorization.k8s.io"
    assert binding.body["subjects"] == [
        {"kind": "Group", "apiGroup": group, "name": "oidc:devs"},
        {"kind": "User", "apiGroup": group, "name": "alice"},
        {"kind": "User", "apiGroup": group, "name": "bob"},
        {"kind": "User", "apiGroup": group, "name": "carol"},
    ]
    assert binding.body["roleRef"] == {"apiGroup": group, "kind": "Role", "name": "vfleet-host-view"}
    assert role.id in binding.depends_on and {r.id for r in rbac} <= set(state.resources[-1].depends_on)


def test_host_view_is_read_only_without_secrets_exec_or_the_control_plane(repo: Repo) -> None:
    repo.project("p", hostAccess={"view": ["viewer"]}, members=[{"user": "v", "role": "viewer"}])
    repo.tenant("p/t1")
    rules = next(r for r in compile_states(repo.fleet())["c1"].resources if r.kind == "Role").body["rules"]
    assert access.allows(rules, "", "pods", "list") and access.allows(rules, "", "events", "watch")
    for group, resource in (("", "secrets"), ("", "pods/exec"), ("", "pods/attach"), ("", "pods/portforward"),
                            ("", "pods/proxy"), ("", "services/proxy"), ("", "pods/log"), ("apps", "statefulsets"),
                            ("", "serviceaccounts"), ("", "configmaps"), ("rbac.authorization.k8s.io", "roles")):
        for verb in ("get", "list", "create", "patch"):
            assert not access.allows(rules, group, resource, verb), (group, resource, verb)
    verbs = {v for rule in rules for v in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}


def test_platform_roles_on_every_cluster_or_where_selected(repo: Repo) -> None:
    repo.write("fleet/clusters/prod.yaml", {"kind": "Cluster", "metadata": {"name": "prod", "labels": {"env": "prod"}},
                                            "spec": {"kubeconfig": {"context": "prod"}}})
    repo.team("platform", ["maria"], ["eng-platform"])
    repo.write("fleet/platform.yaml", {"kind": "Platform", "metadata": {"name": "platform"}, "spec": {"members": [
        {"group": "admins", "role": "admin"},
        {"team": "platform", "role": "operator", "clusters": {"matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["prod"]}]}},
        {"user": "auditor", "role": "viewer"},
    ]}})
    repo.tenant("p/t1", cluster="c1")
    states = compile_states(repo.fleet())
    group = "rbac.authorization.k8s.io"
    for cluster, roles in (("c1", ["admin", "operator", "viewer"]), ("prod", ["admin", "viewer"])):
        state = states[cluster]
        platform = [r for r in state.resources if r.kind.startswith("ClusterRole")]
        assert [(r.kind, r.name) for r in platform] == [
            (kind, f"vfleet-platform-{role}") for role in roles for kind in ("ClusterRole", "ClusterRoleBinding")
        ]
        assert state.resources[: len(platform)] == tuple(platform)  # cluster-wide, before every tenant
        assert all(r.tenant is None and r.namespace is None for r in platform)
        assert platform[0].id == f"{cluster}/{group}/v1/ClusterRole/_/vfleet-platform-admin"
        assert platform[1].depends_on == (platform[0].id,)
    bindings = {r.name: r.body["subjects"] for r in states["c1"].resources if r.kind == "ClusterRoleBinding"}
    assert bindings["vfleet-platform-operator"] == [
        {"kind": "Group", "apiGroup": group, "name": "eng-platform"},
        {"kind": "User", "apiGroup": group, "name": "maria"},
    ]
    rules = {r.name: r.body["rules"] for r in states["c1"].resources if r.kind == "ClusterRole"}
    admin, operator, viewer = (rules[f"vfleet-platform-{x}"] for x in ("admin", "operator", "viewer"))
    assert access.allows(admin, "", "secrets", "get") and access.allows(admin, "", "pods/exec", "create")
    assert access.allows(operator, "apps", "statefulsets/scale", "patch")
    assert access.allows(operator, "", "pods", "delete")
    assert access.allows(operator, "", "pods/log", "get") and not access.allows(viewer, "", "pods/log", "get")
    for role in (operator, viewer):
        assert not access.allows(role, "", "secrets", "get") and not access.allows(role, "", "pods/exec", "create")
        assert not access.allows(role, group, "clusterrolebindings", "create")
    assert not access.allows(viewer, "apps", "statefulsets", "patch")


def test_no_platform_document_no_platform_roles(repo: Repo) -> None:
    repo.tenant("p/t1")
    assert not [r for r in compile_states(repo.fleet())["c1"].resources if r.kind.startswith("ClusterRole")]


def test_helm_release_chart_source_and_values(repo: Repo) -> None:
    repo.cluster("mirror", chart={"repository": "oci://registry.example/charts"})
    repo.cluster("airgap", chart={"path": "tests/charts/vcluster"})
    repo.tenant("p/a", cluster="c1")
    repo.tenant("p/b", cluster="mirror")
    repo.tenant("p/c", cluster="airgap")
    states = compile_states(repo.fleet())
    releases = {c: s.resources[-1] for c, s in states.items()}
    assert {r.kind for r in releases.values()} == {"HelmRelease"}
    assert releases["c1"].body["spec"] == {
        "chart": "vcluster",
        "repository": "https://charts.loft.sh",
        "version": "0.35.3",
        "namespace": "vc-p-a",
        "releaseName": "a",
        "values": {"sync": {"toHost": {"pods": {"enabled": True}}}, "x": "p/a"},
        "valuesHash": "hash-p/a",
    }
    assert releases["mirror"].body["spec"]["repository"] == "oci://registry.example/charts"
    assert "path" not in releases["mirror"].body["spec"]
    assert releases["airgap"].body["spec"]["path"] == "tests/charts/vcluster"
    assert "repository" not in releases["airgap"].body["spec"]


# --------------------------------------------------------------------------------------- node claims


def test_node_claims_and_the_crd_only_where_needed(repo: Repo) -> None:
    repo.provider()
    repo.cluster("c1", nodeProviders=["metal"])
    repo.cluster("c2")
    repo.cluster("empty")
    repo.tenant("p/gpu", cluster="c1", owner="dana", privateNodes=[{
        "name": "train", "provider": "metal", "nodeType": "gpu-node", "quantity": 2,
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
                   {"key": "dedicated", "effect": "NoExecute"}],
    }])
    repo.tenant("p/plain", cluster="c2")
    states = compile_states(repo.fleet())
    assert sorted(states) == ["c1", "c2", "empty"]
    assert states["empty"].resources == ()
    assert "CustomResourceDefinition" not in {r.kind for r in states["c2"].resources}
    c1 = states["c1"]
    crd = c1.resources[0]
    assert crd.id == "c1/apiextensions.k8s.io/v1/CustomResourceDefinition/_/nodeclaims.vfleet.dev"
    assert crd.tenant is None and crd.namespace is None
    claims = [r for r in c1.resources if r.kind == "NodeClaim"]
    assert [r.name for r in claims] == ["train-0", "train-1"]
    assert [r.kind for r in c1.resources[-2:]] == ["NodeClaim", "NodeClaim"]
    assert c1.resources[-3].kind == "HelmRelease"
    claim = claims[0]
    assert claim.id == "c1/vfleet.dev/v1alpha1/NodeClaim/vc-p-gpu/train-0"
    assert claim.depends_on == (crd.id, "c1/v1/Namespace/_/vc-p-gpu")
    assert claim.body["metadata"]["labels"]["vfleet.dev/pool"] == "train"
    assert claim.body["spec"] == {
        "providerRef": "metal",
        "typeRef": "gpu-node",
        "vClusterRef": {"name": "gpu", "project": "p"},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
                   {"key": "dedicated", "effect": "NoExecute"}],
        "desiredCapacity": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "1"},
        "owner": {"user": "dana"},
    }


def test_node_claims_validate_against_the_crd_schema(repo: Repo) -> None:
    repo.provider()
    repo.cluster("c1", nodeProviders=["metal"])
    repo.tenant("p/gpu", privateNodes=[{"name": "train", "provider": "metal", "nodeType": "gpu-node",
                                        "quantity": 1, "taints": [{"key": "k", "effect": "NoSchedule"}]}])
    state = compile_states(repo.fleet())["c1"]
    crd = state.resources[0].body
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = jsonschema_rs.validator_for(schema)
    (claim,) = [r for r in state.resources if r.kind == "NodeClaim"]
    validator.validate(claim.body)
    broken = {**claim.body, "spec": {**claim.body["spec"], "desiredCapacity": {"cpu": "sixteen"}}}
    assert not validator.is_valid(broken)
    broken = {**claim.body, "spec": {k: v for k, v in claim.body["spec"].items() if k != "vClusterRef"}}
    assert not validator.is_valid(broken)


def structural_problems(node: Any, path: str = "") -> list[str]:
    """The rules of a Kubernetes structural schema this CRD relies on (apiextensions validation)."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return [f"{path}: not a schema object"]
    if "type" not in node and not node.get("x-kubernetes-int-or-string") \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    if node.get("x-kubernetes-int-or-string") and (
        node.get("anyOf") != [{"type": "integer"}, {"type": "string"}] or "type" in node
    ):
        problems.append(f"{path}: int-or-string must be anyOf integer/string without a type")
    if "properties" in node and node.get("type") != "object":
        problems.append(f"{path}: properties on a non-object")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    for name, child in node.get("properties", {}).items():
        problems += structural_problems(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        problems += structural_problems(node["additionalProperties"], f"{path}[*]")
    if "items" in node:
        problems += structural_problems(node["items"], f"{path}[]")
    return problems


def test_crd_is_a_valid_structural_apiextensions_v1_crd() -> None:
    crd = desired.node_claim_crd()
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
    assert spec["scope"] == "Namespaced" and spec["names"]["kind"] == "NodeClaim"
    versions = spec["versions"]
    assert [v["name"] for v in versions if v["storage"]] == ["v1alpha1"]
    schema = versions[0]["schema"]["openAPIV3Schema"]
    assert schema["type"] == "object"
    assert structural_problems(schema) == []
    assert desired.node_claim_crd() is not desired.node_claim_crd()  # fresh each time: bodies may be shared


def test_tenants_without_render_output_are_left_out(repo: Repo) -> None:
    repo.tenant("p/ok")
    repo.tenant("p/broken")
    state = compile_states(repo.fleet(), skip_render=("p/broken",))["c1"]
    assert {r.tenant for r in state.resources} == {"p/ok"}


# -------------------------------------------------------------------------------------------- scale
# The time of this build at 1,000 to 100,000 tenants is bench/compile_bench.py's ("desired" column).


def test_ten_thousand_tenants_on_a_hundred_clusters(repo: Repo) -> None:
    repo.team("devs", ["bob", "carol"], ["oidc:devs"])
    repo.project("p", members=[{"team": "devs", "role": "user"}, {"user": "alice", "role": "admin"}],
                 hostAccess={"view": ["user"]})  # namespace, 2 guardrails, 2 policies, host view + binding, release
    repo.tenant("p/seed")
    fleet = repo.fleet()
    seed_cluster, seed = fleet.clusters["c1"], fleet.tenants["p/seed"]
    clusters: dict[str, Item[Any]] = {}
    for i in range(100):
        meta = seed_cluster.manifest.metadata.model_copy(update={"name": f"c{i:03d}"})
        clusters[f"c{i:03d}"] = Item(seed_cluster.manifest.model_copy(update={"metadata": meta}), seed_cluster.doc)
    tenants = {}
    for i in range(10_000):
        name = f"t{i:05d}"
        tenants[f"p/{name}"] = dataclasses.replace(seed, key=f"p/{name}", name=name, namespace=f"vc-p-{name}")
    fleet = dataclasses.replace(fleet, clusters=clusters, tenants=tenants)
    params = ResolvedParams({k: TenantParams(k, {}, SIZE) for k in tenants})
    placement = place.place(fleet, params, place.Lock())
    values = {"controlPlane": {"statefulSet": {"resources": {"limits": {"memory": "2Gi"}}}},
              "sync": {"toHost": {"pods": {"enabled": True}}}}
    rendered = {k: Rendered(k, values, "", "0" * 64) for k in tenants}
    states = desired.build(fleet, params, placement, rendered)
    total = sum(len(s.resources) for s in states.values())
    assert total == 8 * 10_000 and len({s.hash for s in states.values()}) == 100
