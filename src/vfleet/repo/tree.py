"""Where the fleet's files come from: the work tree, or a Git revision read without a checkout.

Both expose the same small interface — list files under a prefix with their Git blob ids, read a
file — so every later stage is blind to the difference, and caches can key on blob ids: the same
content has the same id in the work tree and in any commit.

`files()` lists only regular, visible files. Everything else found under a prefix — hidden entries,
symbolic links, submodules, special files, unreadable folders, and in a work tree the files Git tracks
that are missing from disk or that Git ignores — is reported by `unlisted()`, never dropped: the loader
(`vfleet.load.layout`) decides whether each is ignored by a documented rule or is an error (docs/files.md).
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Protocol

from vfleet.core.errors import VfleetError
from vfleet.repo import gitindex

# Specs are small; anything bigger is a mistake or an attack (a YAML bomb needs no size, but a
# multi-megabyte file in fleet/ is never legitimate and would cost seconds to parse).
MAX_FILE_BYTES = 2 * 1024 * 1024
# The one exception: the placement lock that `vfleet place` writes, one ~32-byte line per tenant
# (3.2 MB at 100,000 tenants), read by a line regex, not a YAML parser. 64 MiB is two million tenants.
LOCK_FILE = "fleet/placement.lock"
MAX_LOCK_BYTES = 64 * 1024 * 1024


class TreeError(VfleetError):
    """The tree itself cannot be read: not a directory, not a Git repository, unknown revision."""


def max_bytes(path: str) -> int:
    """The largest file vfleet reads at `path` (repo-relative)."""
    return MAX_LOCK_BYTES if path == LOCK_FILE else MAX_FILE_BYTES


def _too_large(path: str) -> TreeError:
    return TreeError(f"{path}: file is larger than {max_bytes(path) // 1024} KiB")


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # repo-relative, POSIX separators
    blob: str  # Git blob id (sha1 hex) of the content


class Kind(StrEnum):
    """What an entry that `files()` leaves out is."""

    FILE = "file"  # a regular file with a hidden name
    DIRECTORY = "directory"  # a hidden folder (not descended)
    SYMLINK = "symlink"
    SPECIAL = "special"  # FIFO, socket, device
    UNREADABLE = "unreadable"  # a folder or file the process may not read
    SUBMODULE = "submodule"  # a Git submodule or a nested repository (not descended)
    NOT_CHECKED_OUT = "not-checked-out"  # in Git's index, missing from the work tree
    GIT_IGNORED = "git-ignored"  # on disk (and listed by files()), but ignored by Git
    GIT_ERROR = "git-error"  # Git's index could not be read


@dataclass(frozen=True, slots=True)
class Unlisted:
    path: str  # repo-relative, POSIX separators
    kind: Kind
    detail: str = ""  # for messages: a link's target and what it resolves to, an OS error, a Git rule


# Entries that stand for everything below them: their content is reported (or ignored) as a whole.
_COVERING = (Kind.DIRECTORY, Kind.SUBMODULE, Kind.UNREADABLE, Kind.SYMLINK)


def _against_git(pending: gitindex.Pending, on_disk: list[str], odd: list[Unlisted]) -> list[Unlisted]:
    """Index entries under the prefix missing from disk, and listed files that Git ignores."""
    if not pending.active:
        return []
    try:
        index = pending.index()
        listed = set(on_disk)
        seen = {u.path for u in odd}
        covering = tuple(u.path + "/" for u in odd if u.kind in _COVERING)
        found: list[Unlisted] = []
        for path in index.keys() - listed:  # C-speed set difference: nearly always empty
            meta = index[path]
            if path in seen or path.startswith(covering):
                continue
            if meta[2:].startswith(gitindex.GITLINK):
                found.append(Unlisted(path, Kind.SUBMODULE, "in Git's index"))
            else:
                found.append(Unlisted(path, Kind.NOT_CHECKED_OUT, "sparse" if meta[0] == "S" else "deleted"))
        untracked = sorted(listed - index.keys())
        if untracked:
            found.extend(Unlisted(path, Kind.GIT_IGNORED, rule)
                         for path, rule in gitindex.ignored(pending.root, untracked))
        return found
    except (gitindex.GitFailed, OSError) as exc:
        return [Unlisted(pending.prefix, Kind.GIT_ERROR, str(exc))]


class Tree(Protocol):
    """A read-only view of a repository's files at one point in time."""

    label: str  # for messages: "work tree /repo" or "commit abc1234"
    revision: str | None  # commit sha for Git trees, None for the work tree

    def files(self, prefix: str) -> list[FileEntry]: ...

    def unlisted(self, prefix: str) -> list[Unlisted]: ...

    def read(self, path: str) -> bytes: ...

    def exists(self, path: str) -> bool: ...


def git_blob_id(data: bytes) -> str:
    """The id Git gives this content (`git hash-object`), so work-tree and commit caches agree."""
    digest = hashlib.sha1(b"blob %d\0" % len(data), usedforsecurity=False)
    digest.update(data)
    return digest.hexdigest()


def safe_relpath(path: str) -> str | None:
    """Normalise a repo-relative path; None if it is absolute or climbs out of the repository."""
    if not path or "\\" in path or "\0" in path:
        return None
    if not path.startswith("/") and "//" not in path and not any(
        part in (".", "..") for part in path.split("/")
    ):
        return path.rstrip("/") or None  # already normal: the common case, without pathlib's cost
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part == ".." for part in pure.parts):
        return None
    return pure.as_posix()


class WorkTree:
    """Files on disk under `root`. Symlinks are not followed: a link could point outside the repo."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise TreeError(f"{root}: not a directory (expected a repository with fleet/ and templates/)")
        self.root = root.resolve()
        self.label = f"work tree {self.root}"
        self.revision: str | None = None
        self._cache: dict[str, bytes] = {}
        self._blobs: dict[str, str] = {}  # listed twice in a check: once to size the policy step
        self._scans: dict[str, tuple[list[str], list[Unlisted]]] = {}
        self._unlisted: dict[str, list[Unlisted]] = {}

    def files(self, prefix: str) -> list[FileEntry]:
        paths, _ = self._scan(prefix)
        return [FileEntry(rel, self._blob_id(rel)) for rel in paths]

    def unlisted(self, prefix: str) -> list[Unlisted]:
        found = self._unlisted.get(prefix)
        if found is None:
            # Git reads its index while this process walks the folders (when they were not walked yet).
            pending = gitindex.Pending(self.root, prefix)
            paths, odd = self._scan(prefix)
            found = self._unlisted[prefix] = sorted(
                [*odd, *_against_git(pending, paths, odd)], key=lambda u: u.path
            )
        return found

    def _blob_id(self, rel: str) -> str:
        blob = self._blobs.get(rel)
        if blob is None:
            try:
                blob = git_blob_id(self.read(rel))
            except (TreeError, FileNotFoundError):
                blob = f"unreadable:{rel}"  # `read` raises again for the loader, which reports it
            self._blobs[rel] = blob
        return blob

    def _scan(self, prefix: str) -> tuple[list[str], list[Unlisted]]:
        scan = self._scans.get(prefix)
        if scan is None:
            base = self.root / prefix
            paths: list[str] = []
            odd: list[Unlisted] = []
            if base.is_dir() and not base.is_symlink():
                self._walk(str(base), paths, odd)
            elif base.is_symlink():
                odd.append(self._link(prefix))
            scan = self._scans[prefix] = (sorted(paths), odd)
        return scan

    def _walk(self, base: str, paths: list[str], odd: list[Unlisted]) -> None:
        # os.scandir with the directory entries' own type information: no stat per file, which is
        # most of the listing cost of a 10,000-tenant fleet.
        root = str(self.root) + os.sep
        stack = [base]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                odd.append(Unlisted(folder.removeprefix(root).replace(os.sep, "/"), Kind.UNREADABLE,
                                    exc.strerror or str(exc)))
                continue
            if folder != base and any(e.name == ".git" for e in entries):
                # A submodule or a nested repository: its files belong to another repository's history.
                odd.append(Unlisted(folder.removeprefix(root).replace(os.sep, "/"), Kind.SUBMODULE))
                continue
            for entry in entries:
                rel = entry.path.removeprefix(root).replace(os.sep, "/")
                if entry.is_symlink():
                    odd.append(self._link(rel))
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name.startswith("."):
                        odd.append(Unlisted(rel, Kind.DIRECTORY))
                    else:
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    if entry.name.startswith("."):
                        odd.append(Unlisted(rel, Kind.FILE))
                    else:
                        paths.append(rel)
                else:
                    odd.append(Unlisted(rel, Kind.SPECIAL))

    def _link(self, rel: str) -> Unlisted:
        """A symbolic link and what it would resolve to, for the message (it is never followed)."""
        full = os.path.join(self.root, rel)
        try:
            target = os.readlink(full)
        except OSError as exc:
            return Unlisted(rel, Kind.SYMLINK, exc.strerror or str(exc))
        try:
            resolved = Path(os.path.realpath(full, strict=True))
        except OSError as exc:
            what = "a loop" if exc.errno == errno.ELOOP else "dangling"
            return Unlisted(rel, Kind.SYMLINK, f"-> {target} ({what})")
        inside = resolved == self.root or self.root in resolved.parents
        return Unlisted(rel, Kind.SYMLINK, f"-> {target} ({'inside' if inside else 'outside'} the repository)")

    def read(self, path: str) -> bytes:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        rel = safe_relpath(path)
        if rel is None:
            raise TreeError(f"{path}: path leaves the repository")
        full = os.path.join(self.root, rel)
        try:
            # O_NOFOLLOW: a symlink (which could point outside the repository) is never opened.
            # O_NONBLOCK: opening a FIFO someone put in its place must not hang the compile.
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENOENT, errno.ENOTDIR):
                raise FileNotFoundError(path) from None
            raise TreeError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise FileNotFoundError(path)
            if info.st_size > max_bytes(path):
                raise _too_large(path)
            try:
                data = handle.read()
            except OSError as exc:  # EIO and the like: a finding for this file, not a crash
                raise TreeError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
        self._cache[path] = data
        return data

    def exists(self, path: str) -> bool:
        rel = safe_relpath(path)
        return rel is not None and (self.root / rel).is_file() and not (self.root / rel).is_symlink()


_SYMLINK_MODE = 0o120000
_GITLINK_MODE = 0o160000


@dataclass(frozen=True)
class Listing:
    """Every blob of a commit below the fleet root, and its submodules (which are never read)."""

    blobs: dict[str, tuple[str, int]]  # path (relative to the fleet root) -> (blob id, mode), in path order
    gitlinks: tuple[str, ...]


class Lister(Protocol):
    """How a `GitTree` gets its listing: `ls_tree`, or a cache of listings (vfleet.plan.listings)."""

    def __call__(self, repo: Any, commit: str, prefix: str) -> Listing: ...


_LS_TREE_RECORD = re.compile(r"([0-7]+) (\w+) ([0-9a-f]+)\t([^\0]*)\0")  # `ls-tree -z`: mode kind id\tpath\0


def ls_tree(repo: Any, commit: str, prefix: str) -> Listing:
    """One `git ls-tree` lists every blob with its id and mode: 10 ms for 10,000 files, where walking the
    tree objects in gitpython takes 0.2 s. `prefix`: the fleet's folder in the repository ("" or "a/b/")."""
    listing = repo.git.ls_tree("-r", "-z", "--full-tree", commit, strip_newline_in_stdout=False)
    blobs: dict[str, tuple[str, int]] = {}
    gitlinks: list[str] = []
    cut = len(prefix)
    for mode, kind, sha, path in _LS_TREE_RECORD.findall(listing):
        if not path.startswith(prefix):
            continue
        if kind == "blob":
            blobs[path[cut:]] = (sha, int(mode, 8))
        elif kind == "commit":
            gitlinks.append(path[cut:])
    return Listing(blobs, tuple(gitlinks))



class GitTree:
    """Files of one commit, read from Git's object database; the work tree is never touched."""

    def __init__(self, repo_path: Path, rev: str, lister: Lister = ls_tree) -> None:
        import git  # gitpython is only needed when a revision is read

        try:
            self._repo = git.Repo(repo_path, search_parent_directories=True)
            commit = self._repo.commit(rev)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise TreeError(f"{repo_path}: not a Git repository") from exc
        except (git.BadName, ValueError) as exc:
            raise TreeError(f"{rev!r}: no such revision in {repo_path}") from exc
        self.revision: str | None = commit.hexsha
        self.label = f"commit {commit.hexsha[:12]}"
        # The fleet may live in a sub-folder of the repository: read paths relative to it.
        top = Path(self._repo.working_tree_dir or repo_path).resolve()
        sub = repo_path.resolve().relative_to(top).as_posix()
        self._prefix = "" if sub == "." else sub + "/"
        listing = lister(self._repo, commit.hexsha, self._prefix)
        self._entries = listing.blobs
        self._gitlinks = listing.gitlinks
        self._cache: dict[str, bytes] = {}
        self._odd_entries: list[tuple[str, str, int]] | None = None

    def blobs(self) -> Mapping[str, tuple[str, int]]:
        """Every blob below the fleet root, hidden files and symlinks included: path -> (blob id, mode),
        in path order (not a copy: 100,000 entries at the fleet's largest)."""
        return MappingProxyType(self._entries)

    def files(self, prefix: str) -> list[FileEntry]:
        head = prefix.rstrip("/") + "/"
        return sorted(
            (
                FileEntry(path, blob)
                for path, (blob, mode) in self._entries.items()
                if path.startswith(head) and mode != _SYMLINK_MODE and not _hidden(path)
            ),
            key=lambda e: e.path,
        )

    def unlisted(self, prefix: str) -> list[Unlisted]:
        """What `files` leaves out, as a work tree would report it (a hidden folder once, not per file)."""
        head = prefix.rstrip("/") + "/"
        found: dict[str, Unlisted] = {}
        for path, blob, mode in self._odd():
            if not path.startswith(head):
                continue
            hidden = _hidden_part(path)
            if hidden is not None:
                kind = Kind.FILE if hidden == path else Kind.DIRECTORY
                found.setdefault(hidden, Unlisted(hidden, kind))
            elif mode == _SYMLINK_MODE:
                target = self._repo.odb.stream(bytes.fromhex(blob)).read().decode("utf-8", "backslashreplace")
                found[path] = Unlisted(path, Kind.SYMLINK, f"-> {target} ({self._resolves(path, target)})")
        for path in self._gitlinks:
            if path.startswith(head):
                found[path] = Unlisted(path, Kind.SUBMODULE)
        return sorted(found.values(), key=lambda u: u.path)

    def _odd(self) -> list[tuple[str, str, int]]:
        """The hidden paths and symlinks of the commit, found in one pass: a plan asks for them ~8 times
        of a 100,000-file listing that has none."""
        if self._odd_entries is None:
            self._odd_entries = [(path, blob, mode) for path, (blob, mode) in self._entries.items()
                                 if mode == _SYMLINK_MODE or path.startswith(".") or "/." in path]
        return self._odd_entries

    def _resolves(self, path: str, target: str) -> str:
        """Where a link in the commit points, judged inside the commit (links are never followed)."""
        seen = {path}
        while True:
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if target.startswith("/") or joined == ".." or joined.startswith("../"):
                return "outside the repository"
            entry = self._entries.get(joined)
            if entry is None:
                inside = any(p.startswith(joined + "/") for p in self._entries)
                return "inside the repository" if inside else "dangling"
            if entry[1] != _SYMLINK_MODE:
                return "inside the repository"
            if joined in seen:
                return "a loop"
            seen.add(joined)
            path, target = joined, self._repo.odb.stream(bytes.fromhex(entry[0])).read().decode("utf-8", "replace")

    def read(self, path: str) -> bytes:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        entry = self._entries.get(path)
        if entry is None or entry[1] == _SYMLINK_MODE:
            raise FileNotFoundError(path)
        stream = self._repo.odb.stream(bytes.fromhex(entry[0]))
        if stream.size > max_bytes(path):
            raise _too_large(path)
        data: bytes = stream.read()
        self._cache[path] = data
        return data

    def exists(self, path: str) -> bool:
        entry = self._entries.get(path)
        return entry is not None and entry[1] != _SYMLINK_MODE


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


def _hidden_part(path: str) -> str | None:
    """The path up to its first hidden component, or None when nothing on it is hidden."""
    if not (path.startswith(".") or "/." in path):
        return None
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("."):
            return "/".join(parts[: i + 1])
    return None  # pragma: no cover - "/." was in the path


def open_tree(root: Path, rev: str | None = None) -> Tree:
    """The work tree at `root`, or the commit `rev` of the Git repository that contains `root`."""
    return WorkTree(root) if rev is None else GitTree(root, rev)
