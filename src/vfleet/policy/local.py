"""Local OPA servers: `opa run --server` processes of the pinned binary (`vfleet.toolchain`), one per lane.

Each listens on a free 127.0.0.1 port with the policy files loaded from a temporary folder, and runs with
its Go collector tuned for one check (`_go_runtime`, `lane_memory`). A port taken between the probe and
OPA's bind is retried; a process that does not come up says why (policies that do not compile, a
binary that does not run) as a `PolicyError`: the gate fails closed.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfleet import toolchain
from vfleet.core import processes
from vfleet.load import POLICIES_DIR
from vfleet.policy.client import QUERY_TIMEOUT_S, FleetClient, Lane
from vfleet.policy.policyset import PolicyError, PolicySet

_READY_TIMEOUT_S = 20.0
_STOP_GRACE_S = 5.0  # OPA itself gives requests in flight 1 s (--shutdown-grace-period)
_READY_POLL_S = 0.002  # OPA is ready ~30 ms after it starts; polling every 20 ms made that ~44 ms
# Per OPA process: where the local OPA's garbage collector starts working (see _go_runtime).
_GO_MEMORY_LIMIT = "512MiB"  # one process: it may get the whole fleet in one request
_GO_MEMORY_LIMIT_LANES = "256MiB"  # the least for processes side by side, each given parts of the input
# What a whole `vfleet check` may hold, vfleet and its OPA processes together (issue 15's 3 GiB), and what
# vfleet itself holds per tenant at its peak (a whole check: 2,116 MiB at 100,000 tenants, ~22 KiB; 23 with
# a margin). What is left goes to the lanes, 256 to 512 MiB each.
CHECK_BUDGET_MIB = 3072
VFLEET_KIB_PER_TENANT = 23


@dataclass(frozen=True)
class Servers:
    """Local OPA processes with one policy set loaded, each ready to answer."""

    first: Lane
    others: list[Lane]  # started with the first, for input in parts
    start: Callable[[], Lane] = field(repr=False)  # one more, stopped with the others
    file_prefix: str  # how OPA names the policy files (the temporary folder); shown as policies/
    fingerprint: str  # of the policy files and the OPA binary that runs them


@contextmanager
def run(policies: PolicySet, lanes: int, memory: str) -> Iterator[Servers]:
    """`lanes` `opa run --server` processes on free 127.0.0.1 ports, each with a `memory` ceiling
    (`lane_memory`), the policy files in a temporary folder; all stopped when the block ends, also on
    errors."""
    try:
        opa = toolchain.binary("opa")
    except toolchain.ToolMissing as exc:
        raise PolicyError("policy.opa-missing", f"cannot evaluate policies: {exc}") from exc
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vfleet-opa-")))
        bundle = workdir / POLICIES_DIR
        bundle.mkdir()
        policies.write(bundle)
        started = itertools.count(1)
        registering = threading.Lock()  # lanes starting side by side register their stops on one stack

        def start() -> Lane:
            log = workdir / f"opa-{next(started)}.log"
            return _start_ready(stack, registering, opa, bundle, log, policies, memory)

        # The other lanes start while the first does: one start is ~30 ms of a core, mostly OPA
        # compiling the policies, and a lane started only when its first part is ready waits for it.
        with ThreadPoolExecutor(max_workers=max(1, lanes - 1), thread_name_prefix="vfleet-opa-start") as pool:
            others = [pool.submit(start) for _ in range(lanes - 1)]
            first = start()
            prestarted = [lane.result() for lane in others]
        binary = opa.stat()
        fingerprint = policies.fingerprint(f"{opa} {binary.st_size} {binary.st_mtime_ns}")
        yield Servers(first, prestarted, start, f"{bundle}/", fingerprint)


def _start_ready(
    stack: ExitStack, registering: threading.Lock, opa: Path, bundle: Path, log: Path, policies: PolicySet,
    memory: str,
) -> Lane:
    """One `opa run --server` on a free port, ready to answer; stopped when `stack` closes."""
    for attempt in range(3):
        (port,) = processes.free_ports(1)
        with registering:
            process = _start(opa, port, bundle, log, memory)
            stack.callback(_stop, process)
        client = FleetClient(host="127.0.0.1", port=port, timeout=QUERY_TIMEOUT_S, retries=0)
        with registering:
            stack.callback(client.close_connection)
        if _wait_ready(process, client):
            return client, f"http://127.0.0.1:{port}"
        # OPA names files by their temporary path; show them as the repository's policies/.
        output = log.read_text(errors="replace").strip().replace(f"{bundle}/", f"{POLICIES_DIR}/")
        if "address already in use" in output and attempt < 2:
            continue  # another process took the port between our probe and OPA's bind
        raise _startup_error(process, output, policies, opa)
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _start(opa: Path, port: int, bundle: Path, log: Path, memory: str) -> processes.Process:
    args = [
        str(opa), "run", "--server",
        "--addr", f"127.0.0.1:{port}",
        "--skip-version-check",  # no call home: CI has no internet, and a check is not our business
        "--log-level", "error",
        "--shutdown-grace-period", "1",
        "--ignore", "*_test.rego",  # unit tests are for `opa test`; they are not part of the policy
        "--ignore", ".*",
        str(bundle),
    ]
    try:
        return processes.spawn("opa", args, log, env=_go_runtime(os.environ, memory))
    except OSError as exc:
        raise PolicyError("policy.opa-missing", f"cannot run {opa}: {exc}. Rebuild it with: "
                          f"{toolchain.build_command('opa')}") from exc


def lane_memory(lanes: int, tenants: int | None) -> str:
    """The memory ceiling of each local OPA process (GOMEMLIMIT; `_go_runtime` says why there is one).

    One process: 512 MiB. Several, side by side: what `CHECK_BUDGET_MIB` leaves once vfleet holds a
    fleet of `tenants`, shared out, between 256 and 512 MiB, in steps of 64. The ceiling is what the
    processes trade memory for time with: at 10,000 tenants, 512 MiB each answered the policy requests
    in 0.75 s where 256 MiB took 0.95 s; at 100,000 whole checks peaked at 2.67 GiB with 256 MiB lanes,
    2.88 GiB with 384 MiB (what this gives there) and 3.03 GiB with 448 MiB (docs/performance.md).
    """
    if lanes <= 1:
        return _GO_MEMORY_LIMIT
    if tenants is None:
        return _GO_MEMORY_LIMIT_LANES
    left = CHECK_BUDGET_MIB - tenants * VFLEET_KIB_PER_TENANT // 1024
    each = max(256, min(512, left // lanes // 64 * 64))
    return f"{each}MiB"


def _go_runtime(environ: Mapping[str, str], memory: str = _GO_MEMORY_LIMIT) -> dict[str, str]:
    """The local server's environment: ours, with the Go collector tuned for big requests.

    Turning a 10,000-tenant input (~15 MB of JSON) into Rego values allocates a few hundred MB of small
    objects that all stay live until the query is answered; with Go's default GOGC=100 the collector
    rescans them again and again: a quarter to a third of OPA's CPU time (measured on the synthetic
    fleet: 2.0 -> 1.6 s CPU, peak memory 370 -> 435 MB). This server lives for one check, so the
    collector only runs near a memory ceiling (`memory`, GOMEMLIMIT: a soft limit).

    `memory` is `lane_memory`'s: 512 MiB for one process, which may be sent a whole 10,000-tenant fleet
    in one request; 256 to 512 MiB each for several given parts of the input, by the fleet's size.

    A GOGC or GOMEMLIMIT set by the user wins.
    """
    env = dict(environ)
    if "GOGC" not in env and "GOMEMLIMIT" not in env:
        env["GOGC"] = "off"
        env["GOMEMLIMIT"] = memory
    return env


def _wait_ready(process: processes.Process, client: Any) -> bool:
    """Poll /health until OPA answers; False as soon as the process has exited (or after the timeout)."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not processes.alive(process):
            return False
        if client.check_health():  # GET /health; False while the port is not open yet
            return True
        time.sleep(_READY_POLL_S)
    return False


def _startup_error(process: processes.Process, output: str, policies: PolicySet, opa: Path) -> PolicyError:
    if processes.alive(process):
        return PolicyError("policy.unreachable", f"{opa} did not become ready within {_READY_TIMEOUT_S:.0f} s. "
                           f"Its output:\n{output or '(none)'}")
    if "rego_" in output or "load error" in output:
        return PolicyError("policy.compile", f"the policies in {policies.origin} do not compile; nothing can be "
                           f"checked until they do. Fix them (`vfleet policy test` shows the same errors):\n{output}")
    return PolicyError("policy.unreachable", f"{opa} exited with code {processes.exit_code(process)} at start-up:\n"
                       f"{output or '(no output)'}")


def _stop(process: processes.Process) -> None:
    processes.stop(process, grace_s=_STOP_GRACE_S)
