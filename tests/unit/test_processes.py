"""vfleet.core.processes: the one supervisor of vfleet's local helper processes (OPA servers, loopback clusters)."""

from __future__ import annotations

import signal
import sys
from dataclasses import replace
from pathlib import Path

from vfleet.core import processes


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_process_runs_logs_and_stops(tmp_path: Path) -> None:
    log = tmp_path / "helper.log"
    process = processes.spawn("helper", _python("import sys, time; print('up', flush=True); "
                                                "print('to stderr', file=sys.stderr, flush=True); time.sleep(60)"), log)
    try:
        while "to stderr" not in log.read_text():
            assert processes.alive(process)
        assert processes.alive(process)
        assert process.started > 0 and process.role == "helper"
        assert processes.exit_code(process) is None
    finally:
        assert processes.stop(process, grace_s=5)
    assert not processes.alive(process)
    assert processes.tail(log).splitlines() == ["up", "to stderr"]  # both streams, in order


def test_one_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
            "time.sleep(60)")
    log = tmp_path / "stubborn.log"
    process = processes.spawn("stubborn", _python(code), log)
    while "ready" not in log.read_text():  # SIGTERM is ignored only from here on
        assert processes.alive(process)
    assert processes.stop(process, grace_s=0.2)
    assert not processes.alive(process)


def test_the_exit_code_of_one_that_ended(tmp_path: Path) -> None:
    process = processes.spawn("short", _python("raise SystemExit(7)"), tmp_path / "short.log")
    while processes.alive(process):
        pass
    assert processes.exit_code(process) == 7


def test_the_environment_is_the_one_given(tmp_path: Path) -> None:
    log = tmp_path / "env.log"
    process = processes.spawn("env", _python("import os; print(os.environ.get('VFLEET_PROBE'))"), log,
                              env={"VFLEET_PROBE": "given", "PATH": "/bin"})
    while processes.alive(process):
        pass
    assert processes.tail(log) == "given"


def test_a_recorded_pid_with_another_start_time_is_not_ours(tmp_path: Path) -> None:
    """A record read back from a file (`vfleet dev clusters down`) whose pid was reused by another
    process: neither alive nor signalled."""
    process = processes.spawn("sleeper", _python("import time; time.sleep(60)"), tmp_path / "sleeper.log")
    try:
        stranger = replace(process, started=process.started + 1)
        processes.forget(stranger)  # as read back by another vfleet process: no Popen to ask
        assert not processes.alive(stranger)
        assert processes.stop(stranger, grace_s=0.1)  # "gone" as far as the record goes: nothing is signalled
        assert processes.alive(process)
    finally:
        processes.stop(process, grace_s=5)


def test_ports_are_never_handed_out_twice() -> None:
    first = processes.free_ports(3)
    second = processes.free_ports(3)
    assert len(set(first + second)) == 6
    assert all(1024 < port < 65536 for port in first + second)


def test_a_missing_log_tail_says_so(tmp_path: Path) -> None:
    assert processes.tail(tmp_path / "never-written.log") == "(no log)"


def test_the_first_signal_can_be_another_than_sigterm(tmp_path: Path) -> None:
    """`restart_apiserver(kill_signal=...)`: the process gets the signal asked for, not SIGTERM."""
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "def interrupted(*_):\n    print('interrupted', flush=True); sys.exit(0)\n"
            "signal.signal(signal.SIGINT, interrupted)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    log = tmp_path / "interruptible.log"
    process = processes.spawn("interruptible", _python(code), log)
    while "ready" not in log.read_text():
        assert processes.alive(process)
    assert processes.stop(process, grace_s=30, first=signal.SIGINT)
    assert processes.tail(log).splitlines() == ["ready", "interrupted"]  # ended by SIGINT, not killed
