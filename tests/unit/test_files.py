"""Every file under fleet/ and templates/ is read, ignored by a documented rule, or an error (docs/files.md).

The property that matters: a tenant present in Git in any form vfleet can see is never absent from the
desired state without an error naming its path. Each case is built in a real Git repository (work tree
and, where Git can hold it, a `--rev` of a commit).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from fleetkit import CONTRACTS, REPO, write_fleet
from vfleet import compile as compiler
from vfleet.core.findings import Finding
from vfleet.load import classify, load
from vfleet.model import Fleet, build
from vfleet.repo.tree import Tree, open_tree

TENANTS = "fleet/projects/alpha/tenants"
DEV = f"{TENANTS}/dev.yaml"


def tenant(name: str) -> str:
    return (f"apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: {name}}}\n"
            "spec: {owner: alice, cluster: eu-1}\n")


def repo_at(root: Path, extra: dict[str, str | None] | None = None) -> git.Repo:
    """The base fleet (one tenant, alpha/dev) written and committed."""
    write_fleet(root, extra)
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "files tests")
        config.set_value("user", "email", "files@example.invalid")
    commit(repo)
    return repo


def commit(repo: git.Repo, message: str = "change") -> str:
    # Git's own commands, not gitpython's index (which cannot hold a name that is not UTF-8).
    repo.git.add("-A")
    repo.git.commit("-q", "--allow-empty", "-m", message)
    return repo.head.commit.hexsha


def model_of(root: Path, rev: str | None = None) -> Fleet:
    return build(load(open_tree(root, rev)))


def errors(fleet: Fleet) -> list[tuple[str, str]]:
    return sorted((f.code, f.location.file if f.location else "") for f in fleet.findings
                  if f.severity.value == "error")


def error_at(fleet: Fleet, path: str) -> Finding:
    found = [f for f in fleet.findings if f.location and f.location.file == path]
    assert found, f"no finding names {path}: {errors(fleet)}"
    return found[0]


# -------------------------------------------------------------- the property, over every way to hide a file


def _rename(to: str) -> Callable[[Path], str]:
    def change(root: Path) -> str:
        (root / DEV).rename(root / to)
        return to
    return change


def _link_inside(root: Path) -> str:
    (root / "fleet/projects/alpha/dev.yaml.real").write_bytes((root / DEV).read_bytes())
    (root / DEV).unlink()
    os.symlink("../dev.yaml.real", root / DEV)
    return DEV


def _link_outside(root: Path) -> str:
    outside = root.parent / f"{root.name}-outside.yaml"
    outside.write_bytes((root / DEV).read_bytes())
    (root / DEV).unlink()
    os.symlink(outside, root / DEV)
    return DEV


def _link_dangling(root: Path) -> str:
    (root / DEV).unlink()
    os.symlink("nowhere.yaml", root / DEV)
    return DEV


def _link_loop(root: Path) -> str:
    (root / DEV).unlink()
    os.symlink("loop-b.yaml", root / DEV)
    os.symlink("dev.yaml", root / f"{TENANTS}/loop-b.yaml")
    return DEV


def _folder_link(root: Path) -> str:
    real = root / "elsewhere"
    shutil.move(root / "fleet/projects/alpha", real)
    os.symlink("../../elsewhere", root / "fleet/projects/alpha")
    return "fleet/projects/alpha"


def _emptied(root: Path) -> str:
    (root / DEV).write_text("# dev moved to another cluster\n---\n")
    return DEV


def _into_subfolder(root: Path) -> str:
    (root / f"{TENANTS}/eu").mkdir()
    (root / DEV).rename(root / f"{TENANTS}/eu/dev.yaml")
    return f"{TENANTS}/eu/dev.yaml"


def _into_unknown_folder(root: Path) -> str:
    (root / "fleet/projects/alpha/tenant").mkdir()
    (root / DEV).rename(root / "fleet/projects/alpha/tenant/dev.yaml")
    return "fleet/projects/alpha/tenant/dev.yaml"


def _utf16(root: Path) -> str:
    (root / DEV).write_bytes((root / DEV).read_text().encode("utf-16"))
    return DEV


HIDINGS: dict[str, Callable[[Path], str]] = {
    "upper-case extension": _rename(f"{TENANTS}/dev.YAML"),
    "mixed-case extension": _rename(f"{TENANTS}/dev.Yml"),
    "disabled copy": _rename(f"{TENANTS}/dev.yaml.disabled"),
    "no extension": _rename(f"{TENANTS}/dev"),
    "json": _rename(f"{TENANTS}/dev.json"),
    "hidden": _rename(f"{TENANTS}/.dev.yaml"),
    "trailing space": _rename(f"{TENANTS}/dev.yaml "),
    "link inside the repository": _link_inside,
    "link outside the repository": _link_outside,
    "dangling link": _link_dangling,
    "link loop": _link_loop,
    "project folder is a link": _folder_link,
    "emptied": _emptied,
    "tenants sub-folder": _into_subfolder,
    "folder the layout does not know": _into_unknown_folder,
    "UTF-16": _utf16,
}


@pytest.mark.parametrize("case", sorted(HIDINGS))
def test_a_tenant_is_never_absent_without_an_error(tmp_path: Path, case: str) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root)
    assert "alpha/dev" in model_of(root).tenants
    path = HIDINGS[case](root)
    commit(repo, case)  # staged too: the work tree and its commit hold the same thing
    for rev in (None, "HEAD"):
        fleet = model_of(root, rev)
        assert "alpha/dev" not in fleet.tenants  # each hiding does hide it from the desired state ...
        finding = error_at(fleet, path)  # ... and says so, naming the path
        assert finding.severity.value == "error", (rev, finding)


def test_the_reported_silent_skip_is_an_error_now(tmp_path: Path) -> None:
    # The reproduction: the example fleet with one tenant file saved as .YAML compiled with
    # 0 errors and fewer tenants (previews.yaml holds two). Now exit 2 and nothing written.
    root = tmp_path / "repo"
    for name in ("fleet", "templates"):
        shutil.copytree(REPO / name, root / name)
    (root / "vfleet.yaml").write_text(f"chartSchemas: [{str(CONTRACTS)!r}]\n")
    before = compiler.compile_fleet(root, cache=None)
    assert before.ok and len(before.fleet.tenants) == 13
    (root / "fleet/projects/web/tenants/previews.yaml").rename(root / "fleet/projects/web/tenants/previews.YAML")
    after = compiler.compile_fleet(root, cache=None)
    assert after.findings.exit_code == 2
    assert [(f.code, f.location.file) for f in after.findings.errors if f.location] == [
        ("layout.extension", "fleet/projects/web/tenants/previews.YAML")]
    with pytest.raises(Exception, match="refusing"):
        compiler.write_output(after, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ what is read


def test_yml_several_documents_and_byte_order_marks_are_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {
        f"{TENANTS}/two.yml": tenant("one") + "---\n" + tenant("two"),
        # a BOM at the start of a file, and one after a document marker (concatenated files)
        f"{TENANTS}/bom.yaml": "\ufeff" + tenant("bom") + "---\n\ufeff" + tenant("bom2"),
        f"{TENANTS}/crlf.yaml": tenant("crlf").replace("\n", "\r\n"),
    })
    for rev in (None, "HEAD"):
        fleet = model_of(root, rev)
        assert errors(fleet) == []
        assert sorted(fleet.tenants) == ["alpha/bom", "alpha/bom2", "alpha/crlf", "alpha/dev", "alpha/one",
                                         "alpha/two"]


def test_untracked_files_are_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root)
    (root / f"{TENANTS}/new.yaml").write_text(tenant("new"))  # what the next commit adds
    fleet = model_of(root)
    assert errors(fleet) == [] and "alpha/new" in fleet.tenants


def test_documented_ignores_are_ignored_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    ignored = [f"{TENANTS}/README.md", "fleet/NOTES.md", f"{TENANTS}/.gitkeep", "fleet/.gitattributes",
               f"{TENANTS}/.DS_Store", f"{TENANTS}/dev.yaml~", f"{TENANTS}/.dev.yaml.swp", "templates/README",
               "templates/shared/README.md"]
    repo_at(root, {p: "x\n" for p in ignored})
    for rev in (None, "HEAD"):
        tree = open_tree(root, rev)
        assert errors(build(load(tree))) == []
        assert sorted(classify(tree).ignored) == sorted(ignored)


# ---------------------------------------------------------------------------------- what is refused


def test_bad_names_and_kinds_are_refused_with_their_fix(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {
        f"{TENANTS}/dev.YAML": tenant("dev2"),
        "fleet/notes.txt": "x\n",
        f"{TENANTS}/.archive/old.yaml": tenant("old"),
        "templates/shared/Template.yaml": "x: 1\n",
        "templates/stray.yaml": "x: 1\n",
        "templates/orphan/values.yaml.j2": "x: 1\n",
        "templates/nested/deeper/template.yaml": "x: 1\n",
    })
    for rev in (None, "HEAD"):
        fleet = model_of(root, rev)
        assert errors(fleet) == [
            ("layout.extension", f"{TENANTS}/dev.YAML"),
            ("layout.hidden", f"{TENANTS}/.archive"),  # a hidden folder once, not per file
            ("layout.name-collision", f"{TENANTS}/dev.yaml"),  # dev.YAML: one file on macOS
            ("layout.name-collision", "templates/shared/template.yaml"),
            ("layout.template-file", "templates/nested/deeper/template.yaml"),
            ("layout.template-file", "templates/shared/Template.yaml"),
            ("layout.template-missing", "templates/nested"),
            ("layout.template-missing", "templates/orphan"),
            ("layout.unknown-file", "fleet/notes.txt"),
            ("layout.unknown-file", "templates/stray.yaml"),
        ], rev
        assert "rename it to dev.yaml" in error_at(fleet, f"{TENANTS}/dev.YAML").message


def test_empty_files_are_errors(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {f"{TENANTS}/empty.yaml": "", f"{TENANTS}/comments.yaml": "# nothing\n",
                   f"{TENANTS}/markers.yaml": "---\n---\n...\n", "fleet/teams/blank.yaml": "\n\n"})
    for rev in (None, "HEAD"):
        assert errors(model_of(root, rev)) == [
            ("load.empty", f"{TENANTS}/comments.yaml"), ("load.empty", f"{TENANTS}/empty.yaml"),
            ("load.empty", f"{TENANTS}/markers.yaml"), ("load.empty", "fleet/teams/blank.yaml")]


def test_a_broken_second_document_fails_the_whole_file_with_its_line(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {f"{TENANTS}/two.yaml": tenant("one") + "---\n" + tenant("two") + "  bad: [\n"})
    fleet = model_of(root)
    assert "alpha/one" not in fleet.tenants and "alpha/two" not in fleet.tenants
    finding = error_at(fleet, f"{TENANTS}/two.yaml")
    assert finding.code == "yaml.syntax" and finding.location is not None
    assert finding.location.line == 10  # '  bad: [' itself


def test_byte_order_mark_inside_a_document_and_utf16_say_so(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {f"{TENANTS}/joined.yaml": tenant("a") + "\ufeff" + "extra: 1\n"})
    (root / f"{TENANTS}/wide.yaml").write_bytes(tenant("wide").encode("utf-16"))
    fleet = model_of(root)
    assert "byte-order mark U+FEFF is inside the file at line 5" in error_at(fleet, f"{TENANTS}/joined.yaml").message
    assert "UTF-16" in error_at(fleet, f"{TENANTS}/wide.yaml").message


def test_symbolic_links_say_where_they_point(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root)
    outside = tmp_path / "secret.yaml"
    outside.write_text(tenant("stolen"))
    os.symlink(outside, root / f"{TENANTS}/out.yaml")
    os.symlink("dev.yaml", root / f"{TENANTS}/in.yaml")
    os.symlink("gone.yaml", root / f"{TENANTS}/dangling.yaml")
    os.symlink("loop2.yaml", root / f"{TENANTS}/loop1.yaml")
    os.symlink("loop1.yaml", root / f"{TENANTS}/loop2.yaml")
    os.symlink("../../../../templates/shared/values.yaml.j2", root / f"{TENANTS}/values.yaml")
    os.symlink("values.yaml.j2", root / "templates/shared/values-link.yaml.j2")
    commit(repo, "links")
    expected = {"out.yaml": "outside the repository", "in.yaml": "inside the repository",
                "dangling.yaml": "dangling", "loop1.yaml": "a loop", "values.yaml": "inside the repository"}
    work = model_of(root)
    for name, what in expected.items():
        finding = error_at(work, f"{TENANTS}/{name}")
        assert finding.code == "layout.symlink" and f"({what})" in finding.message, finding
    assert error_at(work, "templates/shared/values-link.yaml.j2").code == "layout.symlink"
    committed = model_of(root, "HEAD")  # Git holds a link as its target text: judged inside the commit
    for name, what in expected.items():
        finding = error_at(committed, f"{TENANTS}/{name}")
        assert finding.code == "layout.symlink" and f"({what})" in finding.message, finding
    assert "alpha/stolen" not in work.tenants and "alpha/stolen" not in committed.tenants


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root)
    os.mkfifo(root / f"{TENANTS}/pipe.yaml")  # opening it for reading would block the compile
    fleet = model_of(root)
    assert error_at(fleet, f"{TENANTS}/pipe.yaml").code == "layout.special"
    assert "alpha/dev" in fleet.tenants


def _load_unprivileged(root: Path) -> list[tuple[str, str]]:
    """Load `root` in a child process that cannot read what its mode bits forbid (root reads everything)."""
    if os.geteuid() != 0:
        return errors(model_of(root))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = json.dumps(errors(build(load(open_tree(root)))))
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert data, "the unprivileged child reported nothing"
    return [(code, path) for code, path in json.loads(data)]


def test_unreadable_files_and_folders_are_errors_not_crashes() -> None:
    # Under /tmp itself (not pytest's private tmp_path), so that an unprivileged child can reach it.
    base = Path(tempfile.mkdtemp(prefix="vfleet-perm-"))
    try:
        base.chmod(0o755)
        root = write_fleet(base / "repo")
        for folder, _, names in os.walk(root):
            os.chmod(folder, 0o755)
            for name in names:
                os.chmod(os.path.join(folder, name), 0o644)
        (root / f"{TENANTS}/secret.yaml").write_text(tenant("secret"))
        (root / f"{TENANTS}/secret.yaml").chmod(0)
        (root / "fleet/projects/beta/tenants").mkdir(parents=True)
        (root / "fleet/projects/beta/tenants").chmod(0)
        assert _load_unprivileged(root) == [
            ("layout.unreadable", "fleet/projects/beta/tenants"),
            ("load.file", f"{TENANTS}/secret.yaml"),
        ]
    finally:
        for folder, dirs, _ in os.walk(base):
            for name in dirs:
                os.chmod(os.path.join(folder, name), stat.S_IRWXU)
        shutil.rmtree(base)


# --------------------------------------------------------------------------- the work tree against Git


def test_tracked_but_missing_is_an_error_until_git_rm(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root)
    (root / DEV).unlink()  # deleted on disk, still in Git's index
    finding = error_at(model_of(root), DEV)
    assert finding.code == "layout.not-checked-out" and "git rm" in finding.message
    repo.index.remove([DEV])  # `git rm`: a deletion Git knows about is not an error
    fleet = model_of(root)
    assert errors(fleet) == [] and "alpha/dev" not in fleet.tenants


def test_a_sparse_checkout_that_leaves_out_a_tenant_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root, {f"{TENANTS}/other.yaml": tenant("other")})
    repo.git.update_index("--skip-worktree", f"{TENANTS}/other.yaml")
    (root / f"{TENANTS}/other.yaml").unlink()  # what a sparse checkout leaves on disk
    finding = error_at(model_of(root), f"{TENANTS}/other.yaml")
    assert finding.code == "layout.not-checked-out" and "sparse checkout" in finding.message
    assert "alpha/other" in model_of(root, "HEAD").tenants  # the commit has it


def test_a_file_git_ignores_is_an_error_naming_the_rule(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {".gitignore": "*.local.yaml\n*.swp\n"})
    (root / f"{TENANTS}/try.local.yaml").write_text(tenant("try"))
    (root / f"{TENANTS}/.dev.yaml.swp").write_text("x")  # ignored by Git and by vfleet: nothing to say
    finding = error_at(model_of(root), f"{TENANTS}/try.local.yaml")
    assert finding.code == "layout.git-ignored" and ".gitignore:1: *.local.yaml" in finding.message
    assert [c for c, _ in errors(model_of(root))] == ["layout.git-ignored"]


def test_a_broken_index_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root)
    (root / ".git/index").write_bytes(b"DIRC garbage")
    fleet = model_of(root)
    assert {c for c, _ in errors(fleet)} == {"layout.git"}
    assert "index" in fleet.findings[0].message


def test_submodules_and_nested_repositories_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root)
    sha = repo.head.commit.hexsha
    repo.git.update_index("--add", "--cacheinfo", f"160000,{sha},fleet/projects/vendored")
    repo.git.commit("-q", "-m", "submodule")
    repo.git.reset("--hard")
    nested = root / "fleet/projects/nested"
    write_fleet(nested)  # a repository inside the fleet: its files are another history's
    git.Repo.init(nested)
    for rev in (None, "HEAD"):
        fleet = model_of(root, rev)
        assert error_at(fleet, "fleet/projects/vendored").code == "layout.submodule", rev
    assert error_at(model_of(root), "fleet/projects/nested").code == "layout.submodule"
    assert not any(key.startswith("nested") for key in model_of(root).tenants)


def test_a_revision_holding_an_lfs_pointer_says_so(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root)
    (root / DEV).write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 12\n")
    commit(repo, "lfs")
    assert "Git LFS pointer" in error_at(model_of(root, "HEAD"), DEV).message


# ------------------------------------------------------------------------- names that one checkout merges


def test_names_that_differ_only_in_case_collide(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_at(root, {f"{TENANTS}/Dev.yaml": tenant("dev-upper"),
                   "fleet/projects/Alpha/tenants/x.yaml": tenant("x")})
    for rev in (None, "HEAD"):
        fleet = model_of(root, rev)
        collisions = {f.location.file: f.message for f in fleet.findings
                      if f.code == "layout.name-collision" and f.location}
        assert sorted(collisions) == ["fleet/projects/alpha", f"{TENANTS}/dev.yaml"], rev
        assert "only in case" in collisions[f"{TENANTS}/dev.yaml"]


def test_names_that_differ_only_in_unicode_normalisation_collide(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    repo_at(root, {f"{TENANTS}/{nfc}.yaml": tenant("cafe-one"), f"{TENANTS}/{nfd}.yaml": tenant("cafe-two")})
    for rev in (None, "HEAD"):
        [finding] = [f for f in model_of(root, rev).findings if f.code == "layout.name-collision"]
        assert "Unicode normalisation" in finding.message, rev


def test_a_name_that_is_not_utf8_is_an_error_that_can_be_printed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root)
    raw = os.fsencode(root / TENANTS) + b"/caf\xe9.yaml"
    with open(raw, "w") as fh:
        fh.write(tenant("latin"))
    commit(repo, "latin-1 name")
    for rev in (None, "HEAD"):
        fleet = model_of(root, rev)
        [finding] = [f for f in fleet.findings if f.code == "layout.name-encoding"]
        assert finding.location is not None and finding.location.file == f"{TENANTS}/caf\\xe9.yaml", rev
        json.dumps(finding.to_json())  # a report can always be written


def _tree_of(root: Path, rev: str | None) -> Tree:
    return open_tree(root, rev)


def test_work_tree_and_commit_list_the_same_odd_entries(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = repo_at(root, {f"{TENANTS}/.hidden.yaml": "x\n", "fleet/.old/a.yaml": "x\n"})
    os.symlink("dev.yaml", root / f"{TENANTS}/link.yaml")
    commit(repo, "odd")
    work = [(u.path, u.kind) for u in _tree_of(root, None).unlisted("fleet")]
    committed = [(u.path, u.kind) for u in _tree_of(root, "HEAD").unlisted("fleet")]
    assert work == committed == [
        ("fleet/.old", "directory"), (f"{TENANTS}/.hidden.yaml", "file"), (f"{TENANTS}/link.yaml", "symlink")]


# -------------------------------------------------------------- size limits


@pytest.mark.parametrize("rev", [False, True], ids=["work-tree", "rev"])
def test_a_spec_over_two_mebibytes_is_refused_but_a_large_placement_lock_is_read(tmp_path: Path, rev: bool) -> None:
    # The lock `vfleet place` writes for 100,000 tenants is 3.2 MB: it is read; a spec that size is not.
    lock_lines = "".join(f"  alpha/t{i:07d}: eu-1\n" for i in range(120_000))
    lock = f"apiVersion: vfleet.dev/v1alpha1\nkind: PlacementLock\ntenants:\n{lock_lines}"
    assert len(lock) > 2 * 1024 * 1024
    padding = "# " + "x" * 78 + "\n"
    big_spec = tenant("big") + padding * (2 * 1024 * 1024 // len(padding) + 1)
    repo = repo_at(tmp_path, {"fleet/placement.lock": lock, f"{TENANTS}/big.yaml": big_spec})
    fleet = model_of(tmp_path, repo.head.commit.hexsha if rev else None)
    finding = error_at(fleet, f"{TENANTS}/big.yaml")
    assert finding.code == "load.file" and "larger than 2048 KiB" in finding.message
    assert not [f for f in fleet.findings if f.location and f.location.file == "fleet/placement.lock"]
    tree = open_tree(tmp_path, repo.head.commit.hexsha if rev else None)
    assert tree.read("fleet/placement.lock").decode() == lock
