"""The state directory: one JSON record per stack run, and what each stack last applied successfully.

Layout (default `<repo>/.vfleet/state`, git-ignored; `VFLEET_STATE_DIR` moves it, e.g. onto a cache a CI
keeps between runs)::

    .pulumi/                         Pulumi's own file:// backend, unless PULUMI_BACKEND_URL names another
    runs/<cluster>/<start>-<op>.json one record per stack run: commit, user, start/end, result, changes
    applied/<cluster>.hash           the desired-state hash of the last successful apply (skip-unchanged)
    applied/<cluster>.json           that desired state (the base the deletion guards compare against)
    applied/<cluster>.sources.json   tenant -> "file:line" it was read from (why a tenant later vanished)

Records never hold a credential: messages from the engine are redacted before they get here, and a
desired state holds none by construction.

A file here that cannot be read as vfleet wrote it — truncated, corrupted, a folder where a file belongs,
a hash without its state — is a `RecordsError` naming it (exit 2), never a silent default: an unreadable
`applied/<cluster>.json` read as "nothing applied" would leave the deletion guards without a base. A
write that fails (a full disk) removes its temporary file and leaves the previous file as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vfleet.desired import DesiredState
from vfleet.errors import VfleetError

STATE_DIR_ENV = "VFLEET_STATE_DIR"
DEFAULT_STATE_DIR = ".vfleet/state"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_HASH = re.compile(r"[0-9a-f]{64}")  # DesiredState.hash: sha256 hex


class RecordsError(VfleetError):
    """A file of the state directory cannot be read or written as vfleet wrote it; the message names it."""


def state_dir(root: Path, env: Mapping[str, str] = os.environ) -> Path:
    value = env.get(STATE_DIR_ENV)
    return Path(value).expanduser().resolve() if value else (root / DEFAULT_STATE_DIR).resolve()


@dataclass(frozen=True)
class Record:
    """One stack run. `result` is a `decide.Result` value; `changes` counts engine steps by operation."""

    cluster: str
    operation: str  # up | preview | destroy
    result: str
    started: str  # ISO 8601, UTC
    ended: str
    commit: str | None
    dirty: bool  # the work tree had uncommitted changes to the fleet
    user: str
    desired_hash: str | None
    wave: int
    changes: dict[str, int] = field(default_factory=dict)
    message: str = ""
    adopted: tuple[str, ...] = ()
    override: str | None = None  # the reason given with --override-guard
    scope: str = ""  # how the engine ran: "targeted: ..." or "full: <why>"
    wave_override: str | None = None  # the reason given with --override-wave-order

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["adopted"] = list(self.adopted)
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Record:
        return Record(**{**data, "adopted": tuple(data.get("adopted", ())), "changes": dict(data.get("changes", {}))})


@dataclass(frozen=True)
class Sources:
    """Where an apply read each tenant: key -> "file:line"; and which of those files Git did not track."""

    tenants: Mapping[str, str]
    untracked: frozenset[str] = frozenset()


class Records:
    """Reads and writes the state directory; every write is atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, record: Record) -> Path:
        stamp = record.started.replace(":", "").replace("-", "").replace("+0000", "Z")
        path = self._folder("runs") / _safe(record.cluster) / f"{_safe(stamp)}-{record.operation}.json"
        _atomic(path, orjson.dumps(record.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return path

    def history(self, cluster: str | None = None, limit: int | None = None) -> list[Record]:
        """Records, newest first; of one cluster or of all. Raises `RecordsError` naming every bad record."""
        base = self._folder("runs")
        try:
            folders = [base / _safe(cluster)] if cluster else sorted(p for p in base.glob("*") if p.is_dir())
            found: list[Record] = []
            bad: list[str] = []
            for folder in folders:
                for path in sorted(folder.glob("*.json")):
                    record = _read_record(path)
                    if isinstance(record, Record):
                        found.append(record)
                    else:
                        bad.append(f"{path}: {record}")
        except OSError as exc:
            raise RecordsError(f"cannot list the run records in {base}: {exc.strerror or exc}") from exc
        if bad:
            # Not skipped: a history that quietly lacks a run misleads whoever audits it.
            raise RecordsError(f"{len(bad)} run record(s) cannot be read (truncated or corrupted?): "
                               + "; ".join(bad) + ". Restore them from a backup, or move them out of "
                               f"{base} (they are not needed to apply)")
        found.sort(key=lambda r: (r.started, r.cluster), reverse=True)
        return found[:limit] if limit is not None else found

    def applied_hash(self, cluster: str) -> str | None:
        """The desired-state hash of the last successful apply; None when nothing is known to be applied."""
        path = self._folder("applied") / f"{_safe(cluster)}.hash"
        data = _read(path)
        if data is None:
            return None
        value = data.decode("utf-8", "replace").strip()
        if not _HASH.fullmatch(value):
            raise RecordsError(
                f"{path} is not a desired-state hash (truncated or corrupted: {value[:20]!r}). Delete it and "
                f"cluster {cluster}'s stack is applied again on the next run (the engine then finds what is "
                "really there)")
        return value

    def applied_hashes(self, clusters: list[str]) -> dict[str, str | None]:
        return {c: self.applied_hash(c) for c in clusters}

    def applied_state(self, cluster: str) -> DesiredState | None:
        """What the last successful apply applied (the deletion guards' base); None when nothing was."""
        folder = self._folder("applied")
        path, hash_path = folder / f"{_safe(cluster)}.json", folder / f"{_safe(cluster)}.hash"
        data = _read(path)
        recorded = self.applied_hash(cluster)
        lost = (f"vfleet cannot tell what cluster {cluster}'s stack last applied, so the deletion guards "
                f"have no base. Restore it from a backup; or see the engine's diff (`vfleet preview --cluster "
                f"{cluster}`) and, if that is what you want, delete {path} and {hash_path}")
        if data is None:
            if recorded is not None:  # save_applied writes the state first: a hash alone is damage
                raise RecordsError(f"{hash_path} exists but {path} is missing. {lost}")
            return None
        if recorded is not None and hashlib.sha256(data).hexdigest() != recorded:
            raise RecordsError(f"{path} does not match {hash_path} (truncated or changed by hand?). {lost}")
        try:
            return DesiredState.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise RecordsError(f"{path} is not a desired state (truncated or corrupted: {exc}). {lost}") from exc

    def known_stacks(self) -> list[str]:
        """Clusters something was ever applied to from this state directory."""
        folder = self._folder("applied")
        try:
            return sorted(p.name[: -len(".hash")] for p in folder.glob("*.hash"))
        except OSError as exc:
            raise RecordsError(f"cannot list {folder}: {exc.strerror or exc}") from exc

    def applied_stacks(self) -> list[str]:
        """Clusters with a recorded applied state (also those whose hash a run in progress invalidated)."""
        folder = self._folder("applied")
        try:
            names = [p.name for p in folder.glob("*.json")]
            return sorted(n[: -len(".json")] for n in names if not n.endswith(".sources.json"))
        except OSError as exc:
            raise RecordsError(f"cannot list {folder}: {exc.strerror or exc}") from exc

    def _folder(self, name: str) -> Path:
        """root/name, refused when it (or the state directory) is there but not a folder."""
        for path in (self.root, self.root / name):
            if path.exists() and not path.is_dir():
                raise RecordsError(f"{path} should be a folder of vfleet's state directory, but is a file; "
                                   f"move it away (and check {STATE_DIR_ENV} points at the state directory)")
        return self.root / name

    def applied_sources(self, cluster: str) -> Sources | None:
        """Where the last successful apply read each tenant; None when not recorded (older records)."""
        path = self._folder("applied") / f"{_safe(cluster)}.sources.json"
        data = _read(path)
        if data is None:
            return None
        try:
            parsed = orjson.loads(data)
            tenants, untracked = parsed["tenants"], parsed["untracked"]
            if not isinstance(tenants, dict) or not all(isinstance(v, str) for v in tenants.values()) \
                    or not isinstance(untracked, list) or not all(isinstance(v, str) for v in untracked):
                raise TypeError("not a map of tenant sources")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise RecordsError(f"{path} is not vfleet's record of tenant sources (truncated or corrupted: {exc}). "
                               "Delete it: vfleet then compares a vanished tenant's whole project folder with "
                               "Git") from exc
        return Sources(tenants, frozenset(untracked))

    def save_applied(self, state: DesiredState, sources: Sources | None = None) -> None:
        """After a successful apply: the state and its sources (first), its hash (last: a crash never skips)."""
        folder = self.root / "applied"
        _atomic(folder / f"{_safe(state.cluster)}.json", state.to_json())
        where = folder / f"{_safe(state.cluster)}.sources.json"
        if sources is None:
            _unlink(where)  # an earlier apply's sources would name files this state did not come from
        else:
            _atomic(where, orjson.dumps({"tenants": dict(sources.tenants), "untracked": sorted(sources.untracked)},
                                        option=orjson.OPT_SORT_KEYS))
        _atomic(folder / f"{_safe(state.cluster)}.hash", state.hash.encode())

    def forget(self, cluster: str) -> None:
        """After a destroy, or before a run that may change the stack: nothing is known to be applied."""
        for suffix in (".hash", ".json", ".sources.json"):
            _unlink(self._folder("applied") / f"{_safe(cluster)}{suffix}")

    def invalidate(self, cluster: str) -> None:
        """Before an engine run: a run that dies half-way must not leave the old hash looking current."""
        _unlink(self._folder("applied") / f"{_safe(cluster)}.hash")


def _safe(name: str) -> str:
    return _SAFE.sub("_", name)


def _read(path: Path) -> bytes | None:
    """The file's bytes; None when it does not exist; `RecordsError` when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder where the file belongs, permissions, I/O errors
        raise RecordsError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_record(path: Path) -> Record | str:
    """One run record, or why it is not one."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        return exc.strerror or str(exc)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("started"), str):
        return "not a run record"
    try:
        return Record.from_json(data)
    except (TypeError, ValueError, AttributeError) as exc:
        return f"not a run record ({exc})"


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise RecordsError(f"cannot remove {path}: {exc.strerror or exc}") from exc


def _atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a temporary file, synced, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # renamed only once the bytes are on disk: a crash never leaves it empty
        tmp.replace(path)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)  # a full disk must not also keep the half-written copy
        raise RecordsError(f"cannot write {path}: {exc.strerror or exc}; the previous version (if any) is "
                           "unchanged") from exc
