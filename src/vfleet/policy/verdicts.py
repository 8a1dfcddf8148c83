"""Verdicts of unchanged subjects, kept from earlier runs: what keeps the policy step linear in the change.

A pull request changes a few tenants; the policies and most of the fleet are what the last check saw.
OPA is then asked only about the projects whose input changed, and the verdicts of the others are the
ones it gave before.

What a verdict may depend on is what the policies declare (vfleet.policy.partition). With input in
parts of whole projects, a verdict about a project or one of its tenants depends on that project's entry,
its tenants' entries and the rest of the input that every part carries (clusters with their usage,
templates, node providers, teams, the platform: the "shared" sections); a verdict about anything else
depends on the shared sections alone. So a run keeps, under the digest of the policies (with the OPA that
ran them) and of the shared sections, one entry per project: the digest of its input -> its verdicts, and
the shared subjects' verdicts. A change to a shared section (a tenant added to a cluster changes that
cluster's usage) or to a policy file starts a new store: every project is asked again. With the whole
fleet in one request (the default), the one unit is the whole input: a verdict is reused only when
nothing changed.

Only clean answers are kept: an answer with `errors` (a configuration mistake, an unreadable result) or
a malformed entry is never stored, so it is reported again by the next run.

The store lives in vfleet's cache folder (`vfleet.core.caches`), outside the repository, like the parse
cache: whoever can write there can make a run see other verdicts. `--no-cache` neither reads nor writes it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vfleet.policy.partition import Partition

VERSION = "v1"
KEEP = 16  # stores kept (the most recently used): a base and a head per policy set, for a few branches
SETS = ("deny", "warn", "excepted")  # the result sets kept; "errors" must be empty for an answer to be kept
SHARED_SECTIONS_OUT = ("projects", "tenants")

Entries = dict[str, list[Any]]  # result set name -> entries, for one unit


def _digest(*parts: bytes) -> str:
    hashed = hashlib.blake2b(digest_size=20)
    for part in parts:
        hashed.update(len(part).to_bytes(8, "little"))
        hashed.update(part)
    return hashed.hexdigest()


@dataclass(frozen=True)
class Units:
    """The input as the units verdicts are kept by: the shared sections, and each project with its tenants."""

    shared: str  # digest of the shared sections (or, for one request, of the whole input)
    projects: Mapping[str, str]  # project name -> digest of its entry and its tenants' entries
    owner: Mapping[str, str]  # subject -> project it belongs to (projects and tenants; others are shared)

    @staticmethod
    def of(document: Mapping[str, Any], partition: Partition) -> Units:
        if partition is Partition.FLEET:
            return Units(_digest(orjson.dumps(document)), {}, {})
        projects: Mapping[str, Any] = document.get("projects") or {}
        tenants: Mapping[str, Any] = document.get("tenants") or {}
        of_project: dict[str, dict[str, Any]] = {name: {} for name in projects}
        owner: dict[str, str] = {}
        for name, project in projects.items():
            owner[str(project.get("subject"))] = name
        for key, tenant in tenants.items():
            of_project.setdefault(tenant["project"], {})[key] = tenant
            owner[str(tenant.get("subject"))] = tenant["project"]
        shared = {key: value for key, value in document.items() if key not in SHARED_SECTIONS_OUT}
        digests = {name: _digest(name.encode(), orjson.dumps(projects.get(name)), orjson.dumps(members))
                   for name, members in of_project.items()}
        return Units(_digest(orjson.dumps(shared)), digests, owner)


@dataclass
class Store:
    """The verdicts kept for one policy set and one content of the shared sections."""

    shared: Entries | None  # the shared subjects' verdicts (None: a new store, with no projects either)
    projects: dict[str, Entries]  # digest of a project's input -> that project's verdicts


def subset(document: Mapping[str, Any], projects: Sequence[str]) -> dict[str, Any]:
    """The input with only `projects` and their tenants (the shared sections as they are)."""
    wanted = set(projects)
    part = {key: value for key, value in document.items() if key not in SHARED_SECTIONS_OUT}
    part["projects"] = {name: p for name, p in (document.get("projects") or {}).items() if name in wanted}
    part["tenants"] = {key: t for key, t in (document.get("tenants") or {}).items() if t["project"] in wanted}
    return part


def split(result: Mapping[str, Any], units: Units) -> tuple[Entries, dict[str, Entries]] | None:
    """A clean result's entries by unit: (shared subjects', {project: its subjects'}); None when the result
    is not one to keep (errors, a malformed entry). Other rules of main (helpers such as `violations`) are
    not part of the answer vfleet reads (vfleet.policy.evaluate), and are not kept."""
    if result.get("errors"):
        return None
    shared: Entries = {}
    projects: dict[str, Entries] = {}
    for name in SETS:
        entries = result.get(name, [])
        if not isinstance(entries, list):
            return None
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("subject"), str):
                return None
            project = units.owner.get(entry["subject"])
            into = shared if project is None else projects.setdefault(project, {})
            into.setdefault(name, []).append(entry)
    return shared, projects


def result_of(units: Sequence[Entries]) -> dict[str, list[Any]]:
    """One result (as OPA's answer holds it) from kept units' entries."""
    result: dict[str, list[Any]] = {name: [] for name in SETS}
    for entries in units:
        for name, values in entries.items():
            result[name].extend(values)
    result["errors"] = []
    return result


class VerdictCache:
    """Stores on disk, one file per (policy fingerprint, shared digest); the `KEEP` most recent are kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def at(cache_root: Path) -> VerdictCache:
        return VerdictCache(cache_root / "policy" / VERSION / "verdicts")

    def _path(self, fingerprint: str, units: Units) -> Path:
        return self.directory / f"{_digest(fingerprint.encode(), units.shared.encode())}.json"

    def read(self, fingerprint: str, units: Units) -> Store:
        """The store for this policy set and shared content; an empty one when none is kept (or it is damaged)."""
        path = self._path(fingerprint, units)
        try:
            raw = orjson.loads(path.read_bytes())
            store = Store(raw["shared"], dict(raw["projects"]))
            if not (store.shared is None or isinstance(store.shared, dict)) or not all(
                isinstance(e, dict) for e in store.projects.values()
            ):
                raise ValueError("not a verdict store")
            os.utime(path)  # used: kept longer than stores nobody reads
        except (OSError, ValueError, KeyError, TypeError):
            return Store(None, {})
        return store

    def write(self, fingerprint: str, units: Units, store: Store) -> None:
        """Keep `store` (atomically: a run reading meanwhile sees the old one or the new one); best effort."""
        current = set(units.projects.values())
        others = [digest for digest in store.projects if digest not in current]
        for digest in others[len(current):]:  # the current fleet's units, and as many others at most
            del store.projects[digest]
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, staging = tempfile.mkstemp(dir=self.directory, prefix=".verdicts-")
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps({"shared": store.shared, "projects": store.projects}))
            os.replace(staging, self._path(fingerprint, units))
            self._prune()
        except OSError:
            return  # a cache that cannot be written costs the next run time, never a verdict

    def _prune(self) -> None:
        stores = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for stale in stores[KEEP:]:
            stale.unlink(missing_ok=True)
