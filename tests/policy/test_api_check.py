"""vfleet.api.check against a real OPA: what `vfleet check` reports, with its caches, as a library call."""

from __future__ import annotations

from pathlib import Path

import pytest

from policykit import fleet_with_policies, vfleet
from vfleet import api
from vfleet.policy import CheckReport

pytestmark = pytest.mark.policy


def _rows(report: CheckReport) -> set[tuple[object, ...]]:
    return {(f.severity.value, f.code, f.subject, f.location.file if f.location else None,
             f.location.line if f.location else None) for f in report.findings}


def test_check_gives_the_commands_verdicts_and_keeps_them_for_the_next_run(tmp_path: Path) -> None:
    root = fleet_with_policies("violations", tmp_path / "fleet")
    first = api.check(root / "fleet")  # the fleet/ folder finds its repository
    assert first.exit_code == 1 and first.requests >= 1 and first.reused == 0
    command = vfleet("check", str(root), "--output", "json", "--no-cache")
    assert command.exit_code == first.exit_code
    assert len(command.json()["findings"]) == len(first.findings)
    again = api.check(root)  # the same fleet: every project answered by the verdicts of the first run
    assert _rows(again) == _rows(first) and again.exit_code == first.exit_code
    assert again.reused > 0 and again.requests == 0
    fresh = api.check(root, no_cache=True)  # keeps nothing, reads nothing
    assert _rows(fresh) == _rows(first) and fresh.reused == 0 and fresh.requests >= 1
