"""Commit listings for the plan, kept on disk by commit id and derived from each other by `git diff-tree`.

A plan lists both of its revisions whole (`sources.git_source`): at 100,000 tenants that is two 10 MB
`git ls-tree` outputs parsed in Python, most of the 0.45 s a one-tenant plan spent on its sources.
Neither needs to be read twice:

- a commit never changes, so its listing is kept by commit id (the base of a pull request is planned on
  every push to it): read back with `marshal` in 0.04 s, where parsing `ls-tree` again took 0.1 s;
- the head is the base plus what `git diff-tree` between them reports (C, and it only descends into the
  trees that differ): a one-file change costs one small diff instead of a second full listing.

Both give exactly what `vfleet.repo.tree.ls_tree` would (tests/unit/test_plan_listings.py compares them on
additions, deletions, mode changes, links and submodules). Only listings made by `ls-tree` are written
(derived ones are cheap to derive again), and the folder keeps the `KEEP` most recently used.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
from pathlib import Path
from typing import Any

from vfleet.repo.tree import Listing, ls_tree

FORMAT = 1
KEEP = 8  # listings on disk: ~10 MB each at 100,000 tenants
_GITLINK = 0o160000
_ABSENT = 0
# `git diff-tree -r -z --no-renames`: ":old-mode new-mode old-id new-id status\0path\0"
_DIFF_RECORD = re.compile(r":([0-7]+) ([0-7]+) [0-9a-f]+ ([0-9a-f]+) [A-Z][0-9]*\0([^\0]*)\0")


class Listings:
    """A `vfleet.repo.tree.Lister` that remembers: on disk by commit, in memory for deriving the next one."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._seen: dict[tuple[str, str], Listing] = {}  # (commit, prefix) -> listing, this process only

    def __call__(self, repo: Any, commit: str, prefix: str) -> Listing:
        known = self._seen.get((commit, prefix)) or self._load(commit, prefix)
        if known is None:
            near = next((c for c, p in reversed(self._seen) if p == prefix), None)
            if near is not None:
                known = derive(repo, self._seen[(near, prefix)], near, commit, prefix)
            else:
                known = ls_tree(repo, commit, prefix)
                self._store(commit, prefix, known)
        self._seen[(commit, prefix)] = known
        return known

    def _path(self, commit: str, prefix: str) -> Path | None:
        if self.directory is None:
            return None
        where = hashlib.sha256(prefix.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        return self.directory / f"{commit}-{where}.v{FORMAT}.marshal"

    def _load(self, commit: str, prefix: str) -> Listing | None:
        path = self._path(commit, prefix)
        if path is None:
            return None
        try:
            blobs, gitlinks = marshal.loads(path.read_bytes())
            os.utime(path)  # most recently used: kept by the pruning below
        except (OSError, EOFError, ValueError, TypeError):
            return None  # absent, or not a listing this version wrote: list the commit again
        if not isinstance(blobs, dict) or not isinstance(gitlinks, tuple):
            return None
        return Listing(blobs, gitlinks)

    def _store(self, commit: str, prefix: str, listing: Listing) -> None:
        path = self._path(commit, prefix)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            tmp.write_bytes(marshal.dumps((listing.blobs, listing.gitlinks)))
            tmp.replace(path)
            kept = sorted(path.parent.glob("*.marshal"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[KEEP:]:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # a listing that cannot be kept is only listed again next time


def derive(repo: Any, base: Listing, base_commit: str, commit: str, prefix: str) -> Listing:
    """The listing of `commit`, from the listing of `base_commit` and the diff between the two."""
    diff = repo.git.diff_tree("-r", "-z", "--no-renames", base_commit, commit, strip_newline_in_stdout=False)
    blobs = dict(base.blobs)
    gitlinks = set(base.gitlinks)
    added = False
    cut = len(prefix)
    for old_mode, new_mode, new_id, path in _DIFF_RECORD.findall(diff):
        if not path.startswith(prefix):
            continue
        rel = path[cut:]
        old, new = int(old_mode, 8), int(new_mode, 8)
        if old == _GITLINK:
            gitlinks.discard(rel)
        if new == _GITLINK:
            gitlinks.add(rel)
        if new not in (_ABSENT, _GITLINK):
            added = added or rel not in blobs
            blobs[rel] = (new_id, new)  # a changed path keeps its place in the order
        elif old not in (_ABSENT, _GITLINK):
            blobs.pop(rel, None)
    if added:  # new paths went to the end of the dict: back to path order, as ls-tree lists them
        blobs = dict(sorted(blobs.items()))
    return Listing(blobs, tuple(sorted(gitlinks)))
