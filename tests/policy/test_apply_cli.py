"""`vfleet apply` / `preview` / `history` / `stacks` through the CLI, with the real policy gate (a real OPA,
hence the `policy` marker) and no Pulumi engine on PATH: what must happen before any engine call."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vfleet import toolchain
from vfleet.cli import app

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = (REPO.parent / "shared" / "contracts").resolve()
VIOLATIONS = REPO / "tests" / "fixtures" / "policy" / "violations"

pytestmark = pytest.mark.policy


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    try:
        toolchain.binary("opa")
    except toolchain.ToolMissing as missing:
        pytest.fail(f"these tests need OPA: {missing}", pytrace=False)
    monkeypatch.setenv("VFLEET_CHART_SCHEMAS", str(CONTRACTS))
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VFLEET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and not (Path(p) / "pulumi").exists()),
    )
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("VFLEET_PULUMI_BIN", "")  # no engine, wherever one might be built or installed
    for name in ("VFLEET_OPA_URL", "PULUMI_BACKEND_URL"):
        monkeypatch.delenv(name, raising=False)


def copy_fleet(src: Path, dest: Path) -> Path:
    for name in ("fleet", "templates"):
        shutil.copytree(src / name, dest / name)
    shutil.copytree(REPO / "policies", dest / "policies")
    return dest


def vfleet(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_without_pulumi_apply_exits_2_with_what_to_install(tmp_path: Path) -> None:
    root = copy_fleet(REPO, tmp_path / "repo")
    assert vfleet("stacks", "sync", str(root))[0] == 0
    code, out = vfleet("apply", str(root), "--yes")
    assert code == 2, out
    assert "pulumi is missing" in out and "vfleet.toolchain build" in out
    assert vfleet("history", str(root), "--output", "json") == (0, json.dumps({"records": []}, indent=2) + "\n")


def test_missing_stack_files_are_exit_2_before_anything(tmp_path: Path) -> None:
    root = copy_fleet(REPO, tmp_path / "repo")
    code, out = vfleet("apply", str(root), "--yes", "--output", "json")
    assert code == 2
    report = json.loads(out)
    assert {f["code"] for f in report["findings"]} == {"stacks.project", "stacks.missing"}
    code, out = vfleet("stacks", "check", str(root))
    assert code == 2 and "stacks/Pulumi.eu-dev.yaml" in out


def test_a_policy_deny_refuses_the_apply_with_exit_1(tmp_path: Path) -> None:
    root = copy_fleet(VIOLATIONS, tmp_path / "repo")
    shutil.copyfile(VIOLATIONS / "vfleet.yaml", root / "vfleet.yaml")
    assert vfleet("stacks", "sync", str(root))[0] == 0
    code, out = vfleet("apply", str(root), "--yes", "--output", "json")
    assert code == 1, out
    report = json.loads(out)
    assert "refused by policy" in report["error"]
    assert report["findings"] and all(f["severity"] in ("deny", "warn") for f in report["findings"])
    assert not (tmp_path / "state" / "runs").exists()


def test_a_broken_policy_is_exit_2_and_nothing_runs(tmp_path: Path) -> None:
    root = copy_fleet(REPO, tmp_path / "repo")
    (root / "policies" / "broken.rego").write_text("package vfleet.broken\n\ndeny contains msg if {\n")
    assert vfleet("stacks", "sync", str(root))[0] == 0
    code, out = vfleet("apply", str(root), "--yes")
    assert code == 2, out
    assert "fail closed" in out
    assert not (tmp_path / "state" / "runs").exists()


def test_an_unknown_cluster_is_broken_input(tmp_path: Path) -> None:
    root = copy_fleet(REPO, tmp_path / "repo")
    assert vfleet("stacks", "sync", str(root))[0] == 0
    code, out = vfleet("apply", str(root), "--yes", "--cluster", "nope")
    assert code == 2 and "no connected cluster named nope" in out


def test_destroy_needs_the_cluster_name_as_confirmation(tmp_path: Path) -> None:
    root = copy_fleet(REPO, tmp_path / "repo")
    code, out = vfleet("destroy", str(root), "--cluster", "eu-dev", "--confirm", "eu-central")
    assert code == 2 and "--confirm eu-dev" in out


class RecordingEngine:
    """The engine call injected at the CLI's seam (`vfleet.api.stacks.make_runner`): every stack applies."""

    def __init__(self) -> None:
        self.clusters: list[str] = []

    def __call__(self, job, progress):  # type: ignore[no-untyped-def]
        from vfleet.apply.decide import Result, StackResult

        self.clusters.append(job.target.cluster)
        progress(job.total, job.total, "done")
        return StackResult(job.target.cluster, job.target.wave, Result.APPLIED, changes={"create": job.total - 2})


def test_apply_json_then_no_change_then_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfleet.api import stacks

    engine = RecordingEngine()
    monkeypatch.setattr(stacks, "make_runner", lambda root, state, secrets, full: engine)
    root = copy_fleet(REPO, tmp_path / "repo")
    assert vfleet("stacks", "sync", str(root))[0] == 0
    code, out = vfleet("apply", str(root), "--yes", "--output", "json")
    assert code == 0, out
    report = json.loads(out)
    assert [(s["cluster"], s["wave"], s["result"]) for s in report["stacks"]] == [
        ("eu-dev", 0, "applied"),
        ("eu-central", 1, "applied"),
        ("us-east", 2, "applied"),
    ]
    assert engine.clusters == ["eu-dev", "eu-central", "us-east"]
    code, out = vfleet("apply", str(root), "--yes", "--output", "json")
    assert code == 0 and json.loads(out)["summary"] == {"skipped": ["eu-central", "eu-dev", "us-east"]}
    assert len(engine.clusters) == 3  # no engine call the second time
    code, out = vfleet("history", str(root), "--cluster", "eu-dev", "--output", "json")
    (record,) = json.loads(out)["records"]
    assert record["cluster"] == "eu-dev" and record["result"] == "applied" and record["operation"] == "up"
    assert record["changes"]["create"] > 0 and record["user"]
    code, out = vfleet("history", str(root))
    assert code == 0 and "eu-central" in out and "applied" in out
    # without --yes and without a terminal: nothing runs
    (root / "fleet/projects/payments/tenants/ledger-dev.yaml").write_text(
        "# moved\n" + (root / "fleet/projects/payments/tenants/ledger-dev.yaml").read_text()
    )
    code, out = vfleet("apply", str(root))
    assert code == 2 and "needs --yes" in out and len(engine.clusters) == 3
