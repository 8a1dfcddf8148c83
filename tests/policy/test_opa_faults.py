"""Faults of the policy tier: the real OPA killed (SIGKILL) while `vfleet check` runs.

The check is the real CLI in its own process, with the local OPA it starts; the test finds that OPA
among the CLI's children and kills it at start-up, or in the middle of evaluating (a policy made slow on
purpose keeps the request in flight). Whatever the moment: exit 2, an error that says OPA went away, no
verdict at all (a half-answered check must never read as a pass), and nothing written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from policykit import fleet_with_policies

pytestmark = pytest.mark.policy

VFLEET = str(Path(sys.executable).with_name("vfleet"))

# 9 million pairs: OPA needs ~10 s of CPU for it on this machine, so the request is surely in flight
# when the test has seen OPA spend a second.
SLOW = """package vfleet.rules.slow

violation contains {"rule": "slow", "subject": "project:none", "message": "never"} if {
\tn := count({i | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); i == j + 100000})
\tn > 0
}
"""


def _children(pid: int, name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == name:
            found.append(int(entry))
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone: the check stops its idle lanes as it ends
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("moment", ["starting", "evaluating"])
def test_opa_killed_during_check_is_exit_2_with_no_verdict(tmp_path: Path, moment: str) -> None:
    fleet = fleet_with_policies("violations", tmp_path / "fleet")
    (fleet / "policies" / "rules" / "slow.rego").write_text(SLOW)
    before = _snapshot(fleet)
    check = subprocess.Popen([VFLEET, "check", str(fleet), "--output", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        opa: list[int] = []
        while not opa:
            assert check.poll() is None, "the check ended before its OPA was seen"
            assert time.monotonic() < deadline, "no OPA child appeared"
            opa = _children(check.pid, "opa")
            time.sleep(0.005)
        victim = opa[0]
        if moment == "evaluating":
            # The check starts one OPA per core (lanes); the one-part fleet keeps one of them busy, and
            # that is the one to kill. Start-up and loading the policies take ~0.1 s of CPU.
            busy: list[int] = []
            while not busy:
                assert check.poll() is None, "the check ended before OPA was killed"
                assert time.monotonic() < deadline, "OPA never got busy"
                time.sleep(0.02)
                busy = [pid for pid in _children(check.pid, "opa") if _cpu_seconds(pid) >= 1.0]
            victim = busy[0]
        os.kill(victim, signal.SIGKILL)
        out, err = check.communicate(timeout=60)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()
    assert check.returncode == 2, err.decode()
    report = orjson.loads(out)
    assert report["exitCode"] == 2
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["code"] for f in errors] == ["policy.unreachable"], errors
    expected = "exited with code -9 at start-up" if moment == "starting" else "lost the connection to OPA"
    assert expected in errors[0]["message"]
    assert not [f for f in report["findings"] if f["severity"] in {"deny", "warn", "info"}], "no verdict without OPA"
    assert _snapshot(fleet) == before  # nothing written into the repository
