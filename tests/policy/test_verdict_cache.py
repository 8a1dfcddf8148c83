"""Verdicts kept between runs (vfleet.policy.verdicts) against a real OPA: the same findings as a fresh run.

The violations fixture breaks every shipped rule across two projects. Each case runs `vfleet check` with
a verdict cache, changes one thing, runs again, and compares every finding (code, subject, file:line,
message) and the exit code with a run that keeps nothing, while counting what was sent to OPA.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from policykit import fleet_with_policies, vfleet
from vfleet import policy
from vfleet.policy import partition
from vfleet.policy.verdicts import VerdictCache

pytestmark = pytest.mark.policy

Rows = set[tuple[object, ...]]


def _check(root: Path, cache: VerdictCache | None) -> tuple[Rows, int, int, int]:
    """(findings as rows, exit code, requests sent, projects reused)."""
    report = policy.check(root, verdicts=cache)
    rows: Rows = {(f.severity.value, f.code, f.subject, f.location.file if f.location else None,
             f.location.line if f.location else None, f.message) for f in report.findings}
    return rows, report.exit_code, report.requests, report.reused


def _fresh(root: Path) -> tuple[Rows, int]:
    rows, exit_code, _, reused = _check(root, None)
    assert reused == 0
    return rows, exit_code


def _edit(path: Path, change: dict[str, object]) -> None:
    document = yaml.safe_load(path.read_text())
    document["spec"].update(change)
    path.write_text(yaml.safe_dump(document))


def _set(root: Path, **settings: object) -> None:
    data = root / "policies" / "data.yaml"
    config = yaml.safe_load(data.read_text())
    config["vfleet"]["config"].update(settings)
    data.write_text(yaml.safe_dump(config))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return fleet_with_policies("violations", tmp_path / "fleet")


@pytest.fixture
def cache(tmp_path: Path) -> VerdictCache:
    return VerdictCache.at(tmp_path / "cache")


def test_an_unchanged_fleet_is_answered_without_asking_opa(root: Path, cache: VerdictCache) -> None:
    first = _check(root, cache)
    assert first[2] >= 1 and first[3] == 0  # nothing kept yet: every project asked
    again = _check(root, cache)
    assert again[:2] == first[:2] == _fresh(root)
    assert again[2:] == (0, 2)  # no request; both projects' verdicts reused
    assert first[1] == 1 and len(first[0]) >= 25


def test_a_changed_tenant_asks_only_about_its_project(root: Path, cache: VerdictCache) -> None:
    _check(root, cache)
    tenant = root / "fleet" / "projects" / "quota" / "tenants" / "first.yaml"
    _edit(tenant, {"owner": "mallory"})  # not a member of quota: a new owner-member deny; no usage changes
    rows, exit_code, requests, reused = _check(root, cache)
    assert (rows, exit_code) == _fresh(root)
    assert requests == 1 and reused == 1  # apps' verdicts kept, quota's asked again
    assert any(r[1] == "policy.owner-member" and r[2] == "tenant:quota/first" for r in rows)
    _edit(tenant, {"owner": "carol"})  # back: the deny goes, and the first run's verdicts come back
    back = _check(root, cache)
    assert back[:2] == _fresh(root) and back[2:] == (0, 2)
    assert not any(r[1] == "policy.owner-member" and r[2] == "tenant:quota/first" for r in back[0])


def test_a_change_to_what_every_part_carries_asks_about_every_project(root: Path, cache: VerdictCache) -> None:
    _check(root, cache)
    tenant = root / "fleet" / "projects" / "quota" / "tenants" / "first.yaml"
    _edit(tenant, {"parameters": {"gpus": 2}})  # its cluster's usage changes: a shared section
    rows, exit_code, requests, reused = _check(root, cache)
    assert (rows, exit_code) == _fresh(root)
    assert requests >= 1 and reused == 0


def test_a_changed_policy_file_asks_again(root: Path, cache: VerdictCache) -> None:
    before = _check(root, cache)
    _set(root, severity={**yaml.safe_load((root / "policies" / "data.yaml").read_text())["vfleet"]["config"]
                         ["severity"], "owner-member": "warn"})
    rows, exit_code, requests, reused = _check(root, cache)
    assert (rows, exit_code) == _fresh(root) and rows != before[0]
    assert requests >= 1 and reused == 0


def test_one_request_policies_reuse_only_an_identical_fleet(root: Path, cache: VerdictCache) -> None:
    _set(root, inputPartition="fleet")
    _check(root, cache)
    again = _check(root, cache)
    assert again[:2] == _fresh(root) and again[2:] == (0, 1)
    _edit(root / "fleet" / "projects" / "quota" / "tenants" / "first.yaml", {"owner": "mallory"})
    changed = _check(root, cache)
    assert changed[:2] == _fresh(root) and changed[2:] == (1, 0)


def test_a_damaged_store_is_asked_again(root: Path, cache: VerdictCache) -> None:
    first = _check(root, cache)
    for store in cache.directory.glob("*.json"):
        store.write_bytes(b'{"shared": {"deny": []}, "projects": ')
    again = _check(root, cache)
    assert again[:2] == first[:2] and again[2] >= 1 and again[3] == 0


def test_an_answer_with_errors_is_never_kept(root: Path, cache: VerdictCache) -> None:
    _set(root, severity={"owner-member": "sometimes"})  # a configuration mistake main reports in errors
    first = _check(root, cache)
    assert first[1] == 2 and any(r[1] == "policy.config" for r in first[0])
    again = _check(root, cache)
    assert again[:2] == first[:2] and again[2] >= 1 and again[3] == 0
    assert not list(cache.directory.glob("*.json"))


def test_parts_and_kept_verdicts_together(root: Path, cache: VerdictCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition, "TENANTS_PER_PART", 1)  # every project its own part, on two processes
    _check(root, cache)
    _edit(root / "fleet" / "projects" / "apps" / "tenants" / "shop.yaml", {"owner": "mallory"})
    rows, exit_code, requests, reused = _check(root, cache)
    assert (rows, exit_code) == _fresh(root) and (requests, reused) == (1, 1)


def test_the_cli_keeps_verdicts_in_the_cache_folder_and_no_cache_keeps_none(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "cli-cache"))
    first = vfleet("check", str(root), "--output", "json")
    again = vfleet("check", str(root), "--output", "json")
    assert first.exit_code == again.exit_code == 1
    assert again.json()["policy"] == {"requests": 0, "reused": 2}
    assert again.json()["findings"] == first.json()["findings"]
    shutil.rmtree(tmp_path / "cli-cache")
    uncached = vfleet("check", str(root), "--output", "json", "--no-cache")
    assert uncached.json()["policy"]["reused"] == 0 and uncached.json()["findings"] == first.json()["findings"]
    assert not (tmp_path / "cli-cache" / "policy").exists()
