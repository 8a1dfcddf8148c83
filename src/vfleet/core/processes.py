"""Local helper processes (OPA servers, loopback clusters): started with their output in a log, watched,
stopped; and the free 127.0.0.1 ports they listen on.

A `Process` is a record, not a handle: it survives being written to a file and read back by another
vfleet process (`vfleet dev clusters down`). So a pid alone never decides: the process's start time
(from /proc) must match too, or a pid reused by an unrelated process would be signalled. Processes this
vfleet process started are also kept as `Popen`s, so that checking on one reaps it (no zombies) and its
exit code is known.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 15.0  # after SIGTERM, before SIGKILL; kube-apiserver needs ~3 s
_KILL_WAIT_S = 5.0
_POLL_S = 0.05
TAIL_LINES = 20

# The children of this OS process: a registry of what it is, not per-run state.
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()
_ports_lock = threading.Lock()
_ports_given: set[int] = set()


@dataclass(frozen=True, slots=True)
class Process:
    """One started process: what it is for, its pid, when it started, where its output goes."""

    role: str
    pid: int
    # Start time in clock ticks since boot (/proc/<pid>/stat): never signal a process that reused the pid.
    started: int
    log: Path


def spawn(role: str, argv: list[str], log: Path, *, env: Mapping[str, str] | None = None) -> Process:
    """Start `argv` with stdout and stderr appended to `log` and no stdin, in a session of its own: a
    Ctrl-C at the terminal reaches vfleet, which stops its helpers in order, rather than all of them at
    once. Raises OSError when the binary cannot be run."""
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=None if env is None else dict(env),
        )
    with _children_lock:
        _children[child.pid] = child
    return Process(role=role, pid=child.pid, started=_start_ticks(child.pid) or 0, log=log)


def stop(process: Process, grace_s: float = STOP_GRACE_S, first: signal.Signals = signal.SIGTERM) -> bool:
    """`first` (SIGTERM), then SIGKILL once `grace_s` has passed; True once the process is gone."""
    with _children_lock:
        child = _children.get(process.pid)
    for sig, wait_s in ((first, grace_s), (signal.SIGKILL, _KILL_WAIT_S)):
        if not alive(process):
            break
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            break
        if child is not None:  # ours: wait for its exit itself, not in polling steps (a stop is ~1 ms)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=wait_s)
            continue
        deadline = time.monotonic() + wait_s
        while alive(process) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
    gone = not alive(process)
    if gone:
        forget(process)
    return gone


def forget(process: Process) -> None:
    """Stop tracking a process that is gone (its exit code is no longer asked for)."""
    with _children_lock:
        _children.pop(process.pid, None)


def alive(process: Process) -> bool:
    with _children_lock:
        child = _children.get(process.pid)
    if child is not None:
        return child.poll() is None  # also reaps it, so no zombie is left behind
    ticks = _start_ticks(process.pid, running_only=True)
    return ticks is not None and ticks == process.started


def exit_code(process: Process) -> int | None:
    """The exit code of a process this vfleet process started and that has exited; else None."""
    with _children_lock:
        child = _children.get(process.pid)
    return child.poll() if child is not None else None


def tail(log: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a log, for an error message."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now, never handed out twice by this process (helpers start in
    parallel). Another process can still take one before it is bound: callers retry on "address already
    in use"."""
    with _ports_lock:
        sockets: list[socket.socket] = []
        ports: list[int] = []
        try:
            while len(ports) < count:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
                if port not in _ports_given:
                    ports.append(port)
        finally:
            for sock in sockets:
                sock.close()
        _ports_given.update(ports)
        return ports


def _start_ticks(pid: int, *, running_only: bool = False) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name in parentheses may contain spaces
    if running_only and fields[0] == "Z":
        return None
    return int(fields[19])
