"""Trees (work tree and Git revisions read without a checkout) and the load stage's parse cache."""

from __future__ import annotations

import os
from pathlib import Path

import git
import pytest

from fleetkit import write_fleet
from vfleet.compile import compile_fleet
from vfleet.load import ParseCache, load
from vfleet.repo.tree import GitTree, TreeError, WorkTree, git_blob_id, open_tree


def _commit_all(repo: git.Repo, message: str) -> str:
    repo.git.add(A=True)
    repo.index.commit(message, author=git.Actor("t", "t@example.com"), committer=git.Actor("t", "t@example.com"))
    return repo.head.commit.hexsha


def test_blob_ids_match_git(tmp_path: Path) -> None:
    root = write_fleet(tmp_path)
    repo = git.Repo.init(root)
    sha = _commit_all(repo, "base")
    work = {e.path: e.blob for e in WorkTree(root).files("fleet")}
    committed = {e.path: e.blob for e in GitTree(root, sha).files("fleet")}
    assert work == committed
    (root / "hello.txt").write_bytes(b"hello\n")
    assert git_blob_id(b"hello\n") == repo.git.hash_object("hello.txt")
    assert work["fleet/teams/platform.yaml"] == repo.git.rev_parse(f"{sha}:fleet/teams/platform.yaml")


def test_revision_is_read_without_checkout(tmp_path: Path) -> None:
    root = write_fleet(tmp_path)
    repo = git.Repo.init(root)
    base = _commit_all(repo, "base")
    (root / "fleet/teams/platform.yaml").unlink()
    (root / "fleet/teams/new.yaml").write_text("x: 1\n")
    work_paths = [e.path for e in open_tree(root).files("fleet/teams")]
    base_paths = [e.path for e in open_tree(root, base).files("fleet/teams")]
    assert work_paths == ["fleet/teams/new.yaml"]
    assert base_paths == ["fleet/teams/platform.yaml"]
    assert b"kind: Team" in open_tree(root, base).read("fleet/teams/platform.yaml")
    assert not (root / "fleet/teams/platform.yaml").exists()  # the work tree was not touched


def test_revision_errors(tmp_path: Path) -> None:
    with pytest.raises(TreeError, match="not a Git repository"):
        open_tree(tmp_path, "HEAD")
    git.Repo.init(write_fleet(tmp_path))
    with pytest.raises(TreeError, match="no such revision"):
        open_tree(tmp_path, "does-not-exist")


def test_symlinks_and_traversal_are_not_followed(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "repo")
    secret = tmp_path / "secret.yaml"
    secret.write_text("apiVersion: vfleet.dev/v1alpha1\nkind: Team\nmetadata: {name: stolen}\nspec: {}\n")
    os.symlink(secret, root / "fleet/teams/link.yaml")
    tree = WorkTree(root)
    assert "fleet/teams/link.yaml" not in [e.path for e in tree.files("fleet")]
    with pytest.raises(TreeError, match="leaves the repository"):
        tree.read("../secret.yaml")
    with pytest.raises(FileNotFoundError):
        tree.read("fleet/teams/link.yaml")


def test_oversized_file_is_a_finding(tmp_path: Path) -> None:
    root = write_fleet(tmp_path)
    (root / "fleet/teams/huge.yaml").write_text("a: " + "x" * (3 * 1024 * 1024) + "\n")
    loaded = load(WorkTree(root))
    assert [(f.code, f.location.file if f.location else None) for f in loaded.findings] == [
        ("load.file", "fleet/teams/huge.yaml")
    ]


def test_non_utf8_is_a_finding(tmp_path: Path) -> None:
    root = write_fleet(tmp_path)
    (root / "fleet/teams/latin1.yaml").write_bytes(b"name: caf\xe9\n")
    loaded = load(WorkTree(root))
    assert [(f.code, f.location.file, f.location.line) for f in loaded.findings if f.location] == [
        ("yaml.syntax", "fleet/teams/latin1.yaml", 1)
    ]
    assert "not UTF-8" in loaded.findings[0].message


def test_parse_cache_reuses_blobs_and_persists(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "repo")
    cache = ParseCache.open(tmp_path / "cache.pickle")
    first = load(WorkTree(root), cache)
    cache.save()
    assert len(cache.entries) == len({d.blob for d in first.documents})
    reopened = ParseCache.open(tmp_path / "cache.pickle")
    assert reopened.entries.keys() == cache.entries.keys()
    # A cached blob is not parsed again: poison the cache entry and see it come back.
    blob = next(d.blob for d in first.documents if d.file == "fleet/teams/platform.yaml")
    reopened.entries[blob] = [(0, 1, {"poisoned": True})]
    again = load(WorkTree(root), reopened)
    assert next(d.data for d in again.documents if d.file == "fleet/teams/platform.yaml") == {"poisoned": True}


def test_a_compile_releases_the_parsed_documents_and_never_saves_a_part_of_them(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "repo")
    cache = ParseCache.open(tmp_path / "cache.pickle")
    compiled = compile_fleet(root, cache=cache, check_lock=False)
    assert compiled.ok
    saved = ParseCache.open(tmp_path / "cache.pickle").entries
    assert len(saved) == len({d.blob for d in compiled.fleet.loaded.documents}) > 0
    # Read by the model only, then dropped from memory: the documents keep where they came from.
    assert cache.entries == {}
    assert all(d.data is None and d.line >= 1 for d in compiled.fleet.loaded.documents)
    tenant = next(iter(compiled.fleet.tenants.values()))
    owner_line = compiled.fleet.location(tenant.doc, ("spec", "owner")).line
    assert owner_line is not None and owner_line > tenant.doc.line
    # A released cache used again parses what it needs, and keeps the file as it was.
    load(WorkTree(root), cache)
    cache.entries.clear()
    cache.put("0" * 40, [])
    cache.save()
    assert ParseCache.open(tmp_path / "cache.pickle").entries.keys() == saved.keys()


def test_a_cache_kept_in_memory_serves_a_second_compile(tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "repo")
    cache = ParseCache(keep_in_memory=True)
    compile_fleet(root, cache=cache, check_lock=False)
    blob = next(iter(cache.entries))
    cache.entries[blob] = [(0, 1, {"poisoned": True})]  # a second compile reads it, not the file
    again = compile_fleet(root, cache=cache, check_lock=False)
    assert any(f.code == "schema.apiVersion" for f in again.findings.errors)


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "cache.pickle"
    path.write_bytes(b"not a pickle")
    assert ParseCache.open(path).entries == {}


def test_a_cache_of_another_parser_version_is_not_used(tmp_path: Path) -> None:
    # Parsing results change between versions (e.g. a BOM after '---'): a cache keyed by blob id alone
    # would keep an old result for a file that did not change.
    import pickle

    root = write_fleet(tmp_path / "repo")
    path = tmp_path / "cache.pickle"
    cache = ParseCache.open(path)
    load(WorkTree(root), cache)
    cache.save()
    assert ParseCache.open(path).entries == cache.entries
    blob = next(iter(cache.entries))
    path.write_bytes(pickle.dumps({blob: [(0, 1, {"stale": True})]}))  # the format before versions
    assert ParseCache.open(path).entries == {}


def test_tenant_files_counts_what_load_reads_as_tenants_on_both_trees(tmp_path: Path) -> None:
    from vfleet.load import tenant_files
    from vfleet.model import build

    root = write_fleet(tmp_path)
    repo = git.Repo.init(root)
    (root / "fleet" / "projects" / "alpha" / "tenants" / "README.md").write_text("not a tenant\n")
    sha = _commit_all(repo, "base")
    work = WorkTree(root)
    counted = tenant_files(work)
    assert counted == tenant_files(GitTree(root, sha)) > 0
    assert counted == len(build(load(work)).tenants)
