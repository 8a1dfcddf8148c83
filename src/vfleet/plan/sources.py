"""The two sides of a plan as file maps, and partial views of them for compiling only what changed.

A side (a Git revision, or the work tree) is first listed as `path -> blob id` for everything the compile
and the policy gate read (`fleet/`, `templates/`, `policies/`), with exactly the rules of `vfleet.repo.tree`
(no hidden paths, no symlinks). Git revisions are listed with one `git ls-tree` (no checkout, no walk of
tree objects in Python); the work tree with `vfleet.repo.tree.WorkTree`. The sorted map's hash is the side's
content key: equal keys mean equal inputs, whichever commit or work tree they come from.

`Slice` is a `vfleet.repo.tree.Tree` over a side that hides every tenant file but a chosen set. Compiling it
with `compile_fleet(tree=...)` runs the real stages on all the fleet's shared specs (clusters, projects,
templates, teams, node providers, the lock) and only the chosen tenants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from vfleet.load import FLEET_DIR, POLICIES_DIR, TEMPLATES_DIR
from vfleet.load.layout import is_tenant_file
from vfleet.repo.tree import FileEntry, GitTree, Lister, Tree, TreeError, Unlisted, WorkTree, ls_tree

LISTED = (FLEET_DIR, TEMPLATES_DIR, POLICIES_DIR)
_LISTED_PREFIXES = tuple(f"{d}/" for d in LISTED)
_SYMLINK = 0o120000


def _hidden(path: str) -> bool:
    """Some part of the path starts with a dot (what vfleet.repo.tree never lists)."""
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
            # What the listing leaves out (links, hidden files, ...) is an error of the compile: a side
            # that gains one must not reuse the index cached for the same files without it.
            for prefix in (FLEET_DIR, TEMPLATES_DIR):
                for odd in self.reader.unlisted(prefix):
                    digest.update(f"{odd.path}\0{odd.kind}\0{odd.detail}\n".encode("utf-8", "surrogateescape"))
            self._key = digest.hexdigest()
        return self._key

    def slice(self, tenant_files: Collection[str] | None) -> Slice:
        """A view with every shared spec and only `tenant_files` of the tenants (None: all of them)."""
        return Slice(self, None if tenant_files is None else frozenset(tenant_files))

    def tenant_files(self) -> list[str]:
        return [p for p in self.entries if is_tenant_file(p)]

    @cached_property
    def shared_entries(self) -> list[tuple[str, str]]:
        """Every (path, blob) but the tenant files', in path order: what each slice lists in full."""
        return [(path, blob) for path, blob in self.entries.items() if not is_tenant_file(path)]


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
        entries = self.source.entries
        if keep is None:
            return [FileEntry(path, blob) for path, blob in entries.items() if path.startswith(head)]
        # The shared specs and the kept tenants, not a pass over every tenant file of the side.
        listed = [(path, blob) for path, blob in self.source.shared_entries if path.startswith(head)]
        listed += [(path, entries[path]) for path in keep
                   if path.startswith(head) and path in entries and is_tenant_file(path)]
        return [FileEntry(path, blob) for path, blob in sorted(listed)]

    def unlisted(self, prefix: str) -> list[Unlisted]:
        return self.source.reader.unlisted(prefix)  # every slice reports them: they are errors of the side

    def read(self, path: str) -> bytes:
        return self.source.reader.read(path)

    def exists(self, path: str) -> bool:
        return self.source.reader.exists(path)


def git_source(root: Path, rev: str, lister: Lister = ls_tree) -> Source:
    """The files of revision `rev` of the repository holding `root` (the fleet may be a sub-folder).
    `lister`: how the commit is listed (`vfleet.plan.listings.Listings` keeps and derives listings)."""
    tree = GitTree(root, rev, lister)
    # The listing is in path order already (Git's order of full paths is the order of their bytes).
    entries = {
        p: b for p, (b, m) in tree.blobs().items()
        if p.startswith(_LISTED_PREFIXES) and m != _SYMLINK and not _hidden(p)
    }
    return Source(root, rev, tree.revision, tree.label, entries, tree)


def work_source(root: Path) -> Source:
    """The files of the work tree at `root` (every file read and hashed: there is no index to trust)."""
    tree = WorkTree(root)
    listed: list[FileEntry] = [e for prefix in LISTED for e in tree.files(prefix)]
    entries = {e.path: e.blob for e in sorted(listed, key=lambda e: e.path)}
    return Source(root, None, None, tree.label, entries, tree)


def open_source(root: Path, rev: str | None, lister: Lister = ls_tree) -> Source:
    return work_source(root) if rev is None else git_source(root, rev, lister)


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
