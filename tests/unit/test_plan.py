"""plan: real Git histories (gitpython) in temp repos, planned from revisions without a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from plankit import History, resources, tenant
from vfleet.plan import Op, TenantOp

TEMPLATE_1_1 = """
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
        - version: 1.1.0
          chartVersion: 0.35.4
          values: values.yaml.j2
          resources: {cpu: cpu, memory: 4Gi}
          parameters:
            - {name: cpu, type: quantity, default: "1", min: 100m, max: "8"}
    """


@pytest.fixture()
def history(tmp_path: Path) -> History:
    h = History(tmp_path / "repo")
    for name in ("web", "api", "batch"):
        h.write(f"fleet/projects/alpha/tenants/{name}.yaml", tenant(name, cluster="us-1"))
    h.write("fleet/projects/alpha/tenants/vault.yaml", tenant("vault", cluster="eu-1", protect=True))
    h.base = h.commit("base")  # type: ignore[attr-defined]
    return h


def base_of(h: History) -> str:
    return h.base  # type: ignore[attr-defined,no-any-return]


def test_no_change_exits_0(history: History) -> None:
    history.write("README.md", "docs only\n")
    head = history.commit("docs")
    p = history.plan(base_of(history), head)
    assert p.clusters == () and p.exit_code == 0 and p.status == "no-changes"
    assert history.plan(base_of(history), base_of(history)).exit_code == 0


def test_add_tenant_creates_its_objects(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/new.yaml", tenant("new", cluster="eu-1"))
    p = history.plan(base_of(history), history.commit("add"))
    assert p.exit_code == 3 and p.affected_clusters == ("eu-1",)
    changes = resources(p, "eu-1")
    assert {op for op, _, _ in changes} == {"create"}
    assert ("create", "Namespace", "vc-alpha-new") in changes and ("create", "HelmRelease", "new") in changes
    [t] = p.clusters[0].tenants
    assert (t.tenant, t.op, t.target) == ("alpha/new", TenantOp.CREATE, "eu-1")


def test_parameter_change_shows_a_values_diff(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1", cpu="4"))
    p = history.plan(base_of(history), history.commit("cpu"))
    assert p.exit_code == 3
    [c] = p.clusters
    release = next(r for r in c.resources if r.kind == "HelmRelease")
    assert release.op is Op.UPDATE and release.fields == ()  # everything is in the values diff
    assert '-        cpu: "2"' in release.values_diff and '+        cpu: "4"' in release.values_diff
    assert release.values_diff[0] == "--- base/vcluster.yaml"
    quota = next(r for r in c.resources if r.kind == "ResourceQuota")
    assert {(f.path, f.before, f.after) for f in quota.fields} >= {('spec.hard["requests.cpu"]', "2", "4")}
    [t] = c.tenants
    assert {a.name for a in t.aspects} == {"quota", "parameters"}
    assert "quota: cpu 2 -> 4" in t.summary


def test_template_version_bump_reads_as_chart_upgrade(history: History) -> None:
    history.write("templates/shared/template.yaml", TEMPLATE_1_1)
    p = history.plan(base_of(history), history.commit("bump"))
    assert p.exit_code == 3
    for c in p.clusters:
        for t in c.tenants:
            texts = [a.text for a in t.aspects]
            assert "chart upgrade 0.35.3 -> 0.35.4" in texts and "template shared@1.0.0 -> shared@1.1.0" in texts
        releases = [r for r in c.resources if r.kind == "HelmRelease"]
        assert releases and all(r.op is Op.UPDATE for r in releases)
        assert all(("spec.version", "0.35.3", "0.35.4") in {(f.path, f.before, f.after) for f in r.fields}
                   for r in releases)
        assert not [r for r in c.resources if r.op is not Op.UPDATE]


def test_sleep_change_reads_as_sleep(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/web.yaml",
                  tenant("web", cluster="us-1", extra="  sleep: {sleeping: true}\n"))
    p = history.plan(base_of(history), history.commit("sleep"))
    [t] = p.clusters[0].tenants
    assert "put to sleep" in t.summary


def test_move_is_a_move_and_needs_an_override(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="eu-1"))
    head = history.commit("move")
    p = history.plan(base_of(history), head)
    by_cluster = {c.cluster: c for c in p.clusters}
    assert set(by_cluster) == {"eu-1", "us-1"}
    for c in by_cluster.values():
        [t] = c.tenants
        assert (t.op, t.source, t.target) == (TenantOp.MOVE, "us-1", "eu-1")
    assert {op for op, _, _ in resources(p, "us-1")} == {"delete"}
    assert {op for op, _, _ in resources(p, "eu-1")} == {"create"}
    assert [g.code for g in p.fleet_guards] == ["guard.namespace-delete"]
    assert p.exit_code == 1
    allowed = history.plan(base_of(history), head, override="moving web next to its database")
    assert allowed.exit_code == 3 and allowed.override == "moving web next to its database"
    assert all(g.overridden for g in allowed.guards)


def test_delete_tenant_is_listed_first(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/web.yaml",
                  tenant("web", cluster="us-1", cpu="3"))
    history.write("fleet/projects/alpha/tenants/batch.yaml", None)
    p = history.plan(base_of(history), history.commit("delete"))
    assert p.exit_code == 3  # one of three tenants: under every limit
    ops = [op for op, _, _ in resources(p, "us-1")]
    assert ops[0] == "delete" and "update" in ops and ops == sorted(ops, key=["delete", "create", "update"].index)
    assert [t.op for t in p.clusters[0].tenants] == [TenantOp.DELETE, TenantOp.UPDATE]


def test_deleting_a_protected_tenant_is_refused_even_with_override(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/vault.yaml", None)
    head = history.commit("delete vault")
    for override in (None, "really"):
        p = history.plan(base_of(history), head, override=override)
        assert p.exit_code == 1
        [g] = [g for g in p.guards if g.blocking]
        assert g.code == "guard.protected" and not g.overridable and "alpha/vault" in g.message
    # unprotect first, then delete: allowed
    history.repo.git.checkout("-q", base_of(history), "--", ".")
    history.write("fleet/projects/alpha/tenants/vault.yaml", tenant("vault", cluster="eu-1", protect=False))
    unprotected = history.commit("unprotect")
    history.write("fleet/projects/alpha/tenants/vault.yaml", None)
    assert history.plan(unprotected, history.commit("delete")).exit_code == 3


def test_mass_delete_is_refused_then_allowed_with_override(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/web.yaml", None)
    history.write("fleet/projects/alpha/tenants/api.yaml", None)
    head = history.commit("delete two of three")
    p = history.plan(base_of(history), head)
    assert p.exit_code == 1
    [g] = p.guards
    assert g.code == "guard.mass-delete" and g.cluster == "us-1" and "2 of the 3 tenants" in g.message
    allowed = history.plan(base_of(history), head, override="retiring the web stack")
    assert allowed.exit_code == 3 and allowed.guards[0].overridden
    assert history.plan(base_of(history), head, max_delete_share=0.9).exit_code == 3  # a looser limit


def test_guard_limits_come_from_the_base_vfleet_yaml(tmp_path: Path) -> None:
    h = History(tmp_path / "repo")
    for name in ("a", "b", "c", "d"):
        h.write(f"fleet/projects/alpha/tenants/{name}.yaml", tenant(name, cluster="us-1"))
    config = (h.root / "vfleet.yaml").read_text()
    h.write("vfleet.yaml", config + "guards: {maxDeletes: 0, maxDeleteShare: 1}\n")
    base = h.commit("strict")
    h.write("fleet/projects/alpha/tenants/a.yaml", None)
    h.write("vfleet.yaml", config)  # the change loosens its own limits: ignored, the base's apply
    p = h.plan(base, h.commit("delete one"))
    assert p.guard_limits == {"maxDeletes": 0, "maxDeleteShare": 1.0}
    assert [g.code for g in p.guards] == ["guard.mass-delete"] and p.exit_code == 1


def test_removing_a_cluster_with_tenants_is_refused(history: History) -> None:
    for name in ("web", "api", "batch"):
        history.write(f"fleet/projects/alpha/tenants/{name}.yaml", None)
    history.write("fleet/clusters/us-1.yaml", None)
    history.write("fleet/projects/alpha/project.yaml", (history.root / "fleet/projects/alpha/project.yaml")
                  .read_text().replace("names: [eu-1, us-1]", "names: [eu-1]"))
    head = history.commit("remove us-1")
    p = history.plan(base_of(history), head)
    [c] = [c for c in p.clusters if c.cluster == "us-1"]
    assert c.status == "removed" and c.count(Op.DELETE) > 0
    assert "guard.cluster-removed" in [g.code for g in c.guards] and p.exit_code == 1
    assert history.plan(base_of(history), head, override="us-1 decommissioned").exit_code == 3


def test_renamed_file_updates_the_same_objects(history: History) -> None:
    history.repo.git.mv("fleet/projects/alpha/tenants/web.yaml", "fleet/projects/alpha/tenants/web-frontend.yaml")
    p = history.plan(base_of(history), history.commit("rename file"))
    ops = {op for op, _, _ in resources(p, "us-1")}
    assert ops == {"update"}  # the source annotation changes; the live objects stay
    assert not p.guards and p.exit_code == 3
    fields = {f.path for c in p.clusters for r in c.resources for f in r.fields}
    assert fields == {'metadata.annotations["vfleet.dev/source"]'}


def test_work_tree_head_and_a_bad_revision(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/api.yaml", tenant("api", cluster="us-1", cpu="1"))
    p = history.plan(base_of(history))  # head: the uncommitted work tree
    assert p.head.commit is None and p.exit_code == 3
    from vfleet.repo.tree import TreeError

    with pytest.raises(TreeError):
        history.plan("no-such-rev")


def test_broken_head_exits_2(history: History) -> None:
    history.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="nowhere"))
    p = history.plan(base_of(history), history.commit("typo", place_first=False))
    assert p.exit_code == 2 and any(f.code == "ref.cluster" for f in p.findings.errors)


def test_broken_base_is_a_warning_and_the_fix_is_planned(tmp_path: Path) -> None:
    h = History(tmp_path / "repo")
    h.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="nowhere"))
    base = h.commit("broken", place_first=False)
    h.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1"))
    p = h.plan(base, h.commit("fix"))
    assert p.method == "full" and "does not compile cleanly" in p.reason
    assert [f.code for f in p.findings] == ["plan.base-broken"] and p.exit_code == 3
    assert [t.op for c in p.clusters for t in c.tenants] == [TenantOp.CREATE]


def test_fleet_in_a_sub_folder_of_the_repository(tmp_path: Path) -> None:
    import git

    from fleetkit import write_fleet
    from vfleet import compile as compiler
    from vfleet import place
    from vfleet.plan import Options, plan

    repo = git.Repo.init(tmp_path)
    root = write_fleet(tmp_path / "platform")
    env = {"VFLEET_CACHE_DIR": str(tmp_path / "cache")}

    def commit(message: str) -> str:
        place.write_lock(root, compiler.compile_fleet(root, check_lock=False, env=env).placement)
        repo.git.add("-A")
        repo.git.commit("-q", "-m", message, "--author", "t <t@example.invalid>",
                        env={"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
        return repo.head.commit.hexsha

    base = commit("base")
    (root / "fleet/projects/alpha/tenants/web.yaml").write_text(tenant("web", cluster="us-1"))
    (tmp_path / "README.md").write_text("outside the fleet\n")
    head = commit("add web")
    p = plan(root, base, head, Options(policy=False, env=env))
    assert p.method == "incremental" and p.affected_clusters == ("us-1",) and p.exit_code == 3
