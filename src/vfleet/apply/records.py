"""The state directory: one JSON record per stack run, and what each stack last applied successfully.

Layout (default `<repo>/.vfleet/state`, git-ignored; `VFLEET_STATE_DIR` moves it, e.g. onto a cache a CI
keeps between runs)::

    .pulumi/                         Pulumi's own file:// backend, unless PULUMI_BACKEND_URL names another
    runs/<cluster>/<start>-<op>.json one record per stack run: commit, user, start/end, result, changes
    applied/<cluster>.hash           the desired-state hash of the last successful apply (skip-unchanged)
    applied/<cluster>.json           that desired state (the base the deletion guards compare against)
    applied/<cluster>.sources.json   tenant -> "file:line" it was read from (why a tenant later vanished)
    applied/<cluster>.unfinished     an engine run started and has not succeeded since

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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vfleet.apply.store import DirStore, RecordsError, Store, open_store
from vfleet.core.naming import file_part
from vfleet.desired import DesiredState

STATE_DIR_ENV = "VFLEET_STATE_DIR"
DEFAULT_STATE_DIR = ".vfleet/state"
_HASH = re.compile(r"[0-9a-f]{64}")  # DesiredState.hash: sha256 hex


def state_dir(root: Path, env: Mapping[str, str] = os.environ) -> Path:
    value = env.get(STATE_DIR_ENV)
    return Path(value).expanduser().resolve() if value else (root / DEFAULT_STATE_DIR).resolve()


def open_records(root: Path, env: Mapping[str, str] = os.environ) -> Records:
    """The records every runner of this backend shares (`store.for_backend`: the state directory, the
    file:// backend's folder, or the s3:// backend's bucket)."""
    return Records(open_store(state_dir(root, env), env))


__all__ = ["Record", "Records", "RecordsError", "Sources", "open_records", "state_dir"]


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
    """Reads and writes the records in a `store.Store` (a folder, or the backend's bucket); every write is
    whole or not at all. `Records(path)` is the folder at `path`."""

    def __init__(self, where: Path | Store) -> None:
        self.store: Store = DirStore(where) if isinstance(where, Path) else where

    @property
    def description(self) -> str:
        return self.store.description

    def write(self, record: Record) -> str:
        stamp = record.started.replace(":", "").replace("-", "").replace("+0000", "Z")
        key = f"runs/{file_part(record.cluster)}/{file_part(stamp)}-{record.operation}.json"
        self.store.write(key, orjson.dumps(record.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return self.store.where(key)

    def history(self, cluster: str | None = None, limit: int | None = None) -> list[Record]:
        """Records, newest first; of one cluster or of all. Raises `RecordsError` naming every bad record."""
        keys = self.store.keys(f"runs/{file_part(cluster)}/" if cluster else "runs/")
        found: list[Record] = []
        bad: list[str] = []
        for key in keys:
            if not key.endswith(".json") or key.count("/") != 2:
                continue  # not where vfleet writes a record (a note someone left): not a record to read
            record = _parse_record(self.store, key)
            if isinstance(record, Record):
                found.append(record)
            else:
                bad.append(f"{self.store.where(key)}: {record}")
        if bad:
            # Not skipped: a history that quietly lacks a run misleads whoever audits it.
            raise RecordsError(f"{len(bad)} run record(s) cannot be read (truncated or corrupted?): "
                               + "; ".join(bad) + ". Restore them from a backup, or move them out of "
                               f"{self.store.where('runs')} (they are not needed to apply)")
        found.sort(key=lambda r: (r.started, r.cluster), reverse=True)
        return found[:limit] if limit is not None else found

    def applied_hash(self, cluster: str) -> str | None:
        """The desired-state hash of the last successful apply; None when nothing is known to be applied."""
        key = f"applied/{file_part(cluster)}.hash"
        data = self.store.read(key)
        if data is None:
            return None
        value = data.decode("utf-8", "replace").strip()
        if not _HASH.fullmatch(value):
            raise RecordsError(
                f"{self.store.where(key)} is not a desired-state hash (truncated or corrupted: {value[:20]!r}). "
                f"Delete it and cluster {cluster}'s stack is applied again on the next run (the engine then "
                "finds what is really there)")
        return value

    def applied_hashes(self, clusters: Sequence[str]) -> dict[str, str | None]:
        """Each cluster's applied hash; read concurrently (a fresh CI runner asks a bucket for every stack)."""
        if len(clusters) < 4 or isinstance(self.store, DirStore):
            return {c: self.applied_hash(c) for c in clusters}
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="records") as pool:
            return dict(zip(clusters, pool.map(self.applied_hash, clusters), strict=True))

    def applied_state(self, cluster: str) -> DesiredState | None:
        """What the last successful apply applied (the deletion guards' base); None when nothing was."""
        key, hash_key = f"applied/{file_part(cluster)}.json", f"applied/{file_part(cluster)}.hash"
        path, hash_path = self.store.where(key), self.store.where(hash_key)
        data = self.store.read(key)
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

    def applied_sources(self, cluster: str) -> Sources | None:
        """Where the last successful apply read each tenant; None when not recorded (older records)."""
        key = f"applied/{file_part(cluster)}.sources.json"
        data = self.store.read(key)
        if data is None:
            return None
        try:
            parsed = orjson.loads(data)
            tenants, untracked = parsed["tenants"], parsed["untracked"]
            if not isinstance(tenants, dict) or not all(isinstance(v, str) for v in tenants.values()) \
                    or not isinstance(untracked, list) or not all(isinstance(v, str) for v in untracked):
                raise TypeError("not a map of tenant sources")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise RecordsError(f"{self.store.where(key)} is not vfleet's record of tenant sources (truncated or "
                               f"corrupted: {exc}). Delete it: vfleet then compares a vanished tenant's whole "
                               "project folder with Git") from exc
        return Sources(tenants, frozenset(untracked))

    def known_stacks(self) -> list[str]:
        """Clusters something was ever applied to (as these records know)."""
        return sorted(k[len("applied/") : -len(".hash")] for k in self.store.keys("applied/") if k.endswith(".hash"))

    def applied_stacks(self) -> list[str]:
        """Clusters with a recorded applied state (also those whose hash a run in progress invalidated)."""
        keys = self.store.keys("applied/")
        return sorted(k[len("applied/") : -len(".json")] for k in keys
                      if k.endswith(".json") and not k.endswith(".sources.json"))

    def save_applied(self, state: DesiredState, sources: Sources | None = None) -> None:
        """After a successful apply: the state and its sources (first), its hash (last: a crash never skips)."""
        name = file_part(state.cluster)
        self.store.write(f"applied/{name}.json", state.to_json())
        if sources is None:
            self.store.delete(f"applied/{name}.sources.json")  # an earlier apply's would name other files
        else:
            self.store.write(f"applied/{name}.sources.json", orjson.dumps(
                {"tenants": dict(sources.tenants), "untracked": sorted(sources.untracked)},
                option=orjson.OPT_SORT_KEYS))
        self.store.write(f"applied/{name}.hash", state.hash.encode())
        self.store.delete(f"applied/{name}.unfinished")

    def forget(self, cluster: str) -> None:
        """After a destroy: nothing is known to be applied."""
        for suffix in (".hash", ".json", ".sources.json", ".unfinished"):
            self.store.delete(f"applied/{file_part(cluster)}{suffix}")

    def invalidate(self, cluster: str) -> None:
        """Before an engine run: a run that dies half-way must not leave the old hash looking current, and
        the next run must know this one did not finish (`unfinished`)."""
        self.store.write(f"applied/{file_part(cluster)}.unfinished", b"an engine run started and has not succeeded\n")
        self.store.delete(f"applied/{file_part(cluster)}.hash")

    def unfinished(self, cluster: str) -> bool:
        """An engine run of this stack started and did not succeed (failed, killed, its answers lost)."""
        return self.store.read(f"applied/{file_part(cluster)}.unfinished") is not None


def _parse_record(store: Store, key: str) -> Record | str:
    """One run record, or why it is not one."""
    try:
        raw = store.read(key)
    except RecordsError as exc:
        return str(exc)
    if raw is None:
        return "gone while it was read"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("started"), str):
        return "not a run record"
    try:
        return Record.from_json(data)
    except (TypeError, ValueError, AttributeError) as exc:
        return f"not a run record ({exc})"
