"""`vfleet check` end to end: compile, one policy input, a real OPA server, findings with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policykit import REPO, fleet_with_policies, vfleet
from vfleet import policy
from vfleet.core.findings import Severity

pytestmark = pytest.mark.policy

T = "fleet/projects/apps/tenants"
Q = "fleet/projects/quota/project.yaml"
LONG = "a-very-long-tenant-name-that-does-not-fit-a-helm-releas"

# tests/fixtures/policy/violations breaks every rule exactly once: (severity, rule, subject, file, line).
EXPECTED = {
    ("deny", "template-allowed", "tenant:apps/wrong-template", f"{T}/wrong-template.yaml", 9),
    ("deny", "template-version-allowed", "tenant:apps/old-version", f"{T}/old-version.yaml", 10),
    ("deny", "cluster-allowed", "tenant:apps/elsewhere", f"{T}/elsewhere.yaml", 7),
    ("deny", "quota-tenants", "project:quota", Q, 10),
    ("deny", "quota-awake-tenants", "project:quota", Q, 11),
    ("deny", "quota-template", "project:quota", Q, 13),
    ("deny", "quota-cpu", "project:quota", Q, 14),
    ("deny", "quota-memory", "project:quota", Q, 15),
    ("deny", "quota-storage", "project:quota", Q, 16),
    ("deny", "quota-gpus", "project:quota", Q, 17),
    ("deny", "quota-node-claims", "project:quota", Q, 19),
    ("deny", "node-provider-offered", "tenant:apps/far-pool", f"{T}/far-pool.yaml", 10),
    ("deny", "node-type-capacity", "nodeprovider:metal", "fleet/nodes/metal.yaml", 13),
    ("deny", "gpu-private-nodes", "tenant:apps/gpu-shared", f"{T}/gpu-shared.yaml", 5),
    ("deny", "cluster-capacity", "cluster:tight", "fleet/clusters/tight.yaml", 9),
    ("deny", "cluster-max-tenants", "cluster:small", "fleet/clusters/small.yaml", 9),
    ("deny", "name-dns1123", f"tenant:apps/{LONG}", f"{T}/{LONG}.yaml", 4),
    ("deny", "owner-member", "tenant:apps/orphan", f"{T}/orphan.yaml", 6),
    ("deny", "prod-protected", "tenant:apps/shop", f"{T}/shop.yaml", 10),
    ("warn", "dev-sleep", "tenant:apps/sandbox", f"{T}/sandbox.yaml", 7),
    ("deny", "pod-security-floor", "tenant:apps/root-access", f"{T}/root-access.yaml", 8),
    ("deny", "network-isolation", "tenant:apps/open-net", f"{T}/open-net.yaml", 8),
    ("deny", "host-access-values", "tenant:apps/host-manifests", f"{T}/host-manifests.yaml", 8),
    ("deny", "platform-prod-admins", "cluster:gamma", "fleet/clusters/gamma.yaml", 7),
    ("deny", "platform-prod-no-users", "platform:platform", "fleet/platform.yaml", 7),
}
# Rules that check what vfleet renders itself, which no spec can change: only their Rego tests reach them.
SELF_CHECKS = {"host-access-read-only"}


def _rows(findings: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {
        (f["severity"], str(f["code"]).removeprefix("policy."), f["subject"], f["file"], f["line"])
        for f in findings
    }


def test_the_example_fleet_passes() -> None:
    report = policy.check(REPO)
    blocking = [f for f in report.findings if f.severity in (Severity.ERROR, Severity.DENY)]
    assert not blocking, "\n".join(f"{f.location}: {f.code}: {f.message}" for f in blocking)
    assert report.exit_code == 0
    assert len(report.compiled.fleet.tenants) > 0 if report.compiled else False


def test_the_example_fleet_passes_through_the_cli() -> None:
    run = vfleet("check", str(REPO), "--output", "json")
    assert run.exit_code == 0, run.stdout
    assert run.json()["exitCode"] == 0


def test_one_violation_per_rule_gives_exactly_the_expected_findings(tmp_path: Path) -> None:
    root = fleet_with_policies("violations", tmp_path / "fleet")
    run = vfleet("check", str(root), "--output", "json")
    report = run.json()
    assert run.exit_code == 1, run.stdout
    assert report["exitCode"] == 1
    assert _rows(report["findings"]) == EXPECTED


def test_every_configured_rule_is_exercised_by_the_fixture() -> None:
    config = yaml.safe_load((REPO / "policies" / "data.yaml").read_text())["vfleet"]["config"]
    assert set(config["severity"]) - SELF_CHECKS == {rule for _, rule, *_ in EXPECTED}


def test_the_table_names_file_line_and_has_no_colour_when_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    root = fleet_with_policies("violations", tmp_path / "fleet")
    run = vfleet("check", str(root))
    assert run.exit_code == 1
    assert "\x1b[" not in run.stdout
    assert "policy.owner-member" in run.stdout
    assert "24 denied, 1 warning(s)" in run.stdout


def test_severity_and_exceptions_are_data(tmp_path: Path) -> None:
    root = fleet_with_policies("violations", tmp_path / "fleet")
    data = root / "policies" / "data.yaml"
    config = yaml.safe_load(data.read_text())
    settings = config["vfleet"]["config"]
    settings["severity"]["owner-member"] = "warn"
    settings["severity"]["dev-sleep"] = "off"
    settings["exceptions"] = [{"project": "quota", "rules": ["quota-cpu", "quota-memory"], "reason": "Q4 load test"}]
    data.write_text(yaml.safe_dump(config))

    report = vfleet("check", str(root), "--output", "json").json()
    rows = _rows(report["findings"])
    expected = {r for r in EXPECTED if r[1] not in {"owner-member", "dev-sleep", "quota-cpu", "quota-memory"}}
    expected.add(("warn", "owner-member", "tenant:apps/orphan", f"{T}/orphan.yaml", 6))
    expected |= {("info", "quota-cpu", "project:quota", Q, 14), ("info", "quota-memory", "project:quota", Q, 15)}
    assert rows == expected
    assert all("Q4 load test" in f["message"] for f in report["findings"] if f["severity"] == "info")


def test_a_clean_fleet_of_the_fixture_exits_zero(tmp_path: Path) -> None:
    """Every rule switched off: the same fleet, no verdicts, exit 0 (warnings and info never block)."""
    root = fleet_with_policies("violations", tmp_path / "fleet")
    data = root / "policies" / "data.yaml"
    config = yaml.safe_load(data.read_text())
    config["vfleet"]["config"]["severity"] = dict.fromkeys(config["vfleet"]["config"]["severity"], "off")
    data.write_text(yaml.safe_dump(config))
    run = vfleet("check", str(root), "--output", "json")
    assert run.exit_code == 0, run.stdout
    assert run.json()["findings"] == []


def test_a_git_revision_is_checked_with_its_own_policies(tmp_path: Path) -> None:
    """`--rev`: fleet and policies read from a commit (one `git cat-file` reader, shared by no thread)."""
    import git

    root = fleet_with_policies("violations", tmp_path / "fleet")
    repository = git.Repo.init(root)
    with repository.config_writer() as config:
        config.set_value("user", "name", "vfleet tests")
        config.set_value("user", "email", "tests@vfleet.invalid")
    repository.git.add(A=True)
    repository.index.commit("fleet with one violation per rule")
    (root / "policies" / "main.rego").write_text("garbage")  # the work tree must not be read
    run = vfleet("check", str(root), "--rev", "HEAD", "--output", "json")
    assert run.exit_code == 1, run.stdout
    assert _rows(run.json()["findings"]) == EXPECTED
