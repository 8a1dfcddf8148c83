"""What the engine says, read by pure functions: progress events, change counts, failures, exported state.

Everything here is a function of values the Automation API returns (events, summaries, an exported
deployment, the text of a failure), so what an engine outcome *means* is tested without an engine.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vfleet.apply.decide import Result
from vfleet.apply.orchestrate import Progress
from vfleet.apply.project import PROJECT_NAME
from vfleet.apply.store import Store
from vfleet.apply.targets import StackFacts

STACK_TYPE = "pulumi:pulumi:Stack"


class EventCounter:
    """Engine events -> (done, total) per stack: a resource is done when its outputs (or failure) arrive."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0

    def __call__(self, event: Any) -> None:
        finished = event.res_outputs_event or event.res_op_failed_event
        if finished is not None:
            self.done += 1
            meta = finished.metadata
            self.total = max(self.total, self.done)
            self.progress(self.done, self.total, f"{_op(meta.op)} {urn_name(meta.urn) or meta.type}")
        elif event.summary_event is not None:
            self.progress(self.total, self.total, "done")


def _op(op: Any) -> str:
    return str(getattr(op, "value", op))


def change_counts(changes: Mapping[Any, Any]) -> dict[str, int]:
    """Engine change counts keyed by plain operation names ('create', 'same', ...)."""
    return {_op(k): int(v) for k, v in sorted(changes.items(), key=lambda kv: _op(kv[0])) if int(v)}


_ERROR_LINE = re.compile(r"^\s*(error:.*|\S+ \(\S+\):\s*$|\s+error: .*|\* .*)$", re.MULTILINE)
_PROTECTED = re.compile(r"marked for protection|resource is protected|is protected")
_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|unable to load schema information|"
    r"configured Kubernetes cluster is unreachable|dial tcp"
)


# The engine's words when a plugin dies under it (pulumi pkg/resource/plugin/plugin.go), followed by the
# plugin's own output: a Go panic's first line says what happened.
_CRASHED = re.compile(r"Detected that (\S+) exited prematurely")
_PANIC = re.compile(r"^\s*((?:panic|fatal error): .*)$", re.MULTILINE)


def classify(engine_output: str, state_location: str = "the stack's state in the backend") -> tuple[Result, str]:
    """A failed engine run -> (result, short message). Deleting a protected resource is a refusal."""
    lines = [m.group(0).strip() for m in _ERROR_LINE.finditer(engine_output)]
    detail = " | ".join(dict.fromkeys(line for line in lines if line))[:2000] or engine_output.strip()[-2000:]
    crashed = _CRASHED.search(engine_output)
    if crashed:
        # Checked before "unreachable": once the provider is gone, every resource still waiting on it fails
        # with "dial tcp 127.0.0.1:<port>: connection refused", the port being the provider's own, not the
        # cluster's; reporting that as an unreachable cluster would send the reader to the wrong place.
        panic = _PANIC.search(engine_output)
        said = f" ({panic.group(1).strip()[:300]})" if panic else ""
        return (
            Result.FAILED,
            f"the engine's plugin {os.path.basename(crashed.group(1))} crashed during the run{said}; the engine "
            "calls this a bug of the plugin. The run did not finish: objects it was creating may exist "
            f"unrecorded, and the next apply imports the ones vfleet wrote (docs/apply.md): {detail}",
        )
    if "failed to load checkpoint" in engine_output or "could not deserialize deployment" in engine_output:
        # The engine cannot start from a state it cannot read: nothing ran, and nothing may be re-created.
        return (
            Result.FAILED,
            f"{state_location} cannot be read (truncated or corrupted?), nothing ran: {detail}. Restore it from "
            "a backup (the backend keeps the previous version beside it, `.bak`), or `pulumi stack import` a "
            "good export; vfleet never starts the stack over from an empty state",
        )
    if "the stack is currently locked" in engine_output or "Conflict: Another update" in engine_output:
        return (
            Result.FAILED,
            f"the stack is locked by another update (wait for it, or `pulumi cancel` if it died): {detail}",
        )
    if (
        _PROTECTED.search(engine_output) and "delete" in engine_output
    ):  # pulumi: "unable to delete ... marked for protection"
        return Result.REFUSED, f"refused by the engine: a protected resource would be deleted: {detail}"
    if _UNREACHABLE.search(engine_output):
        return Result.FAILED, f"cluster unreachable: {detail}"
    return Result.FAILED, detail


def pending_creates(deployment: Mapping[str, Any]) -> list[str]:
    """URNs of the creates an interrupted update left pending in an exported stack."""
    ops = deployment.get("pending_operations") or []
    return sorted(
        str(op["resource"]["urn"])
        for op in ops
        if isinstance(op, dict) and op.get("type") == "creating" and isinstance(op.get("resource"), dict)
    )


def without_pending(deployment: Mapping[str, Any]) -> dict[str, Any]:
    ops = deployment.get("pending_operations") or []
    kept = [op for op in ops if not (isinstance(op, dict) and op.get("type") == "creating")]
    return {**deployment, "pending_operations": kept}


def urn_name(urn: str) -> str:
    """The logical name at the end of a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`)."""
    return urn.rsplit("::", 1)[-1] if urn.count("::") >= 3 else ""


def remove_stale_locks(
    backend_url: str, stack: str, *, hostname: str | None = None, alive: Callable[[int], bool] | None = None
) -> list[Path]:
    """Remove this stack's locks on a file:// backend held by a dead process of this host.

    A lock of another host, or of a live process, is never touched; shared backends are left to
    `pulumi cancel`, where a person can see who holds the lock.
    """
    if not backend_url.startswith("file://"):
        return []
    base = Path(backend_url[len("file://") :].split("?", 1)[0]) / ".pulumi" / "locks"
    host = hostname or socket.gethostname()
    is_alive = alive or _pid_alive
    removed: list[Path] = []
    for path in sorted(base.glob(f"**/{PROJECT_NAME}/{stack}/*.json")) + sorted(base.glob(f"{stack}/*.json")):
        try:
            lock = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if lock.get("hostname") == host and isinstance(lock.get("pid"), int) and not is_alive(lock["pid"]):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def stack_locks(store: Store, stack: str) -> list[tuple[str, dict[str, Any]]]:
    """This stack's locks in the backend (project-scoped and legacy layout): (where, what it says)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for prefix in (f".pulumi/locks/organization/{PROJECT_NAME}/{stack}/", f".pulumi/locks/{stack}/"):
        for key in store.keys(prefix):
            if not key.endswith(".json"):
                continue
            try:
                raw = store.read(key)
                lock = json.loads(raw) if raw is not None else None
            except ValueError:
                lock = {}
            if lock is not None:
                found.append((store.where(key), lock if isinstance(lock, dict) else {}))
    return found


def lock_message(stack: str, locks: list[tuple[str, dict[str, Any]]]) -> str:
    """Who holds the stack, since when, where the lock is, and what to do."""
    holders = "; ".join(
        f"{lock.get('username', '?')}@{lock.get('hostname', '?')} (pid {lock.get('pid', '?')}) since "
        f"{lock.get('timestamp', '?')}: {where}"
        for where, lock in locks
    )
    return (
        f"the stack {stack} is locked by another update, nothing ran here: {holders}. Wait for it to end and run "
        f"again; if that runner died, `pulumi cancel --stack {stack} --yes` (PULUMI_BACKEND_URL set) removes the lock"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed process stays a zombie until its parent (or init) reaps it; it holds nothing any more. Where
    # init reaps lazily (containers), a killed engine's lock would otherwise look held for a while.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def stack_facts(deployment: Mapping[str, Any], desired_hash_output: str, fingerprint_output: str) -> StackFacts:
    """What an exported stack says about its last update: its vfleet outputs, pending operations, size."""
    resources = [r for r in deployment.get("resources") or [] if isinstance(r, dict)]
    outputs: Mapping[str, Any] = next(
        (r.get("outputs") or {} for r in resources if r.get("type") == STACK_TYPE and not r.get("parent")), {}
    )

    def text(name: str) -> str | None:
        value = outputs.get(name)
        return value if isinstance(value, str) and value else None

    return StackFacts(
        desired_hash=text(desired_hash_output),
        fingerprint=text(fingerprint_output),
        pending=len(deployment.get("pending_operations") or []),
        resources=len(resources),
    )


def state_urns(deployment: Mapping[str, Any]) -> set[str]:
    """URNs of the resources an exported stack holds (not counting pending operations)."""
    return {str(r["urn"]) for r in deployment.get("resources") or [] if isinstance(r, dict) and "urn" in r}
