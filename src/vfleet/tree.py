"""Where the fleet's files come from: the work tree, or a Git revision read without a checkout.

Both expose the same small interface — list files under a prefix with their Git blob ids, read a
file — so every later stage is blind to the difference, and caches can key on blob ids: the same
content has the same id in the work tree and in any commit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from vfleet.errors import VfleetError

# Specs are small; anything bigger is a mistake or an attack (a YAML bomb needs no size, but a
# multi-megabyte file in fleet/ is never legitimate and would cost seconds to parse).
MAX_FILE_BYTES = 2 * 1024 * 1024


class TreeError(VfleetError):
    """The tree itself cannot be read: not a directory, not a Git repository, unknown revision."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # repo-relative, POSIX separators
    blob: str  # Git blob id (sha1 hex) of the content


class Tree(Protocol):
    """A read-only view of a repository's files at one point in time."""

    label: str  # for messages: "work tree /repo" or "commit abc1234"
    revision: str | None  # commit sha for Git trees, None for the work tree

    def files(self, prefix: str) -> list[FileEntry]: ...

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

    def files(self, prefix: str) -> list[FileEntry]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        entries = [FileEntry(rel, self._blob_id(rel)) for rel in self._walk(str(base))]
        return sorted(entries, key=lambda e: e.path)

    def _blob_id(self, rel: str) -> str:
        try:
            return git_blob_id(self.read(rel))
        except TreeError:
            return f"unreadable:{rel}"  # `read` raises again for the loader, which reports it

    def _walk(self, base: str) -> Iterator[str]:
        # os.scandir with the directory entries' own type information: no stat per file, which is
        # most of the listing cost of a 10,000-tenant fleet.
        root = str(self.root) + os.sep
        stack = [base]
        while stack:
            folder = stack.pop()
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.startswith(".") or entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        yield entry.path.removeprefix(root).replace(os.sep, "/")

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
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENOENT, errno.ENOTDIR):
                raise FileNotFoundError(path) from None
            raise
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise FileNotFoundError(path)
            if info.st_size > MAX_FILE_BYTES:
                raise TreeError(f"{path}: file is larger than {MAX_FILE_BYTES // 1024} KiB")
            data = handle.read()
        self._cache[path] = data
        return data

    def exists(self, path: str) -> bool:
        rel = safe_relpath(path)
        return rel is not None and (self.root / rel).is_file() and not (self.root / rel).is_symlink()


class GitTree:
    """Files of one commit, read from Git's object database; the work tree is never touched."""

    def __init__(self, repo_path: Path, rev: str) -> None:
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
        # One `git ls-tree` lists every blob with its id and mode: 10 ms for 10,000 files, where walking
        # the tree objects in gitpython takes 0.2 s.
        listing = self._repo.git.ls_tree("-r", "-z", "--full-tree", commit.hexsha, strip_newline_in_stdout=False)
        self._entries: dict[str, tuple[str, int]] = {}
        for record in listing.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, kind, sha = meta.split(" ")
            if kind == "blob" and path.startswith(self._prefix):
                self._entries[path[len(self._prefix):]] = (sha, int(mode, 8))
        self._cache: dict[str, bytes] = {}

    def blobs(self) -> dict[str, tuple[str, int]]:
        """Every blob below the fleet root, hidden files and symlinks included: path -> (blob id, mode)."""
        return dict(self._entries)

    def files(self, prefix: str) -> list[FileEntry]:
        head = prefix.rstrip("/") + "/"
        return sorted(
            (
                FileEntry(path, blob)
                for path, (blob, mode) in self._entries.items()
                if path.startswith(head) and mode != 0o120000 and not _hidden(path)
            ),
            key=lambda e: e.path,
        )

    def read(self, path: str) -> bytes:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        entry = self._entries.get(path)
        if entry is None or entry[1] == 0o120000:
            raise FileNotFoundError(path)
        stream = self._repo.odb.stream(bytes.fromhex(entry[0]))
        if stream.size > MAX_FILE_BYTES:
            raise TreeError(f"{path}: file is larger than {MAX_FILE_BYTES // 1024} KiB")
        data: bytes = stream.read()
        self._cache[path] = data
        return data

    def exists(self, path: str) -> bool:
        entry = self._entries.get(path)
        return entry is not None and entry[1] != 0o120000


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


def open_tree(root: Path, rev: str | None = None) -> Tree:
    """The work tree at `root`, or the commit `rev` of the Git repository that contains `root`."""
    return WorkTree(root) if rev is None else GitTree(root, rev)
