"""The work tree against Git's index: what a compile of the work tree would miss, or would see alone.

A work-tree compile reads what is on disk. Where disk and Git disagree, the work tree's desired state
silently differs from the commit's, and an apply from it would act on the difference:

- a file Git tracks that is not on disk (deleted without `git rm`, outside a sparse checkout, lost to a
  case-insensitive checkout of two names that differ only in case): a tenant fewer than Git has, which
  the next apply from this work tree would delete;
- a file on disk that Git ignores: read here, but it can never be committed, so CI never sees it.

Untracked files Git does not ignore are read: they are what the next commit adds. Outside a Git work tree
there is nothing to compare. The cost is one `git ls-files` per listed prefix, plus one `git check-ignore`
only when untracked files exist (docs/files.md has the figures).

This module only asks Git; the work tree (`vfleet.repo.tree`) holds the comparison, so Git's index sits
below the tree and knows nothing of it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GITLINK = "160000"  # the mode of a submodule's entry


class GitFailed(Exception):
    """Git could not be run or could not read its index."""


def in_git_work_tree(root: Path) -> bool:
    """Whether `root` lies in a Git work tree (a `.git` folder or file in it or above it)."""
    return any((folder / ".git").exists() for folder in (root, *root.parents))


class Pending:
    """`git ls-files` of one prefix, started before the work tree is walked: Git reads its index while
    Python lists the folders, so the comparison adds almost nothing to a compile (docs/files.md)."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root
        self.prefix = prefix
        self._process: subprocess.Popen[bytes] | None = None
        self._error = ""
        if in_git_work_tree(root):
            try:
                self._process = subprocess.Popen(
                    ["git", "-C", str(root), "ls-files", "-z", "-s", "-t", "--", prefix],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            except OSError as exc:  # no git binary: fail closed, as with any other Git failure
                self._error = f"git ls-files: {exc}"

    @property
    def active(self) -> bool:
        return self._process is not None or bool(self._error)

    def index(self) -> dict[str, str]:
        if self._error or self._process is None:
            raise GitFailed(self._error or "not a Git work tree")
        out, err = self._process.communicate()
        if self._process.returncode != 0:
            message = err.decode("utf-8", "replace").strip() or f"exit status {self._process.returncode}"
            raise GitFailed(f"git ls-files: {message}")
        return _parse_index(out)


def _git(root: Path, *args: str, stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
    done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True, check=False)
    if done.returncode not in ok:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise GitFailed(f"git {args[0]}: {message}")
    return done.stdout


def _decode(raw: bytes) -> str:
    # surrogateescape: the same spelling os.scandir gives a name that is not UTF-8
    return raw.decode("utf-8", "surrogateescape")


def _parse_index(out: bytes) -> dict[str, str]:
    """path -> "<tag> <mode> <blob> <stage>" of every index entry listed; tag "S" is skip-worktree (sparse).

    Decoded once and split with str methods: this runs per compile over every file of the fleet.
    """
    entries: dict[str, str] = {}
    for record in _decode(out).split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            entries[path] = meta  # an unmerged path has 3 stages: one entry is enough
    return entries


def ignored(root: Path, paths: list[str]) -> list[tuple[str, str]]:
    """(path, "source:line: pattern") for each of `paths` that Git ignores."""
    stdin = b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths) + b"\0"
    out = _git(root, "check-ignore", "-z", "-v", "--stdin", stdin=stdin, ok=(0, 1))  # 1: none ignored
    fields = [_decode(f) for f in out.split(b"\0")]
    return [
        (fields[i + 3], f"{fields[i]}:{fields[i + 1]}: {fields[i + 2]}")
        for i in range(0, len(fields) - 3, 4)
    ]


def index_blobs(root: Path, prefix: str) -> dict[str, str] | None:
    """path -> blob id of every index entry under `prefix`; None outside a Git work tree or when Git fails
    (the compile has reported that already: `layout.git`)."""
    if not in_git_work_tree(root):
        return None
    try:
        entries = _parse_index(_git(root, "ls-files", "-z", "-s", "--", prefix))
    except (GitFailed, OSError):
        return None
    # "<mode> <blob> <stage>" (no tag without -t)
    return {path: meta.split(" ")[1] for path, meta in entries.items() if not meta.startswith(GITLINK)}
