"""The CLI end to end, in a subprocess as a user runs it: exit codes, messages, atomic output, determinism."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import git

from fleetkit import REPO, write_fleet

VFLEET = str(Path(sys.executable).with_name("vfleet"))
TENANT = "fleet/projects/alpha/tenants/dev.yaml"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run([VFLEET, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def _placed(root: Path) -> Path:
    result = run("place", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_broken_input_exits_2_names_file_line_field_and_writes_nothing(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    (root / TENANT).write_text(
        "apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\nmetadata: {name: dev}\nspec:\n"
        "  owner: alice\n  cluster: eu-1\n  template: {name: shared, version: 1.x}\n"
        "  sleep: {afterInactivity: 2 days}\n"
    )
    project = root / "fleet/projects/alpha/project.yaml"
    project.write_text(project.read_text().replace("versions: [\"1.x\"]", "versions: [\"9.x\"]"))
    out = tmp_path / "out"
    result = run("compile", str(root), "--out", str(out))
    assert result.returncode == 2
    assert f"{TENANT}:8 (spec.sleep.afterInactivity)" in result.stdout
    assert "fleet/projects/alpha/project.yaml:8 (spec.templates[0].versions[0])" in result.stdout
    assert "2 error(s)" in result.stdout
    assert not out.exists()


def test_a_failed_compile_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    out = tmp_path / "out"
    assert run("compile", str(root), "--out", str(out)).returncode == 0
    before = _tree(out)
    (root / "templates/shared/values.yaml.j2").write_text("x: {{ nope }}\n")
    result = run("compile", str(root), "--out", str(out))
    assert result.returncode == 2
    assert "templates/shared/values.yaml.j2:1: error render.undefined" in result.stdout
    assert _tree(out) == before


def test_json_output_carries_every_finding(tmp_path: Path) -> None:
    root = write_fleet(tmp_path, {TENANT: "kind: Tenant\nmetadata: {name: dev\n"})
    result = run("validate", str(root), "--output", "json")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    (finding,) = data["findings"]
    assert (finding["file"], finding["line"], finding["code"]) == (TENANT, 3, "yaml.syntax")


def test_not_a_fleet_is_exit_2_with_a_message(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    assert "no fleet/ folder here" in result.stderr


def test_a_missing_option_is_one_error_in_either_output(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    table = run("plan", str(root))
    assert table.returncode == 2 and "error: --base REV is required" in table.stderr and not table.stdout
    as_json = run("plan", str(root), "--base", "HEAD", "--shards", "2", "--output", "json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout) == {"error": "--shards N goes with --matrix", "findings": [], "exitCode": 2}


def test_an_error_quoting_brackets_is_printed_as_text_not_markup(tmp_path: Path) -> None:
    odd = tmp_path / "a[/b]" / "[bold]x"  # rich markup in user input: a closing tag once crashed the CLI
    result = run("validate", str(odd))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"error: {odd}: no fleet/ folder here" in " ".join(result.stderr.split())


def test_an_unknown_tenant_with_brackets_is_named_as_typed(tmp_path: Path) -> None:
    result = run("show", "tenant", "alpha/x[/y]", "--path", str(write_fleet(tmp_path)))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "error: no tenant 'alpha/x[/y]'" in result.stderr


def test_a_template_values_path_outside_the_repository_is_refused(tmp_path: Path) -> None:
    template = (REPO / "tests/fleetkit.py").read_text()  # only to keep the base template's shape in sync
    assert "values: values.yaml.j2" in template
    root = write_fleet(tmp_path)
    text = (root / "templates/shared/template.yaml").read_text().replace("values.yaml.j2", "../../../etc/passwd")
    (root / "templates/shared/template.yaml").write_text(text)
    result = run("validate", str(root))
    assert result.returncode == 2
    assert "templates/shared/template.yaml:" in result.stdout
    assert "root:" not in result.stdout  # nothing of the file leaked


def test_two_compiles_are_byte_identical(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "fleet", repo / "fleet")
    shutil.copytree(REPO / "templates", repo / "templates")
    shutil.copy(REPO / "vfleet.yaml", repo / "vfleet.yaml")
    (repo / "vfleet.yaml").write_text((REPO / "vfleet.yaml").read_text().replace(
        "../shared/contracts", str((REPO / ".." / "shared" / "contracts").resolve())))
    first, second = tmp_path / "a", tmp_path / "b"
    assert run("compile", str(repo), "--out", str(first)).returncode == 0
    assert run("compile", str(repo), "--out", str(second), "--no-cache").returncode == 0
    assert _tree(first) == _tree(second)
    assert len(_tree(first)) == 3 + 13  # one file per cluster, one vcluster.yaml per tenant

    # The same content committed to Git and compiled from the revision (no checkout) gives the same bytes,
    # even when the work tree has moved on since.
    git_repo = git.Repo.init(repo)
    git_repo.index.add(["fleet", "templates", "vfleet.yaml"])
    git_repo.index.commit("fleet", author=git.Actor("t", "t@example.com"), committer=git.Actor("t", "t@example.com"))
    shutil.rmtree(repo / "fleet" / "projects" / "web")
    from_git = tmp_path / "c"
    result = run("compile", str(repo), "--rev", "HEAD", "--out", str(from_git))
    assert result.returncode == 0, result.stdout
    assert _tree(from_git) == _tree(first)


def test_show_tenant_prints_the_resolved_spec_and_values(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path))
    result = run("show", "tenant", "alpha/dev", "--path", str(root), "--output", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["cluster"] == "eu-1"
    assert data["values"]["controlPlane"]["statefulSet"]["resources"]["requests"]["cpu"] == "2"
    assert data["source"] == f"{TENANT}:1"
    table = run("show", "tenant", "alpha/dev", "--path", str(root))
    assert table.returncode == 0
    assert "cpu: \"2\"" in table.stdout
    missing = run("show", "tenant", "alpha/nope", "--path", str(root))
    assert missing.returncode == 2
    assert "alpha/nope" in missing.stdout + missing.stderr


def test_the_command_table_names_what_each_module_registers() -> None:
    """A run imports only its command's module (vfleet.cli.COMMANDS): a command missing from the table, or
    filed under the wrong module, would be unknown to `vfleet <command>` while `--help` still lists it."""
    import importlib

    import typer

    from vfleet import cli

    for module in cli.MODULES:
        app = typer.Typer()
        importlib.import_module(f"vfleet.cli.{module}").register(app)
        names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
        assert names == {c for c, m in cli.COMMANDS.items() if m == module}, module
    assert cli.modules_for(["plan", "--base", "x"]) == ("plan_cmds",)
    assert cli.modules_for(["--help"]) == cli.modules_for([]) == cli.modules_for(["pln"]) == cli.MODULES


def test_one_command_runs_without_the_other_commands_modules(tmp_path: Path) -> None:
    """`vfleet validate` never imports the apply engine, the Kubernetes client or the HTTP stacks."""
    root = _placed(write_fleet(tmp_path))
    probe = ("import sys; from vfleet.cli import main; sys.argv = ['vfleet', 'validate', sys.argv[1]]\n"
             "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "heavy = ('kubernetes', 'requests', 'vfleet.apply', 'vfleet.live', 'vfleet.policy.server', 'pulumi')\n"
             "print(sorted(m for m in heavy if m in sys.modules), code)")
    done = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.stdout.strip().splitlines()[-1] == "[] 0", done.stdout + done.stderr


def test_the_policy_package_names_resolve_where_it_says() -> None:
    """vfleet.policy imports its names when first used: every name it lists is there, none is missing."""
    import importlib

    import vfleet.policy as policy

    for name in policy.__all__:
        value = getattr(policy, name)
        if name != "URL_ENV":
            home = importlib.import_module(f"vfleet.policy.{policy._HOMES[name]}")
            assert getattr(home, name) is value
    assert set(policy._HOMES) | {"URL_ENV"} == set(policy.__all__)
