"""Commit listings kept on disk and derived by `git diff-tree` are exactly what `git ls-tree` lists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

from vfleet.plan import listings
from vfleet.plan.listings import Listings, derive
from vfleet.plan.sources import git_source
from vfleet.repo.tree import Listing, ls_tree


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _commit(repo: Path, message: str, add: bool = True) -> str:
    if add:
        _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", message)
    return _git(repo, "rev-parse", "HEAD")


def _gitlink(repo: Path, path: str, target: str) -> None:
    """A submodule entry (mode 160000) without a submodule checkout: what the listing must report."""
    _git(repo, "update-index", "--add", "--cacheinfo", f"160000,{target},{path}")
    (repo / path).mkdir(parents=True)  # as an uninitialised submodule is: an empty folder


@pytest.fixture(params=["", "ops/fleet-repo/"], ids=["at the top", "in a sub-folder"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str, list[str]]:
    """A repository whose commits add, change, delete, re-type and re-order what a fleet holds."""
    prefix: str = request.param
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    root = repo / prefix
    _write(repo, {"README.md": "outside the fleet\n"})
    _write(root, {
        "fleet/clusters/a.yaml": "a\n", "fleet/projects/p/tenants/t-1.yaml": "1\n",
        "fleet/projects/p/tenants/t-3.yaml": "3\n", "fleet/.hidden/x.yaml": "x\n",
        "templates/base/template.yaml": "tpl\n", "fleet/projects/p/tenants/gone.yaml": "bye\n",
    })
    os.symlink("a.yaml", root / "fleet/clusters/link.yaml")
    first = _commit(repo, "first")
    _gitlink(repo, f"{prefix}fleet/vendor", first)
    commits = [_commit(repo, "gitlink", add=False)]
    # changed content, a path added between existing ones, one deleted, a file that becomes a link
    _write(root, {"fleet/projects/p/tenants/t-1.yaml": "1 changed\n", "fleet/projects/p/tenants/t-2.yaml": "2\n",
                  "fleet/projects/a-first/project.yaml": "sorts first\n", "README.md": "changed outside\n"})
    (root / "fleet/projects/p/tenants/gone.yaml").unlink()
    (root / "fleet/projects/p/tenants/t-3.yaml").unlink()
    os.symlink("t-1.yaml", root / "fleet/projects/p/tenants/t-3.yaml")
    commits.append(_commit(repo, "second"))
    # the submodule goes, a file takes its path; the link becomes a file again
    _git(repo, "rm", "-q", "--cached", f"{prefix}fleet/vendor")
    (root / "fleet/projects/p/tenants/t-3.yaml").unlink()
    (root / "fleet/vendor").rmdir()
    _write(root, {"fleet/vendor": "now a file\n", "fleet/projects/p/tenants/t-3.yaml": "3 again\n"})
    commits.append(_commit(repo, "third"))
    return root, prefix, [first, *commits]


def _listed(repo: git.Repo, commit: str, prefix: str) -> Listing:
    return ls_tree(repo, commit, prefix)


def _as_lists(listing: Listing) -> tuple[list[tuple[str, tuple[str, int]]], tuple[str, ...]]:
    return list(listing.blobs.items()), listing.gitlinks  # order included: the listing is in path order


def test_derived_listings_equal_ls_tree_in_both_directions(history: tuple[Path, str, list[str]]) -> None:
    root, prefix, commits = history
    repo = git.Repo(root, search_parent_directories=True)
    for a in commits:
        for b in commits:
            derived = derive(repo, _listed(repo, a, prefix), a, b, prefix)
            assert _as_lists(derived) == _as_lists(_listed(repo, b, prefix)), (a, b)


def test_ls_tree_lists_in_path_order_with_modes_and_submodules(history: tuple[Path, str, list[str]]) -> None:
    root, prefix, commits = history
    listing = _listed(git.Repo(root, search_parent_directories=True), commits[1], prefix)
    assert list(listing.blobs) == sorted(listing.blobs)
    assert listing.blobs["fleet/clusters/link.yaml"][1] == 0o120000
    assert listing.blobs["fleet/clusters/a.yaml"][1] == 0o100644
    assert listing.gitlinks == ("fleet/vendor",)
    assert "README.md" not in listing.blobs or prefix == ""


def test_listings_are_kept_by_commit_and_read_back(history: tuple[Path, str, list[str]], tmp_path: Path) -> None:
    root, prefix, commits = history
    repo = git.Repo(root, search_parent_directories=True)
    store = tmp_path / "listings"
    first = Listings(store)(repo, commits[1], prefix)
    assert len(list(store.glob("*.marshal"))) == 1
    again = Listings(store)(repo, commits[1], prefix)  # a new process: read from disk
    assert _as_lists(again) == _as_lists(first) == _as_lists(_listed(repo, commits[1], prefix))

    # A second commit in the same process is derived from the first, and not written.
    lister = Listings(store)
    lister(repo, commits[1], prefix)
    assert _as_lists(lister(repo, commits[3], prefix)) == _as_lists(_listed(repo, commits[3], prefix))
    assert len(list(store.glob("*.marshal"))) == 1


def test_a_damaged_listing_is_listed_again(history: tuple[Path, str, list[str]], tmp_path: Path) -> None:
    root, prefix, commits = history
    repo = git.Repo(root, search_parent_directories=True)
    store = tmp_path / "listings"
    Listings(store)(repo, commits[2], prefix)
    (kept,) = store.glob("*.marshal")
    for damage in (kept.read_bytes()[:100], b"", b"\x00garbage", __import__("marshal").dumps(["a", "list"])):
        kept.write_bytes(damage)
        assert _as_lists(Listings(store)(repo, commits[2], prefix)) == _as_lists(_listed(repo, commits[2], prefix))


def test_only_the_most_recent_listings_are_kept(history: tuple[Path, str, list[str]], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root, prefix, commits = history
    repo = git.Repo(root, search_parent_directories=True)
    monkeypatch.setattr(listings, "KEEP", 2)
    store = tmp_path / "listings"
    for i, commit in enumerate(commits):
        Listings(store)(repo, commit, prefix)
        for path in store.glob("*.marshal"):  # mtimes one second apart, whatever the file system's resolution
            if path.name.startswith(commit):
                os.utime(path, (1_000_000 + i, 1_000_000 + i))
    assert sorted(p.name.split("-")[0] for p in store.glob("*.marshal")) == sorted(commits[-2:])


def test_a_side_listed_through_the_cache_is_the_same_side(history: tuple[Path, str, list[str]],
                                                          tmp_path: Path) -> None:
    root, _, commits = history
    lister = Listings(tmp_path / "listings")
    for commit in commits:
        plain, cached = git_source(root, commit), git_source(root, commit, lister)
        assert list(cached.entries.items()) == list(plain.entries.items())
        assert cached.key == plain.key
        assert cached.reader.unlisted("fleet") == plain.reader.unlisted("fleet")
