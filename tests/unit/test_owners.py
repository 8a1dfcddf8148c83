"""owners: CODEOWNERS from projects, teams and platform roles; stale-file check; approvals from the base."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetkit import load_model, write_fleet
from plankit import History, tenant
from vfleet import owners
from vfleet.core.findings import Location
from vfleet.repo.tree import open_tree

TEAM = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Team
    metadata: {name: platform}
    spec:
      members: [alice]
      groups: ["oidc:platform"]
      codeowners: "@org/platform"
    """
BETA = """
    apiVersion: vfleet.dev/v1alpha1
    kind: Project
    metadata: {name: beta}
    spec:
      members:
        - {user: bob@example.com, role: admin}
        - {group: "oidc:beta-devs", role: user}
        - {user: carol, role: user}
        - {user: dave, role: viewer}
      templates: [{name: shared, versions: ["1.x"]}]
      defaultTemplate: {name: shared, version: "1.x"}
    """
FILES = {"fleet/teams/platform.yaml": TEAM, "fleet/projects/beta/project.yaml": BETA}


def test_rules_give_projects_their_specs_and_platform_admins_the_rest(tmp_path: Path) -> None:
    fleet = load_model(write_fleet(tmp_path, FILES))
    found = owners.rules(fleet)
    assert [(r.pattern, r.owners) for r in found] == [
        ("*", ("@org/platform",)),  # the platform admin group oidc:platform is team platform's
        ("/fleet/projects/alpha/", ("@alice", "@org/platform")),
        ("/fleet/projects/alpha/tenants/", ("@alice", "@org/platform")),  # team platform is only a viewer
        ("/fleet/projects/beta/", ("bob@example.com", "@org/platform")),
        ("/fleet/projects/beta/tenants/", ("bob@example.com", "@carol", "@org/platform")),  # the group: no name
    ]
    decide = {p: owners.owner_of(found, p) for p in ("fleet/projects/beta/tenants/x.yaml",
                                                      "fleet/projects/beta/project.yaml",
                                                      "fleet/placement.lock", "templates/shared/values.yaml.j2")}
    assert {p: r.project if r else "-" for p, r in decide.items()} == {
        "fleet/projects/beta/tenants/x.yaml": "beta", "fleet/projects/beta/project.yaml": "beta",
        "fleet/placement.lock": None, "templates/shared/values.yaml.j2": None,
    }


def test_render_is_codeowners_syntax_and_keeps_unowned_paths_visible(tmp_path: Path) -> None:
    no_handle = TEAM.replace('      codeowners: "@org/platform"\n', "")
    fleet = load_model(write_fleet(tmp_path, {**FILES, "fleet/teams/platform.yaml": no_handle}))
    text = owners.render(owners.rules(fleet))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "/fleet/projects/alpha/ @alice"  # no `*` line: a pattern without owners is no review
    assert "# * (no owner with a forge name" in text
    assert all(len(line.split()) >= 2 for line in lines)


def test_check_finds_a_missing_or_stale_file_with_its_line(tmp_path: Path) -> None:
    root = write_fleet(tmp_path, FILES)
    fleet = load_model(root)
    settings = owners.Settings("github", ".github/CODEOWNERS")
    assert owners.check(fleet, open_tree(root), None) == []  # the repository keeps no CODEOWNERS
    (missing,) = owners.check(fleet, open_tree(root), settings)
    assert missing.code == "codeowners.missing" and missing.location == Location(".github/CODEOWNERS")
    target = root / ".github" / "CODEOWNERS"
    target.parent.mkdir()
    target.write_text(owners.render(owners.rules(fleet)))
    assert owners.check(fleet, open_tree(root), settings) == []
    target.write_text(target.read_text().replace("@carol ", ""))
    (stale,) = owners.check(fleet, open_tree(root), settings)
    assert stale.code == "codeowners.stale" and stale.location is not None and stale.location.line is not None
    assert target.read_text().splitlines()[stale.location.line - 1].startswith("/fleet/projects/beta/tenants/")
    assert "@carol" in stale.message and "vfleet codeowners" in stale.message


def test_settings_come_from_vfleet_yaml(tmp_path: Path) -> None:
    root = write_fleet(tmp_path, {"vfleet.yaml": "codeowners: gitlab\n"})
    assert owners.read_settings(open_tree(root)) == (owners.Settings("gitlab", ".gitlab/CODEOWNERS"), [])
    (root / "vfleet.yaml").write_text("codeowners: gitea\n")
    settings, (problem,) = owners.read_settings(open_tree(root))
    assert settings is None and problem.code == "config.codeowners" and problem.location is not None
    (root / "vfleet.yaml").write_text("chartSchemas: []\n")
    assert owners.read_settings(open_tree(root)) == (None, [])


def test_the_plan_names_the_base_owners_of_each_touched_project(tmp_path: Path) -> None:
    """A change that makes its author an owner still needs the owners the base had."""
    h = History(tmp_path / "repo", FILES)
    base = h.commit("base")
    h.write("fleet/projects/alpha/tenants/web.yaml", tenant("web", cluster="us-1", cpu="4"))
    alice = "    - {user: alice, role: admin}\n"
    project = (h.root / "fleet/projects/alpha/project.yaml").read_text()
    h.write("fleet/projects/alpha/project.yaml", project.replace(alice, alice + "    - {user: eve, role: admin}\n"))
    h.write("templates/shared/values.yaml.j2", (h.root / "templates/shared/values.yaml.j2").read_text() + "# note\n")
    plan = h.plan(base, h.commit("eve approves her own change"))
    alpha, platform = plan.approvals
    assert (alpha.project, alpha.owners) == ("alpha", ("@alice", "@org/platform"))  # not @eve: the base's
    assert alpha.paths == ("fleet/projects/alpha/project.yaml", "fleet/projects/alpha/tenants/web.yaml")
    assert (platform.project, platform.owners) == (None, ("@org/platform",))
    assert "templates/shared/values.yaml.j2" in platform.paths


def test_cli_writes_then_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfleet.cli import app

    root = write_fleet(tmp_path, {**FILES, "vfleet.yaml": "codeowners: gitlab\n"})
    runner = CliRunner()
    assert runner.invoke(app, ["codeowners", str(root), "--check"]).exit_code == 2  # missing
    written = runner.invoke(app, ["codeowners", str(root)])
    assert written.exit_code == 0 and ".gitlab/CODEOWNERS written" in written.stdout
    assert (root / ".gitlab" / "CODEOWNERS").read_text() == owners.render(owners.rules(load_model(root)))
    assert runner.invoke(app, ["codeowners", str(root), "--check"]).exit_code == 0
    assert runner.invoke(app, ["codeowners", str(root), "--forge", "gitea"]).exit_code == 2


def test_show_platform_lists_roles_per_cluster_and_host_access(tmp_path: Path) -> None:
    import json

    from vfleet.cli import app

    platform = """
        apiVersion: vfleet.dev/v1alpha1
        kind: Platform
        metadata: {name: platform}
        spec:
          members:
            - {group: "oidc:platform", role: admin}
            - {team: platform, role: operator, clusters: {matchLabels: {region: eu}}}
        """
    root = write_fleet(tmp_path, {**FILES, "fleet/platform.yaml": platform})
    shown = CliRunner().invoke(app, ["show", "platform", "--path", str(root), "-o", "json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["platform"] == "fleet/platform.yaml:1"
    labels = {n: c.manifest.metadata.labels.get("region") for n, c in load_model(root).clusters.items()}
    assert sorted(labels.values()) == ["eu", "us"]
    for name, roles in data["clusters"].items():
        assert roles["admin"] == {"groups": ["oidc:platform"], "users": []}
        assert ("operator" in roles) == (labels[name] == "eu")
    assert data["projects"]["alpha"] == {"hostView": [], "hostViewSubjects": []}
    table = CliRunner().invoke(app, ["show", "platform", "--path", str(root)])
    assert table.exit_code == 0 and "project alpha: nothing" in table.stdout
