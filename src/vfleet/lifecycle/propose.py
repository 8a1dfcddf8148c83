"""Deletions the lifecycle is due to make, turned into a Git change — never carried out directly.

A tenant past its `expiry`, or inactive past `autoDelete.afterInactivity`, is *proposed* for deletion:
its document is removed from its tenant file (the file itself when it holds nothing else) and its line
from fleet/placement.lock, committed on a branch. The normal path applies it: `vfleet plan` on the pull
request shows it as a deletion, under the same deletion guards, reviewed like any other.

Protected tenants (`protect: true`) are listed and never proposed. Per cluster, the proposals pass the
same guard as a mass delete in a plan (`guards.evaluate`: maxDeletes / maxDeleteShare from the
revision's vfleet.yaml); a cluster whose proposals trip it has none written, unless an override reason
is given — which the plan of the resulting pull request will ask for again.

The commit is built with Git plumbing on a temporary index (`read-tree`, `update-index`, `write-tree`,
`commit-tree`, `update-ref`): the work tree, the index and the checked-out branch are never touched.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vfleet.compile import Compiled
from vfleet.core.yamldoc import split_documents
from vfleet.load.layout import LOCK_FILE
from vfleet.plan import guards
from vfleet.plan.changes import GuardHit

DEFAULT_BRANCH = "vfleet/lifecycle-deletions"
_MARKER = re.compile(r"^(---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)  # as vfleet.core.yamldoc splits files


@dataclass(frozen=True, slots=True)
class Proposal:
    key: str
    cluster: str | None
    reasons: tuple[str, ...]
    protected: bool
    held: str = ""  # why it is not written: a guard's code; "" when it is proposed


def screen(compiled: Compiled, due: Mapping[str, tuple[str, ...]], config: guards.GuardConfig,
           override: str | None) -> tuple[list[Proposal], list[GuardHit]]:
    """Every due tenant as a proposal: protected ones and those of a cluster the guard holds marked held."""
    placed = compiled.placement.clusters
    fleet = compiled.fleet
    out: list[Proposal] = []
    hits: list[GuardHit] = []
    by_cluster: dict[str | None, list[str]] = {}
    for key in sorted(due):
        if fleet.tenants[key].manifest.spec.protect:
            out.append(Proposal(key, placed.get(key), due[key], True, "guard.protected"))
        else:
            by_cluster.setdefault(placed.get(key), []).append(key)
    for cluster, keys in sorted(by_cluster.items(), key=lambda kv: kv[0] or ""):
        held = ""
        if cluster is not None and cluster in compiled.desired:
            before = guards.ClusterTenants.of(compiled.desired[cluster])
            gone = set(keys)
            after = guards.ClusterTenants(
                {k: p for k, p in before.tenants.items() if k not in gone},
                {ns: k for ns, k in before.namespaces.items() if k not in gone})
            found = guards.evaluate(cluster, before, after, config, override)
            hits += found
            blocking = [h for h in found if h.blocking]
            held = blocking[0].code if blocking else ""
        out += [Proposal(k, cluster, due[k], False, held) for k in keys]
    return sorted(out, key=lambda p: p.key), hits


def changes(compiled: Compiled, keys: Sequence[str]) -> dict[str, bytes | None]:
    """The new content of every file the deletion of `keys` touches (None: the file is removed)."""
    fleet, tree = compiled.fleet, compiled.tree
    by_file: dict[str, list[int]] = {}
    for key in keys:
        doc = fleet.tenants[key].doc
        by_file.setdefault(doc.file, []).append(doc.index)
    out: dict[str, bytes | None] = {}
    for path, indexes in sorted(by_file.items()):
        text = tree.read(path).decode("utf-8-sig")
        rest = _without(text, set(indexes))
        out[path] = None if rest is None else rest.encode("utf-8")
    if tree.exists(LOCK_FILE):
        lock = tree.read(LOCK_FILE).decode("utf-8-sig")
        kept = [line for line in lock.splitlines(keepends=True) if _lock_key(line) not in set(keys)]
        if len(kept) != len(lock.splitlines()):
            out[LOCK_FILE] = "".join(kept).encode("utf-8")
    return out


def _without(text: str, drop: set[int]) -> str | None:
    """`text` without the documents numbered `drop`; None when no other document with content is left."""
    chunks = split_documents(text)
    markers = list(_MARKER.finditer(text))
    kept: list[str] = []
    for chunk in chunks:
        if chunk.index in drop:
            continue
        start = markers[chunk.index - 1].start() if chunk.index > 0 else 0
        end = markers[chunk.index].start() if chunk.index < len(markers) else len(text)
        kept.append(text[start:end])
    if all(_blank(chunk.text) for chunk in chunks if chunk.index not in drop):
        return None
    return "".join(kept)  # a document that now comes first keeps its "---": still valid YAML


def _blank(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _lock_key(line: str) -> str | None:
    found = re.match(r'^\s+"?([^":\s]+)"?\s*:', line)
    return found.group(1) if found else None


def commit_branch(root: Path, base: str, files: Mapping[str, bytes | None], branch: str, message: str) -> str:
    """Commit `files` (paths relative to the fleet root) on top of `base` as `branch`; the commit's sha.

    The branch is created or moved to the new commit (a standing proposal branch, updated by each run).
    """
    import git

    repo = git.Repo(root, search_parent_directories=True)
    top = Path(repo.working_tree_dir or root).resolve()
    sub = root.resolve().relative_to(top).as_posix()
    prefix = "" if sub == "." else sub + "/"
    base_sha = repo.commit(base).hexsha
    with tempfile.TemporaryDirectory(prefix="vfleet-lifecycle-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index"), **_identity(repo)}
        g = repo.git
        g.read_tree(base_sha, env=env)
        for path, content in sorted(files.items()):
            if content is None:
                g.update_index("--force-remove", "--", prefix + path, env=env)
                continue
            blob = os.path.join(tmp, "blob")
            Path(blob).write_bytes(content)
            sha = g.hash_object("-w", "--", blob, env=env)
            g.update_index("--add", "--cacheinfo", f"100644,{sha},{prefix + path}", env=env)
        tree = g.write_tree(env=env)
        commit = str(g.commit_tree(tree, "-p", base_sha, "-m", message, env=env))
        g.update_ref(f"refs/heads/{branch}", commit)
    return commit


def _identity(repo: object) -> dict[str, str]:
    """Author and committer: Git's configuration when it has them, else vfleet lifecycle (CI runners)."""
    import git

    assert isinstance(repo, git.Repo)
    try:
        repo.git.config("user.email")
        return {}
    except git.GitCommandError:
        who = {"NAME": "vfleet lifecycle", "EMAIL": "vfleet-lifecycle@localhost"}
        return {f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()}


def message(proposals: Sequence[Proposal]) -> str:
    """The commit message: one line per deleted tenant with its reasons."""
    lines = [f"lifecycle: delete {len(proposals)} tenant(s) due for deletion", ""]
    lines += [f"- {p.key}" + (f" (cluster {p.cluster})" if p.cluster else "") + ": " + "; ".join(p.reasons)
              for p in proposals]
    lines += ["", "Proposed by `vfleet lifecycle`; `vfleet plan` shows the deletion and its guards."]
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_BRANCH", "Proposal", "changes", "commit_branch", "message", "screen"]
