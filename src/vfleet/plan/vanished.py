"""Tenants that leave a stack's last applied state: named, with the reason, before anything runs.

A desired state that shrinks deletes live tenants on the next apply. Every other guard looks at the
change between two compiles; this one looks at what the stack *has* (its last successful apply, from the
records) against what the new compile wants, and asks why each missing tenant is missing:

| reason        | means                                                                  | apply            |
|---------------|------------------------------------------------------------------------|------------------|
| `moved`       | the tenant now lives on another cluster (the move guard speaks for it)  | goes ahead       |
| `deleted`     | Git deleted its spec: the file is gone from Git, or the file is as Git  | goes ahead (the  |
|               | has it and no longer defines the tenant                                | other guards too)|
| `uncommitted` | the work tree differs from Git where the tenant was defined             | refused (an      |
|               | (an edit or a removal Git does not know about, an untracked file)      | override passes) |
| `unreadable`  | Git has the tenant's file, the work tree has it, the compile read none  | refused, always  |
|               | of it: vfleet itself missed it                                         |                  |
| `no-git`      | not a Git work tree: nothing shows the deletion was meant              | refused (an      |
|               |                                                                        | override passes) |

"Git" is the index for a work-tree compile (`git rm` is a deletion Git knows, as in docs/files.md) and
the revision itself for a plan's `--head`. Where the last apply's records do not say which file defined a
tenant (records written before they did), the tenant's project folder as a whole is compared with Git.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from vfleet.core import subjects
from vfleet.core.findings import Finding, Location, Severity
from vfleet.desired import DesiredState
from vfleet.load import FLEET_DIR, Document, layout
from vfleet.repo import gitindex

# Blob id of a path as Git has it (None: not in Git); as the compile read it (None: not read).
BlobOf = Callable[[str], str | None]


class Reason(StrEnum):
    MOVED = "moved"
    DELETED = "deleted"
    UNCOMMITTED = "uncommitted"
    UNREADABLE = "unreadable"
    NO_GIT = "no-git"


ALLOWED = (Reason.MOVED, Reason.DELETED)
_OVERRIDABLE = (Reason.UNCOMMITTED, Reason.NO_GIT)


@dataclass(frozen=True)
class Vanished:
    """A tenant in a stack's last applied state that the new desired state of that stack lacks."""

    cluster: str
    tenant: str
    reason: Reason
    detail: str  # why, in words, naming the file
    source: str | None  # "file:line" the last apply read the tenant from (None: not recorded)
    overridden: bool = False

    @property
    def blocking(self) -> bool:
        return self.reason not in ALLOWED and not self.overridden

    @property
    def overridable(self) -> bool:
        return self.reason in _OVERRIDABLE

    @property
    def file(self) -> str | None:
        return self.source.rsplit(":", 1)[0] if self.source else None

    @property
    def code(self) -> str:
        return f"guard.vanished.{self.reason.value}"

    @property
    def message(self) -> str:
        text = f"tenant {self.tenant} leaves cluster {self.cluster} ({self.reason.value}): {self.detail}"
        if self.reason is Reason.UNREADABLE:
            text += "; vfleet refuses to delete what it did not read (no override)"
        elif self.overridable and not self.overridden:
            text += "; commit the deletion (or `git rm` the file), or override with a reason"
        return text

    def finding(self) -> Finding:
        """DENY when it stops the apply, WARN when overridden, INFO when the reason lets it go ahead."""
        severity = Severity.DENY if self.blocking else Severity.WARN if self.overridden else Severity.INFO
        text = self.message + (" (overridden)" if self.overridden else "")
        return Finding(severity, self.code, text, _location(self.source), subjects.tenant(self.tenant))


@dataclass(frozen=True)
class Side:
    """What the new compile saw, and what Git has, for the files the missing tenants came from."""

    git: BlobOf | None  # None: not a Git work tree (or Git's index unreadable)
    read: BlobOf  # files the compile read
    present: Callable[[str], bool]  # the path exists in what was compiled (the work tree, or the revision)
    git_label: str  # "Git's index", "commit 1a2b3c4d5e"
    folder_files: Callable[[str], tuple[dict[str, str], dict[str, str]]]  # prefix -> (Git's, read) path->blob


def find(
    cluster: str,
    applied: set[str] | frozenset[str],
    sources: Mapping[str, str] | None,
    wanted: set[str] | frozenset[str],
    placement: Mapping[str, str],
    side: Side,
    *,
    override: str | None = None,
    untracked: frozenset[str] = frozenset(),
) -> list[Vanished]:
    """Every tenant of `applied` (the stack's last applied tenants) not in `wanted`, with its reason.

    `sources` maps tenant key -> "file:line" as the last apply read it, `untracked` the files among them
    Git did not track then; `placement` is the new fleet's tenant -> cluster.
    """
    out: list[Vanished] = []
    for key in sorted(applied - wanted):
        source = (sources or {}).get(key)
        now = placement.get(key)
        if now is not None and now != cluster:
            out.append(Vanished(cluster, key, Reason.MOVED, f"it now lives on cluster {now}", source))
            continue
        reason, detail = _why(key, source, side, untracked)
        out.append(Vanished(cluster, key, reason, detail, source,
                            overridden=override is not None and reason in _OVERRIDABLE))
    return out


def _why(key: str, source: str | None, side: Side, untracked: frozenset[str]) -> tuple[Reason, str]:
    if side.git is None:
        return Reason.NO_GIT, "not a Git work tree, so nothing shows that its deletion was meant"
    if source is None:
        return _why_folder(key, side)
    path = source.rsplit(":", 1)[0]
    in_git, read = side.git(path), side.read(path)
    if read is not None:
        if in_git == read:
            return Reason.DELETED, f"{path} is as {side.git_label} has it and no longer defines it"
        if in_git is None:
            return Reason.UNCOMMITTED, f"{path} is not in {side.git_label} (untracked) and no longer defines it"
        return Reason.UNCOMMITTED, f"{path} differs from {side.git_label} (an uncommitted edit removed it)"
    if not side.present(path):
        if in_git is None and path in untracked:
            return Reason.UNCOMMITTED, f"{path} was never in Git (untracked when it was applied) and is gone"
        if in_git is None:
            return Reason.DELETED, f"{path} was deleted in Git"
        return Reason.UNCOMMITTED, f"{path} is in {side.git_label} but missing from the work tree"
    return Reason.UNREADABLE, f"{path} is there but the compile did not read it"


def _why_folder(key: str, side: Side) -> tuple[Reason, str]:
    """No recorded source: the tenant's project folder must be exactly as Git has it."""
    project = key.split("/", 1)[0]
    folder = f"{FLEET_DIR}/projects/{project}/tenants/"
    in_git, read = side.folder_files(folder)
    if in_git == read:
        return Reason.DELETED, (f"the records do not say which file defined it, and {folder} is exactly as "
                                f"{side.git_label} has it")
    differ = sorted(p for p in in_git.keys() | read.keys() if in_git.get(p) != read.get(p))
    return Reason.UNCOMMITTED, (f"the records do not say which file defined it, and {folder} differs from "
                                f"{side.git_label}: {', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''}")


def _location(source: str | None) -> Location | None:
    if not source:
        return None
    path, _, line = source.rpartition(":")
    return Location(path, int(line)) if path and line.isdigit() else Location(source)


def tenants_of(state: DesiredState) -> set[str]:
    return {r.tenant for r in state.resources if r.tenant is not None}


def untracked_of(root: Path, files: Iterable[str]) -> frozenset[str]:
    """The files Git's index lacks (all of them outside Git: nothing there is a deletion Git knows)."""
    index = gitindex.index_blobs(root, FLEET_DIR) if gitindex.in_git_work_tree(root) else None
    return frozenset(f for f in files if index is None or f not in index)


def work_tree_side(root: Path, documents: Iterable[Document]) -> Side:
    """A work-tree compile against Git's index (listed once, and only when a tenant is missing)."""
    read = {doc.file: doc.blob for doc in documents}

    @cache
    def index() -> dict[str, str] | None:
        return gitindex.index_blobs(root, FLEET_DIR)

    def git(path: str) -> str | None:
        return (index() or {}).get(path)

    def folder(prefix: str) -> tuple[dict[str, str], dict[str, str]]:
        return _specs_under(index() or {}, prefix), _specs_under(read, prefix)

    return Side(git if index() is not None else None, read.get,
                lambda path: os.path.lexists(root / path), "Git's index", folder)


def revision_side(entries: Mapping[str, str], label: str) -> Side:
    """A compile of a Git revision: Git is the revision itself, and it reads every spec file it has."""
    return listing_side(entries, label, entries)


def listing_side(entries: Mapping[str, str], label: str, git: Mapping[str, str] | None) -> Side:
    """A clean compile of a listing (path -> blob: a revision, or the work tree as the plan lists it), which
    read every spec file listed, against `git` (the revision itself, or Git's index; None outside Git)."""
    specs = _specs_under(entries, FLEET_DIR + "/")

    def folder(prefix: str) -> tuple[dict[str, str], dict[str, str]]:
        return _specs_under(git or {}, prefix), _specs_under(specs, prefix)

    return Side(git.get if git is not None else None, specs.get, entries.__contains__, label, folder)


@dataclass(frozen=True)
class Applied:
    """What a stack's last successful apply holds, as far as this module needs it."""

    tenants: frozenset[str]
    sources: Mapping[str, str] | None  # tenant -> "file:line"; None when the records do not say
    untracked: frozenset[str] = frozenset()


def in_plan(applied: Mapping[str, Applied], wanted: Mapping[str, str], side: Side, *,
            override: str | None) -> list[Vanished]:
    """`find` for every stack of `applied`, against the plan's head (`wanted`: tenant -> cluster)."""
    out: list[Vanished] = []
    for cluster, stack in sorted(applied.items()):
        mine = {key for key, where in wanted.items() if where == cluster}
        if not stack.tenants <= mine:
            out += find(cluster, set(stack.tenants), stack.sources, mine, wanted, side, override=override,
                        untracked=stack.untracked)
    return out


def _specs_under(blobs: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The YAML spec files under `prefix` (what a compile reads, not what a rule ignores)."""
    return {p: b for p, b in blobs.items()
            if p.startswith(prefix) and not layout.ignored_by_rule(p.rsplit("/", 1)[-1])
            and p.endswith((".yaml", ".yml"))}
