"""place: explicit, sticky and chosen placement; capacity; the lock file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vfleet import load, model, place
from vfleet.core.findings import Severity
from vfleet.core.units import parse_quantity
from vfleet.model import Fleet, Item
from vfleet.params import ResolvedParams, Resources, TenantParams
from vfleet.place import lock as placelock
from vfleet.repo.tree import open_tree

API = "vfleet.dev/v1alpha1"


class Repo:
    """A fixture fleet written into a temporary directory, one spec per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.write("templates/basic/template.yaml", {
            "kind": "Template", "metadata": {"name": "basic"},
            "spec": {"versions": [{"version": "1.0.0", "chartVersion": "0.35.3", "values": "vcluster.yaml"}]},
        })
        self.project("p")

    def write(self, path: str, doc: dict[str, Any]) -> None:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(yaml.safe_dump({"apiVersion": API, **doc}, sort_keys=False))

    def cluster(self, name: str, labels: dict[str, str] | None = None, providers: tuple[str, ...] = (),
                **capacity: Any) -> None:
        spec: dict[str, Any] = {"kubeconfig": {"context": name}, "capacity": capacity}
        if providers:
            spec["nodeProviders"] = list(providers)
        self.write(f"fleet/clusters/{name}.yaml",
                   {"kind": "Cluster", "metadata": {"name": name, "labels": labels or {}}, "spec": spec})

    def project(self, name: str, **spec: Any) -> None:
        defaults = {"templates": [{"name": "basic"}], "defaultTemplate": {"name": "basic", "version": "1.x"}}
        self.write(f"fleet/projects/{name}/project.yaml",
                   {"kind": "Project", "metadata": {"name": name}, "spec": {**defaults, **spec}})

    def tenant(self, key: str, **spec: Any) -> None:
        project, name = key.split("/")
        self.write(f"fleet/projects/{project}/tenants/{name}.yaml",
                   {"kind": "Tenant", "metadata": {"name": name}, "spec": {"owner": "alice", **spec}})

    def fleet(self) -> Fleet:
        fleet = model.build(load.load(open_tree(self.root)))
        assert fleet.findings == ()
        return fleet

    def lock(self) -> place.Lock:
        return place.read_lock(open_tree(self.root))


def sized(fleet: Fleet, cpu: str | None = None, memory: str | None = None,
          sizes: dict[str, Resources] | None = None) -> ResolvedParams:
    """Every tenant the same size, except those in `sizes`."""
    default = Resources(cpu=parse_quantity(cpu) if cpu else None,
                        memory=parse_quantity(memory) if memory else None)
    sizes = sizes or {}
    return ResolvedParams({key: TenantParams(key, {}, sizes.get(key, default)) for key in fleet.tenants})


def res(cpu: str, memory: str = "1Gi") -> Resources:
    return Resources(cpu=parse_quantity(cpu), memory=parse_quantity(memory))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


# ------------------------------------------------------------------------------------------- rules


def test_explicit_cluster_wins_even_when_full_or_not_allowed(repo: Repo) -> None:
    repo.project("p", clusters={"names": ["big"]})
    repo.cluster("big", cpu="100")
    repo.cluster("tiny", cpu="1", maxTenants=0)
    repo.tenant("p/a", cluster="tiny")
    repo.tenant("p/b")
    fleet = repo.fleet()
    placement = place.place(fleet, sized(fleet, cpu="4"), place.Lock())
    assert placement.clusters == {"p/a": "tiny", "p/b": "big"}
    assert placement.placed_by == {"p/a": "explicit", "p/b": "chosen"}
    assert placement.findings == ()  # a disallowed explicit cluster is for policy to deny


def test_selector_and_allowed_clusters_limit_the_candidates(repo: Repo) -> None:
    repo.project("p", clusters={"names": ["eu-1"], "selector": {"matchLabels": {"env": "prod"}}})
    repo.cluster("eu-1", {"region": "eu", "env": "dev"})
    repo.cluster("eu-2", {"region": "eu", "env": "prod"})
    repo.cluster("us-1", {"region": "us", "env": "prod"})
    repo.cluster("us-dev", {"region": "us", "env": "dev"})  # neither named nor matched: never used
    for i in range(6):
        repo.tenant(f"p/eu{i}", placement={"matchLabels": {"region": "eu"}})
        repo.tenant(f"p/any{i}")
    fleet = repo.fleet()
    assert place.allowed_clusters(fleet, "p") == ("eu-1", "eu-2", "us-1")
    placement = place.place(fleet, sized(fleet), place.Lock())
    assert {placement.clusters[f"p/eu{i}"] for i in range(6)} == {"eu-1", "eu-2"}
    assert {placement.clusters[f"p/any{i}"] for i in range(6)} == {"eu-1", "eu-2", "us-1"}


def test_match_expressions_select_clusters_as_kubernetes_does(repo: Repo) -> None:
    repo.project("p", clusters={"selector": {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
        {"key": "legacy", "operator": "DoesNotExist"},
    ]}})
    repo.cluster("gold", {"tier": "gold", "region": "eu"})
    repo.cluster("silver", {"tier": "silver", "region": "us"})
    repo.cluster("old", {"tier": "gold", "legacy": "yes"})
    repo.cluster("bronze", {"tier": "bronze"})
    repo.tenant("p/not-us", placement={"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["us"]}]})
    repo.tenant("p/us", placement={"matchLabels": {"region": "us"}, "matchExpressions": [
        {"key": "tier", "operator": "Exists"}]})
    repo.tenant("p/nowhere", placement={"matchExpressions": [{"key": "region", "operator": "In", "values": ["ap"]}]})
    fleet = repo.fleet()
    assert place.allowed_clusters(fleet, "p") == ("gold", "silver")
    placement = place.place(fleet, sized(fleet), place.Lock())
    assert placement.clusters == {"p/not-us": "gold", "p/us": "silver"}
    (why,) = [f.message for f in placement.findings]
    assert "gold: labels do not match placement selector (region in (ap))" in why


def test_a_requirement_needs_values_exactly_when_its_operator_does(repo: Repo) -> None:
    repo.cluster("c1")
    repo.tenant("p/a", placement={"matchExpressions": [{"key": "tier", "operator": "In"}]})
    repo.tenant("p/b", placement={"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["x"]}]})
    fleet = model.build(load.load(open_tree(repo.root)))
    found = sorted((f.location.file, f.location.field, f.message) for f in fleet.findings if f.location)
    assert found == [
        ("fleet/projects/p/tenants/a.yaml", "spec.placement.matchExpressions[0]",
         "operator In needs a non-empty 'values' list"),
        ("fleet/projects/p/tenants/b.yaml", "spec.placement.matchExpressions[0]", "operator Exists takes no 'values'"),
    ]


def test_project_without_cluster_rules_may_use_every_cluster(repo: Repo) -> None:
    repo.cluster("a")
    repo.cluster("b")
    fleet = repo.fleet()
    assert place.allowed_clusters(fleet, "p") == ("a", "b")


def test_chooses_the_cluster_with_most_headroom_relative_to_its_size(repo: Repo) -> None:
    repo.cluster("a", cpu="10")
    repo.cluster("b", cpu="100")
    repo.cluster("c", cpu="20")
    repo.tenant("p/on-a", cluster="a")  # a: 5 of 10 left = 50%
    repo.tenant("p/on-b", cluster="b")  # b: 40 of 100 left = 40% (most cores left, least headroom)
    repo.tenant("p/new")  # c: 100%
    fleet = repo.fleet()
    params = sized(fleet, sizes={"p/on-a": res("5"), "p/on-b": res("60"), "p/new": res("1")})
    assert place.place(fleet, params, place.Lock()).clusters["p/new"] == "c"


def test_headroom_is_the_bottleneck_dimension(repo: Repo) -> None:
    repo.cluster("a", cpu="10", memory="100Gi")
    repo.cluster("b", cpu="100", memory="10Gi")
    repo.tenant("p/x")
    repo.tenant("p/y")
    repo.tenant("p/z")
    fleet = repo.fleet()
    params = sized(fleet, sizes={"p/x": res("1", "1Gi"), "p/y": res("100m", "5Gi"), "p/z": res("1", "1Gi")})
    # a: cpu 90% left, memory 99%; b: cpu 99.9% left but memory 50%: the new tenant goes to a
    placement = place.place(fleet, params, place.Lock({"p/x": "a", "p/y": "b"}))
    assert placement.clusters["p/z"] == "a"


def test_unbounded_clusters_spread_by_tenant_count(repo: Repo) -> None:
    repo.cluster("a")
    repo.cluster("b")
    for i in range(4):
        repo.tenant(f"p/t{i}")
    fleet = repo.fleet()
    clusters = place.place(fleet, sized(fleet), place.Lock()).clusters
    assert sorted(clusters.values()) == ["a", "a", "b", "b"]


def test_capacity_exhaustion_groups_the_candidates_by_reason(repo: Repo) -> None:
    repo.project("p", clusters={"names": ["small", "full", "gpu-less", "other-region"]})
    repo.cluster("small", {"region": "eu"}, cpu="2")
    repo.cluster("full", {"region": "eu"}, maxTenants=1)
    repo.cluster("gpu-less", {"region": "eu"}, gpus=0)
    repo.cluster("other-region", {"region": "us"})
    repo.cluster("not-allowed", {"region": "eu"})
    repo.tenant("p/a-first", cluster="full")
    repo.tenant("p/b-big", placement={"matchLabels": {"region": "eu"}})
    fleet = repo.fleet()
    params = sized(fleet, sizes={"p/b-big": Resources(cpu=parse_quantity("4"), gpus=1)})
    placement = place.place(fleet, params, place.Lock())
    assert "p/b-big" not in placement.clusters
    (finding,) = placement.findings
    assert finding.severity is Severity.ERROR and finding.code == "place.no-cluster"
    assert finding.subject == "tenant:p/b-big"
    assert finding.location is not None and finding.location.file == "fleet/projects/p/tenants/b-big.yaml"
    assert finding.location.line == 7  # the `placement:` line of the tenant file
    assert finding.message == (
        "no cluster can take tenant p/b-big: none of its 4 candidate clusters fits (nearest to fitting first; "
        "all 4 reasons: --output json): 1 full (maxTenants): full (maxTenants 1 reached); "
        "1 short of cpu: small (cpu: needs 4, 2 of 2 left); 1 short of gpus: gpu-less (gpus: needs 1, 0 of 0 left); "
        "1 does not match the placement selector (region=eu): other-region; "
        "1 other cluster is not allowed by project 'p' (spec.clusters). Add capacity or a cluster, widen the "
        "placement selector or the project's allowed clusters, or set spec.cluster")
    assert finding.to_json()["details"] == {"notAllowed": 1, "candidates": [  # every candidate, in fleet order
        {"cluster": "full", "kind": "maxTenants", "reason": "maxTenants 1 reached"},
        {"cluster": "gpu-less", "kind": "capacity", "reason": "gpus: needs 1, 0 of 0 left", "resources": ["gpus"]},
        {"cluster": "other-region", "kind": "selector",
         "reason": "labels do not match placement selector (region=eu)"},
        {"cluster": "small", "kind": "capacity", "reason": "cpu: needs 4, 2 of 2 left", "resources": ["cpu"]},
    ]}


def test_three_candidates_or_fewer_are_listed_one_by_one(repo: Repo) -> None:
    repo.cluster("small", cpu="2", memory="1Gi")
    repo.cluster("full", maxTenants=0)
    repo.tenant("p/big")
    fleet = repo.fleet()
    (finding,) = place.place(fleet, sized(fleet, cpu="4", memory="2Gi"), place.Lock()).findings
    assert "big: candidates: full: maxTenants 0 reached; small: cpu: needs 4, 2 of 2 left; memory: needs 2Gi, " \
        "1Gi of 1Gi left. Add capacity" in finding.message
    assert [c["cluster"] for c in finding.details["candidates"]] == ["full", "small"]  # type: ignore[attr-defined]


def test_two_hundred_clusters_give_a_bounded_message_with_counts_and_the_nearest(repo: Repo) -> None:
    for i in range(60):
        repo.cluster(f"eu-full-{i:03d}", {"region": "eu"}, maxTenants=0)
    for i in range(80):  # 1 to 3.37 cores: the last ones lack the least of the 4 the tenant needs
        repo.cluster(f"eu-cpu-{i:03d}", {"region": "eu"}, cpu=f"{1000 + 30 * i}m", memory="64Gi")
    for i in range(20):
        repo.cluster(f"eu-both-{i:03d}", {"region": "eu"}, cpu="1", memory=f"{1 + i}Mi")  # memory the bottleneck
    for i in range(40):
        repo.cluster(f"us-{i:03d}", {"region": "us"})
    repo.tenant("p/big", placement={"matchLabels": {"region": "eu"}})
    repo.tenant("p/big2", placement={"matchLabels": {"region": "eu"}})
    fleet = repo.fleet()
    placement = place.place(fleet, sized(fleet, cpu="4", memory="1Gi"), place.Lock())
    first, second = placement.findings
    msg = first.message
    assert len(msg.encode()) < 1500, len(msg)  # was ~13 KB: one reason per cluster
    assert msg.startswith("no cluster can take tenant p/big: none of its 200 candidate clusters fits")
    assert msg.endswith("widen the placement selector or the project's allowed clusters, or set spec.cluster")
    summary = msg.split("(nearest to fitting first; all 200 reasons: --output json): ")[1].split(". Add capacity")[0]
    groups = re.split(r"; (?=[0-9,]+ )", summary)  # each group starts with its count
    assert [g.split(":")[0] for g in groups] == [
        "60 full (maxTenants)", "80 short of cpu", "20 short of cpu and memory",
        "40 do not match the placement selector (region=eu)"]
    assert groups[0].endswith(": eu-full-000 (maxTenants 0 reached), eu-full-001 (maxTenants 0 reached), "
                              "eu-full-002 (maxTenants 0 reached) and 57 more")  # equally near: by name
    assert groups[1] == ("80 short of cpu: eu-cpu-079 (cpu: needs 4, 3.37 of 3.37 left), "
                         "eu-cpu-078 (cpu: needs 4, 3.34 of 3.34 left), eu-cpu-077 (cpu: needs 4, 3.31 of 3.31 "
                         "left) and 77 more")  # the least shortfall first
    assert groups[2].startswith("20 short of cpu and memory: eu-both-019 (cpu: needs 4, 1 of 1 left; memory: ")
    assert groups[3] == "40 do not match the placement selector (region=eu): us-000, us-001, us-002 and 37 more"
    candidates = first.details["candidates"]
    assert isinstance(candidates, list) and len(candidates) == 200
    reasons = {c["cluster"]: c["reason"] for c in candidates}
    assert reasons["us-039"] == "labels do not match placement selector (region=eu)"
    assert reasons["eu-cpu-000"] == "cpu: needs 4, 1 of 1 left"
    # the next tenant meets the same clusters in the same state: the same account, shared, not rebuilt
    assert second.message == msg.replace("p/big:", "p/big2:") and second.details is first.details


def test_a_tenant_placed_between_two_failures_shows_in_the_second_account(repo: Repo) -> None:
    for name in ("a", "b", "c", "d"):
        repo.cluster(name, cpu="4")
    repo.tenant("p/a-big")
    repo.tenant("p/b-small")
    repo.tenant("p/c-big")
    fleet = repo.fleet()
    params = sized(fleet, cpu="5", sizes={"p/b-small": res("1")})
    placement = place.place(fleet, params, place.Lock())
    assert placement.clusters == {"p/b-small": "a"}
    before, after = ({c["cluster"]: c["reason"] for c in f.details["candidates"]}  # type: ignore[attr-defined]
                     for f in placement.findings)
    assert before["a"] == "cpu: needs 5, 4 of 4 left" and after["a"] == "cpu: needs 5, 3 of 4 left"
    assert "a (cpu: needs 5, 4 of 4 left)" in placement.findings[0].message
    assert "b (cpu: needs 5, 4 of 4 left), c (" in placement.findings[1].message  # a is now the furthest


def test_no_allowed_cluster_says_so(repo: Repo) -> None:
    repo.project("p", clusters={"selector": {"matchLabels": {"env": "prod"}}})
    repo.cluster("dev", {"env": "dev"})
    repo.tenant("p/t")
    fleet = repo.fleet()
    (finding,) = place.place(fleet, sized(fleet), place.Lock()).findings
    assert "project 'p' allows no existing cluster" in finding.message


def test_private_nodes_need_a_cluster_offering_the_provider(repo: Repo) -> None:
    repo.write("fleet/nodes/metal.yaml", {"kind": "NodeProvider", "metadata": {"name": "metal"}, "spec": {
        "nodeTypes": [{"name": "big", "resources": {"cpu": "16"}}]}})
    repo.cluster("a")
    repo.cluster("b", providers=("metal",))
    repo.tenant("p/t", privateNodes=[{"name": "gpu", "provider": "metal", "nodeType": "big", "quantity": 1}])
    fleet = repo.fleet()
    assert place.place(fleet, sized(fleet), place.Lock()).clusters == {"p/t": "b"}


def test_capacity_counts_explicit_then_locked_then_new_tenants(repo: Repo) -> None:
    repo.cluster("a", maxTenants=2)
    repo.cluster("b", maxTenants=1)
    repo.tenant("p/a-new")  # first by key, but placed last
    repo.tenant("p/b-locked")
    repo.tenant("p/c-explicit", cluster="a")
    fleet = repo.fleet()
    placement = place.place(fleet, sized(fleet), place.Lock({"p/b-locked": "a"}))
    assert placement.clusters == {"p/a-new": "b", "p/b-locked": "a", "p/c-explicit": "a"}
    assert placement.placed_by == {"p/a-new": "chosen", "p/b-locked": "locked", "p/c-explicit": "explicit"}


def test_tenants_with_broken_parameters_are_not_chosen_a_cluster(repo: Repo) -> None:
    repo.cluster("a")
    repo.tenant("p/new")
    repo.tenant("p/old")
    fleet = repo.fleet()
    placement = place.place(fleet, ResolvedParams({}), place.Lock({"p/old": "a"}))
    assert placement.clusters == {"p/old": "a"}  # sticky still; the new one waits for valid parameters
    assert placement.findings == ()


# ------------------------------------------------------------------------------------ stickiness


def test_adding_clusters_or_tenants_never_moves_a_placed_tenant(repo: Repo) -> None:
    repo.cluster("m", cpu="16", maxTenants=6)
    repo.cluster("n", cpu="16", maxTenants=6)
    for name in ("d", "f", "h", "k"):
        repo.tenant(f"p/{name}")
    fleet = repo.fleet()
    first = place.place(fleet, sized(fleet, cpu="2"), repo.lock())
    assert first.findings == () and len(first.clusters) == 4
    assert place.write_lock(repo.root, first)

    # Bigger, emptier clusters sorting first by name, and new tenants sorting before and between the old.
    repo.cluster("a-huge", cpu="1000")
    repo.cluster("b-huge", cpu="1000")
    for name in ("a", "e", "g", "z"):
        repo.tenant(f"p/{name}")
    fleet = repo.fleet()
    second = place.place(fleet, sized(fleet, cpu="8"), repo.lock())  # every tenant bigger, m and n now over
    assert second.findings == ()
    for key, cluster in first.clusters.items():
        assert second.clusters[key] == cluster
        assert second.placed_by[key] == "locked"
    assert second.stale == ("p/a", "p/e", "p/g", "p/z")
    assert {second.clusters[k] for k in second.stale} == {"a-huge", "b-huge"}  # new ones go where room is

    # Without the lock the same fleet would move old tenants: the lock is what keeps them.
    unlocked = place.place(fleet, sized(fleet, cpu="8"), place.Lock())
    assert any(unlocked.clusters[k] != c for k, c in first.clusters.items())


def test_sticky_even_when_the_cluster_is_full_or_no_longer_matches(repo: Repo) -> None:
    repo.cluster("old", {"tier": "old"}, maxTenants=0)
    repo.cluster("new", {"tier": "new"})
    repo.tenant("p/t", placement={"matchLabels": {"tier": "new"}})
    fleet = repo.fleet()
    placement = place.place(fleet, sized(fleet), place.Lock({"p/t": "old"}))
    assert placement.clusters == {"p/t": "old"}
    assert placement.stale == ()
    (warning,) = placement.findings
    assert warning.severity is Severity.WARN and warning.code == "place.sticky"
    assert "set spec.cluster" in warning.message


def test_explicit_cluster_overrides_the_lock_and_is_reported_stale(repo: Repo) -> None:
    repo.cluster("a")
    repo.cluster("b")
    repo.tenant("p/t", cluster="b")
    fleet = repo.fleet()
    placement = place.place(fleet, sized(fleet), place.Lock({"p/t": "a"}))
    assert placement.clusters == {"p/t": "b"}
    assert placement.stale == ("p/t",)


def test_lock_entry_of_a_removed_cluster_is_replaced(repo: Repo) -> None:
    repo.cluster("a")
    repo.tenant("p/t")
    fleet = repo.fleet()
    placement = place.place(fleet, sized(fleet), place.Lock({"p/t": "gone", "p/deleted": "a"}))
    assert placement.clusters == {"p/t": "a"}
    assert placement.placed_by == {"p/t": "chosen"}
    assert placement.stale == ("p/t",)
    assert placement.removed == ("p/deleted",)


# -------------------------------------------------------------------------------------------- lock


def test_lock_is_written_atomically_once_and_read_back(repo: Repo) -> None:
    repo.cluster("yes")  # names YAML would read as a boolean or a number must round-trip as strings
    repo.cluster("123")
    for name in ("b", "a", "null"):
        repo.tenant(f"p/{name}")
    fleet = repo.fleet()
    assert repo.lock() == place.Lock()  # no file yet: an empty lock, no findings
    placement = place.place(fleet, sized(fleet), repo.lock())
    assert placement.stale == ("p/a", "p/b", "p/null")
    assert place.write_lock(repo.root, placement) is True
    text = (repo.root / load.LOCK_FILE).read_text()
    assert text == placement.lock_text()
    assert text.startswith("# Written by `vfleet place`")
    body = text.split("apiVersion:", 1)[1]
    assert body.index("p/a:") < body.index("p/b:") < body.index("p/null:")
    assert '"123"' in text and ": yes" not in text
    assert repo.lock() == place.Lock(placement.clusters)
    assert place.write_lock(repo.root, placement) is False
    assert list((repo.root / "fleet").glob(".*tmp*")) == []
    again = place.place(fleet, sized(fleet), repo.lock())
    assert again.clusters == placement.clusters and again.stale == ()


def test_the_canonical_shortcut_reads_what_yaml_reads(repo: Repo) -> None:
    """`read_lock` skips the YAML parser for a lock exactly as written; any other shape takes YAML."""
    clusters = {f"p/t{i:03d}": f"c{i % 3}" for i in range(50)}
    text = place.Placement(clusters, {}, (), ()).lock_text()
    assert placelock._read_canonical(text) == clusters
    variants = [
        text,
        text.replace("  p/t007: c1\n", "  p/t007: c1  # moved by hand\n"),  # a comment
        text.replace("  p/t007: c1\n", '  "p/t007": c1\n'),  # quoting
        text.replace("  p/t007: c1\n", "").replace("  p/t020: c2\n", "  p/t020: c2\n  p/t007: c1\n"),  # order
    ]
    for variant in variants[1:]:
        assert placelock._read_canonical(variant) is None
    for variant in variants:
        (repo.root / load.LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
        (repo.root / load.LOCK_FILE).write_text(variant)
        assert repo.lock() == place.Lock(clusters)
    repeated = text.replace("  p/t008: c2\n", "  p/t008: c2\n  p/t008: c0\n")
    assert placelock._read_canonical(repeated) is None  # a repeated key goes to YAML, which reports it
    (repo.root / load.LOCK_FILE).write_text(repeated)
    assert repo.lock().findings


def test_empty_placement_writes_an_empty_lock(repo: Repo) -> None:
    placement = place.place(repo.fleet(), ResolvedParams({}), place.Lock())
    assert place.write_lock(repo.root, placement)
    assert repo.lock() == place.Lock()


HEAD = "apiVersion: vfleet.dev/v1alpha1\nkind: PlacementLock\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment", "kept"),
    [
        (HEAD + "tenants:\n  p/a: c1: c2\n", 4, "YAML syntax", {}),
        (HEAD + "tenants:\n  p/a: c1\n  nokey: c1\n  p/b: c2\n", 5, "'nokey' is not a key",
         {"p/a": "c1", "p/b": "c2"}),
        (HEAD + "tenants:\n  p/a: c1\n  p/b: 12\n", 5, "12 is not a cluster name", {"p/a": "c1"}),
        ("# header\napiVersion: vfleet.dev/v1alpha1\nkind: Lock\ntenants: {}\n", 3, "kind PlacementLock", {}),
        (HEAD + "tenants: [p/a]\n", 3, "must map", {}),
        (HEAD + "tenants: {}\nextra: 1\n", 4, "unknown field", {}),
        ("- just\n- a list\n", 1, "must be a mapping", {}),
    ],
)
def test_malformed_lock_is_an_error_with_file_and_line(
    repo: Repo, text: str, line: int, fragment: str, kept: dict[str, str]
) -> None:
    (repo.root / load.LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    (repo.root / load.LOCK_FILE).write_text(text)
    lock = repo.lock()
    (finding,) = lock.findings
    assert finding.severity is Severity.ERROR and finding.code == "place.lock-invalid"
    assert finding.location is not None
    assert (finding.location.file, finding.location.line) == ("fleet/placement.lock", line)
    assert fragment in finding.message
    assert lock.tenants == kept


# ------------------------------------------------------------------------------------------- speed


def synthetic(repo: Repo, tenants: int, clusters: int, projects: int) -> tuple[Fleet, ResolvedParams]:
    """A big fleet built from a small real one by copying its specs (loading 10k files is not the point)."""
    repo.cluster("seed", {"region": "eu"}, cpu="1000", memory="4000Gi", maxTenants=tenants)
    repo.tenant("p/seed")
    repo.tenant("p/sel", placement={"matchLabels": {"region": "eu"}})
    fleet = repo.fleet()
    seed_cluster = fleet.clusters["seed"]
    cluster_items: dict[str, Item[Any]] = {}
    for i in range(clusters):
        name = f"c{i:03d}"
        meta = seed_cluster.manifest.metadata.model_copy(
            update={"name": name, "labels": {"region": ("eu", "us")[i % 2]}})
        cluster_items[name] = Item(seed_cluster.manifest.model_copy(update={"metadata": meta}), seed_cluster.doc)
    plain, selective = fleet.tenants["p/seed"], fleet.tenants["p/sel"]
    resolved = {}
    for i in range(tenants):
        project = f"p{i % projects}"
        key = f"{project}/t{i:05d}"
        base = selective if i % 3 == 0 else plain
        resolved[key] = dataclasses.replace(base, key=key, project=project, name=f"t{i:05d}")
    projects_items = {f"p{j}": fleet.projects["p"] for j in range(projects)}
    big = dataclasses.replace(fleet, clusters=cluster_items, tenants=dict(sorted(resolved.items())),
                              projects=projects_items)
    size = res("2", "4Gi")
    params = ResolvedParams({key: TenantParams(key, {}, size) for key in resolved})
    return big, params


def test_ten_thousand_tenants_spread_over_a_hundred_clusters_and_stay_put(repo: Repo) -> None:
    # The time of placing them is bench/compile_bench.py's ("place" column), at up to 100,000 tenants.
    fleet, params = synthetic(repo, 10_000, 100, 20)
    placement = place.place(fleet, params, place.Lock())
    assert len(placement.clusters) == 10_000 and placement.findings == ()
    counts: dict[str, int] = {}
    for cluster in placement.clusters.values():
        counts[cluster] = counts.get(cluster, 0) + 1
    assert max(counts.values()) - min(counts.values()) <= 40  # spread, not piled onto one cluster
    sticky = place.place(fleet, params, place.Lock(placement.clusters))
    assert sticky.clusters == placement.clusters and sticky.stale == ()
