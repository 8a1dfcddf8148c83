"""vfleet.api: the commands as library calls, giving what the commands report, never printing or exiting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import git
import pytest

from fleetkit import write_fleet
from vfleet import api
from vfleet.core.errors import VfleetError
from vfleet.plan import Options

TENANT = "fleet/projects/alpha/tenants/dev.yaml"
BAD_SLEEP = ("apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\nmetadata: {name: dev}\nspec:\n"
             "  owner: alice\n  cluster: eu-1\n  template: {name: shared, version: 1.x}\n"
             "  sleep: {afterInactivity: 2 days}\n")


def _placed(root: Path) -> Path:
    placed = api.place(root, no_cache=True)
    assert placed.exit_code == 0 and placed.changed
    assert not api.place(root, no_cache=True).changed  # placed once: the lock is current
    return root


def test_validate_returns_the_compiled_fleet_and_the_commands_exit_code(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    compiled = api.validate(root / "fleet", no_cache=True)  # the fleet/ folder finds its repository
    assert compiled.root == root and compiled.findings.exit_code == 0
    assert sorted(compiled.fleet.tenants) == ["alpha/dev"]


def test_bad_input_is_a_finding_with_file_line_and_field_not_an_exception(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    (root / TENANT).write_text(BAD_SLEEP)
    compiled = api.validate(str(root), no_cache=True)
    (bad,) = compiled.findings.errors
    assert bad.location is not None
    assert (bad.location.file, bad.location.line, bad.location.field) == (TENANT, 8, "spec.sleep.afterInactivity")
    assert compiled.findings.exit_code == 2


def test_compile_writes_the_output_only_for_a_fleet_without_errors(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    result = api.compile(root, out=tmp_path / "out", no_cache=True)
    assert result.exit_code == 0
    assert result.written and all(path.is_file() and tmp_path / "out" in path.parents for path in result.written)
    (root / TENANT).write_text(BAD_SLEEP)
    broken = api.compile(root, out=tmp_path / "out2", no_cache=True)
    assert broken.exit_code == 2 and broken.written == () and not (tmp_path / "out2").exists()


def test_drift_and_status_of_a_broken_fleet_raise_before_any_cluster_is_asked(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    (root / TENANT).write_text(BAD_SLEEP)
    for call in (api.drift, api.status, api.lifecycle):
        with pytest.raises(api.FleetBroken) as raised:
            call(root, None)  # the work tree
        assert raised.value.exit_code == 2
        assert [f.location.file for f in raised.value.findings.errors if f.location] == [TENANT]


def test_plan_reads_the_repository_and_needs_a_base(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    repo = git.Repo.init(root)
    repo.git.add(A=True)
    repo.index.commit("fleet")
    with pytest.raises(VfleetError, match="base revision is required"):
        api.plan(root)
    (root / "fleet/projects/alpha/tenants/dev.yaml").unlink()
    result = api.plan(root, base="HEAD", options=Options(policy=False, cache=False))
    # The work tree deletes the tenant; the records say nothing was applied from here.
    assert [(t.tenant, t.op.value) for c in result.clusters for t in c.tenants] == [("alpha/dev", "delete")]


def test_the_policy_input_is_the_document_the_rules_read_even_of_a_broken_fleet(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    whole = api.policy_input(root, no_cache=True)
    assert whole.exit_code == 0 and "alpha/dev" in str(whole.document)
    (root / TENANT).write_text(BAD_SLEEP)
    partial = api.policy_input(root, no_cache=True)
    assert partial.exit_code == 2 and "alpha/dev" not in str(partial.document)


def test_show_platform_compiles_without_a_current_lock(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "repo")  # never placed
    assert api.validate(root, no_cache=True).findings.exit_code == 2
    assert api.platform(root).findings.exit_code == 0


def test_stack_files_are_checked_then_written_and_the_history_starts_empty(tmp_path: Path) -> None:
    root = _placed(write_fleet(tmp_path / "repo"))
    before = api.stacks_check(root)
    assert before.findings.exit_code == 2
    assert sorted(before.to_write) == ["Pulumi.yaml", "stacks/Pulumi.eu-1.yaml", "stacks/Pulumi.us-1.yaml"]
    written, after = api.stacks_sync(root / "fleet")
    assert sorted(written) == ["Pulumi.yaml", "stacks/Pulumi.eu-1.yaml", "stacks/Pulumi.us-1.yaml"]
    assert (root / "stacks/Pulumi.eu-1.yaml").is_file()
    assert after.findings.exit_code == 0 and not after.to_write
    assert api.stacks_sync(root) == ([], after)  # up to date: nothing written twice
    assert api.history(root) == [] and api.history(root, "eu-1", 1) == []


def test_importing_the_api_loads_no_stage() -> None:
    probe = ("import sys, vfleet.api\n"
             "print(sorted(m for m in sys.modules if m.startswith('vfleet.') and m not in "
             "('vfleet.api', 'vfleet.core.errors', 'vfleet.core.findings')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = eval(done.stdout.strip())
    assert not [m for m in loaded if m.split(".")[1] in ("compile", "policy", "plan", "apply", "live", "render")]
