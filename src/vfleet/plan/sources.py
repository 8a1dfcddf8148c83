"""The two sides of a plan as file maps, and partial views of them for compiling only what changed.

A side (a Git revision, or the work tree) is first listed as `path -> blob id` for everything the compile
and the policy gate read (`fleet/`, `templates/`, `policies/`), with exactly the rules of `vfleet.tree`
(no hidden paths, no symlinks). Git revisions are listed with one `git ls-tree` (no checkout, no walk of
tree objects in Python); the work tree with `vfleet.tree.WorkTree`. The sorted map's hash is the side's
content key: equal keys mean equal inputs, whichever commit or work tree they come from.

`Slice` is a `vfleet.tree.Tree` over a side that hides every tenant file but a chosen set. Compiling it
with `compile_fleet(tree=...)` runs the real stages on all the fleet's shared specs (clusters, projects,
templates, teams, node providers, the lock) and only the chosen tenants.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vfleet.load import FLEET_DIR, POLICIES_DIR, TEMPLATES_DIR
from vfleet.tree import MAX_FILE_BYTES, FileEntry, Tree, TreeError, WorkTree

LISTED = (FLEET_DIR, TEMPLATES_DIR, POLICIES_DIR)
TENANT_FILE = re.compile(rf"^{FLEET_DIR}/projects/([^/]+)/tenants/[^/]+\.ya?ml$")
_SYMLINK = 0o120000


def is_tenant_file(path: str) -> bool:
    return TENANT_FILE.match(path) is not None


def _hidden(path: str) -> bool:
    """Some part of the path starts with a dot (what vfleet.tree never lists)."""
    return path.startswith(".") or "/." in path


@dataclass
class Source:
    """One side of a plan: its listing, its content key, and a reader for its files."""

    root: Path
    rev: str | None  # as given; None for the work tree
    commit: str | None
    label: str
    entries: dict[str, str]  # path -> blob, listed as Tree.files would list it, sorted by path
    reader: Tree  # reads any file of the side
    _key: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        if self._key is None:
            digest = hashlib.sha256()
            for path, blob in self.entries.items():
                digest.update(f"{path}\0{blob}\n".encode())
            self._key = digest.hexdigest()
        return self._key

    def slice(self, tenant_files: Collection[str] | None) -> Slice:
        """A view with every shared spec and only `tenant_files` of the tenants (None: all of them)."""
        return Slice(self, None if tenant_files is None else frozenset(tenant_files))

    def tenant_files(self) -> list[str]:
        return [p for p in self.entries if is_tenant_file(p)]


class Slice:
    """A `Tree` over a side that lists only some tenant files (every other file is there, unchanged)."""

    def __init__(self, source: Source, keep: frozenset[str] | None) -> None:
        self.source = source
        self.keep = keep
        self.label = source.reader.label
        self.revision = source.reader.revision
        root = getattr(source.reader, "root", None)
        if isinstance(root, Path):
            self.root = root  # render looks for symlinks on disk to explain a missing values file

    def files(self, prefix: str) -> list[FileEntry]:
        head = prefix.rstrip("/") + "/"
        keep = self.keep
        return [
            FileEntry(path, blob)
            for path, blob in self.source.entries.items()
            if path.startswith(head) and (keep is None or path in keep or not is_tenant_file(path))
        ]

    def read(self, path: str) -> bytes:
        return self.source.reader.read(path)

    def exists(self, path: str) -> bool:
        return self.source.reader.exists(path)


class _GitReader:
    """Reads blobs of one commit by path, from the object database (what `vfleet.tree.GitTree` does, without
    walking every tree object up front: the paths and blob ids come from one `git ls-tree`)."""

    def __init__(self, repo: object, commit: str, entries: dict[str, tuple[str, int]]) -> None:
        self._repo = repo
        self._entries = entries
        self.revision: str | None = commit
        self.label = f"commit {commit[:12]}"
        self._cache: dict[str, bytes] = {}

    def files(self, prefix: str) -> list[FileEntry]:
        head = prefix.rstrip("/") + "/"
        return sorted((FileEntry(p, b) for p, (b, m) in self._entries.items()
                       if p.startswith(head) and m != _SYMLINK and not _hidden(p)), key=lambda e: e.path)

    def read(self, path: str) -> bytes:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        entry = self._entries.get(path)
        if entry is None or entry[1] == _SYMLINK:
            raise FileNotFoundError(path)
        stream = self._repo.odb.stream(bytes.fromhex(entry[0]))  # type: ignore[attr-defined]
        if stream.size > MAX_FILE_BYTES:
            raise TreeError(f"{path}: file is larger than {MAX_FILE_BYTES // 1024} KiB")
        data: bytes = stream.read()
        self._cache[path] = data
        return data

    def exists(self, path: str) -> bool:
        entry = self._entries.get(path)
        return entry is not None and entry[1] != _SYMLINK


def git_source(root: Path, rev: str) -> Source:
    """The files of revision `rev` of the repository holding `root` (the fleet may be a sub-folder)."""
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
        commit = repo.commit(rev)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise TreeError(f"{root}: not a Git repository") from exc
    except (git.BadName, ValueError) as exc:
        raise TreeError(f"{rev!r}: no such revision in {root}") from exc
    top = Path(repo.working_tree_dir or root).resolve()
    sub = root.resolve().relative_to(top).as_posix()
    prefix = "" if sub == "." else sub + "/"
    # The whole commit below the fleet root: the compile reads fleet/, templates/ and the lock; reading any
    # other path (a hidden file, say) must behave as GitTree does.
    raw = repo.git.ls_tree("-r", "-z", "--full-tree", commit.hexsha, "--", prefix or ".")
    everything: dict[str, tuple[str, int]] = {}
    for record in raw.split("\0"):
        if not record:
            continue
        meta, path = record.split("\t", 1)
        mode, kind, blob = meta.split(" ")
        if kind == "blob" and path.startswith(prefix):
            everything[path[len(prefix):]] = (blob, int(mode, 8))
    entries = {
        p: b for p, (b, m) in sorted(everything.items())
        if p.split("/", 1)[0] in LISTED and m != _SYMLINK and not _hidden(p)
    }
    reader = _GitReader(repo, commit.hexsha, everything)
    return Source(root, rev, commit.hexsha, reader.label, entries, reader)


def work_source(root: Path) -> Source:
    """The files of the work tree at `root` (every file read and hashed: there is no index to trust)."""
    tree = WorkTree(root)
    listed: list[FileEntry] = [e for prefix in LISTED for e in tree.files(prefix)]
    entries = {e.path: e.blob for e in sorted(listed, key=lambda e: e.path)}
    return Source(root, None, None, tree.label, entries, tree)


def open_source(root: Path, rev: str | None) -> Source:
    return work_source(root) if rev is None else git_source(root, rev)


def changed_paths(base: Source, head: Source) -> list[str]:
    """Paths whose blob differs, or that exist on one side only, in path order."""
    a, b = base.entries, head.entries
    changed = {p for p, blob in a.items() if b.get(p) != blob}
    changed.update(p for p in b if p not in a)
    return sorted(changed)


def read_text(source: Source, path: str) -> str | None:
    """The text of `path` on a side, None when absent or unreadable."""
    if path not in source.entries:
        return None
    try:
        return source.reader.read(path).decode("utf-8-sig")
    except (OSError, TreeError, UnicodeDecodeError):
        return None


def tenant_keys_in(paths: Iterable[str]) -> set[str]:
    return {p for p in paths if is_tenant_file(p)}
