"""`vfleet check` on access: a stale CODEOWNERS fails it (exit 2, file:line), and the access rules deny
what a template or the platform's bindings would grant beyond the three layers — with a real OPA."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policykit import REPO, vfleet

pytestmark = pytest.mark.policy


def _example(dest: Path) -> Path:
    """The example fleet with its policies, vfleet.yaml and CODEOWNERS, outside the repository."""
    for name in ("fleet", "templates", "policies"):
        shutil.copytree(REPO / name, dest / name)
    shutil.copyfile(REPO / "vfleet.yaml", dest / "vfleet.yaml")
    (dest / ".github").mkdir()
    shutil.copyfile(REPO / ".github" / "CODEOWNERS", dest / ".github" / "CODEOWNERS")
    return dest


def test_the_committed_codeowners_is_what_the_specs_give() -> None:
    run = vfleet("check", str(REPO), "--output", "json")
    assert run.exit_code == 0, run.stdout
    assert not [f for f in run.json()["findings"] if f["code"].startswith("codeowners.")]


def test_a_member_change_without_regenerating_codeowners_fails_the_check(tmp_path: Path) -> None:
    root = _example(tmp_path / "fleet")
    project = root / "fleet" / "projects" / "web" / "project.yaml"
    project.write_text(project.read_text().replace("user: julia.klein@example.com", "user: omar.haddad@example.com"))
    run = vfleet("check", str(root), "--output", "json")
    assert run.exit_code == 2, run.stdout
    (stale,) = [f for f in run.json()["findings"] if f["code"] == "codeowners.stale"]
    assert stale["file"] == ".github/CODEOWNERS" and stale["line"] > 0
    assert "omar.haddad@example.com" in stale["message"]


def test_a_template_value_reaching_the_host_is_denied_at_the_tenant(tmp_path: Path) -> None:
    root = _example(tmp_path / "fleet")
    values = root / "templates" / "shared" / "values-2.0.0.yaml.j2"
    values.write_text(values.read_text() + "\nrbac:\n  clusterRole:\n    extraRules:\n"
                      "      - {apiGroups: [\"\"], resources: [secrets], verbs: [get, list]}\n")
    run = vfleet("check", str(root), "--output", "json")
    assert run.exit_code == 1, run.stdout
    denied = {f["subject"] for f in run.json()["findings"] if f["code"] == "policy.host-access-values"}
    assert "tenant:payments/checkout-prod" in denied and all(s.startswith("tenant:") for s in denied)


def test_a_user_bound_as_platform_admin_on_production_is_denied_at_its_line(tmp_path: Path) -> None:
    root = _example(tmp_path / "fleet")
    platform = root / "fleet" / "platform.yaml"
    platform.write_text(platform.read_text() + "    - user: maria.schmidt@example.com\n      role: admin\n")
    (root / ".github" / "CODEOWNERS").write_text(  # keep the ownership check out of this test's way
        _regenerated(root))
    run = vfleet("check", str(root), "--output", "json")
    assert run.exit_code == 1, run.stdout
    (deny,) = [f for f in run.json()["findings"] if f["code"] == "policy.platform-prod-no-users"]
    lines = platform.read_text().splitlines()
    assert deny["file"] == "fleet/platform.yaml" and "maria.schmidt" in lines[deny["line"] - 1]
    assert "eu-central, us-east" in deny["message"]


def _regenerated(root: Path) -> str:
    from vfleet import compile as compiler
    from vfleet import owners

    return owners.render(owners.rules(compiler.compile_fleet(root, check_lock=False).fleet))
