"""The state directory: one JSON record per stack run, and what each stack last applied successfully.

Layout (default `<repo>/.vfleet/state`, git-ignored; `VFLEET_STATE_DIR` moves it, e.g. onto a cache a CI
keeps between runs)::

    .pulumi/                         Pulumi's own file:// backend, unless PULUMI_BACKEND_URL names another
    runs/<cluster>/<start>-<op>.json one record per stack run: commit, user, start/end, result, changes
    applied/<cluster>.hash           the desired-state hash of the last successful apply (skip-unchanged)
    applied/<cluster>.json           that desired state (the base the deletion guards compare against)

Records never hold a credential: messages from the engine are redacted before they get here, and a
desired state holds none by construction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vfleet.desired import DesiredState

STATE_DIR_ENV = "VFLEET_STATE_DIR"
DEFAULT_STATE_DIR = ".vfleet/state"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["adopted"] = list(self.adopted)
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Record:
        return Record(**{**data, "adopted": tuple(data.get("adopted", ())), "changes": dict(data.get("changes", {}))})


class Records:
    """Reads and writes the state directory; every write is atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, record: Record) -> Path:
        stamp = record.started.replace(":", "").replace("-", "").replace("+0000", "Z")
        path = self.root / "runs" / _safe(record.cluster) / f"{_safe(stamp)}-{record.operation}.json"
        _atomic(path, orjson.dumps(record.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return path

    def history(self, cluster: str | None = None, limit: int | None = None) -> list[Record]:
        """Records, newest first; of one cluster or of all."""
        base = self.root / "runs"
        folders = [base / _safe(cluster)] if cluster else sorted(p for p in base.glob("*") if p.is_dir())
        found: list[Record] = []
        for folder in folders:
            for path in folder.glob("*.json"):
                try:
                    found.append(Record.from_json(orjson.loads(path.read_bytes())))
                except (OSError, orjson.JSONDecodeError, TypeError):
                    continue  # a record someone truncated is not a reason to hide the others
        found.sort(key=lambda r: (r.started, r.cluster), reverse=True)
        return found[:limit] if limit is not None else found

    def applied_hash(self, cluster: str) -> str | None:
        try:
            return (self.root / "applied" / f"{_safe(cluster)}.hash").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def applied_hashes(self, clusters: list[str]) -> dict[str, str | None]:
        return {c: self.applied_hash(c) for c in clusters}

    def applied_state(self, cluster: str) -> DesiredState | None:
        try:
            return DesiredState.from_json((self.root / "applied" / f"{_safe(cluster)}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            return None

    def known_stacks(self) -> list[str]:
        """Clusters something was ever applied to from this state directory."""
        return sorted(p.name[: -len(".hash")] for p in (self.root / "applied").glob("*.hash"))

    def save_applied(self, state: DesiredState) -> None:
        """After a successful apply: the state (first) and its hash (last, so a crash never skips)."""
        _atomic(self.root / "applied" / f"{_safe(state.cluster)}.json", state.to_json())
        _atomic(self.root / "applied" / f"{_safe(state.cluster)}.hash", state.hash.encode())

    def forget(self, cluster: str) -> None:
        """After a destroy, or before a run that may change the stack: nothing is known to be applied."""
        for suffix in (".hash", ".json"):
            (self.root / "applied" / f"{_safe(cluster)}{suffix}").unlink(missing_ok=True)

    def invalidate(self, cluster: str) -> None:
        """Before an engine run: a run that dies half-way must not leave the old hash looking current."""
        (self.root / "applied" / f"{_safe(cluster)}.hash").unlink(missing_ok=True)


def _safe(name: str) -> str:
    return _SAFE.sub("_", name)


def _atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
