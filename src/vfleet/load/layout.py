"""Every path under fleet/ and templates/ is read, ignored by a documented rule, or an error.

A GitOps compiler's worst failure is quiet: a spec it does not read drops out of the desired state, and
the next apply deletes what it defined. So nothing the trees list (`Tree.files`, `Tree.unlisted`) passes
without a decision. The rules, for people, are docs/files.md; this module is their only implementation:

- read: `fleet/**/*.yaml|*.yml` (the model then checks which kind may live where), `fleet/placement.lock`,
  `templates/<name>/template.yaml|.yml`;
- template material: any other file under `templates/<name>/`, read when a version names it;
- ignored: documentation (README*, *.md), Git's own files (.gitkeep, .gitignore, .gitattributes) and
  editor or desktop litter (*~, *.swp, .DS_Store ...);
- everything else is an error with its path: other extensions and spellings (.YAML, .yaml.disabled),
  hidden files, symbolic links, submodules, special and unreadable files, files Git tracks that the work
  tree lacks or that Git ignores, names that are not UTF-8, and names that differ only in case or Unicode
  normalisation (one file on macOS and Windows, so a checkout there keeps one of them).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from vfleet.core.findings import Finding, Location, error
from vfleet.repo.tree import LOCK_FILE as LOCK_FILE  # where the lock lives is a tree fact (its size limit)
from vfleet.repo.tree import FileEntry, Kind, Unlisted

FLEET_DIR = "fleet"
TEMPLATES_DIR = "templates"
SPEC_SUFFIXES = (".yaml", ".yml")
_FLEET_PREFIX = FLEET_DIR + "/"
TEMPLATE_FILES = ("template.yaml", "template.yml")
TENANT_FILE = re.compile(rf"^{FLEET_DIR}/projects/([^/]+)/tenants/[^/]+\.ya?ml$")

_GIT_FILES = frozenset({".gitkeep", ".gitignore", ".gitattributes", ".keep"})
_LITTER_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_LITTER_SUFFIXES = ("~", ".swp", ".swo", ".swx")


@dataclass(frozen=True)
class Layout:
    """The decision for every path: the spec files to parse, what was ignored, and the errors."""

    specs: list[FileEntry]
    ignored: list[str]
    findings: list[Finding]


def ignored_by_rule(name: str) -> bool:
    """Documentation, Git's own files and editor/desktop litter (a file's base name).

    Never a YAML name: a tenant called "readme" lives in readme.yaml, and must be read.
    """
    lower = name.lower()
    if lower.endswith(SPEC_SUFFIXES):
        return False
    return (
        lower == "readme"
        or lower.startswith("readme.")
        or lower.endswith(".md")
        or name in _GIT_FILES
        or lower in _LITTER_NAMES
        or lower.endswith(_LITTER_SUFFIXES)
        or name.startswith(".#")  # Emacs lock files (dangling symbolic links while a file is open)
        or (name.startswith("#") and name.endswith("#"))  # Emacs auto-save
    )


def is_tenant_file(path: str) -> bool:
    return TENANT_FILE.match(path) is not None


def classify(files: Iterable[FileEntry], unlisted: Iterable[Unlisted]) -> Layout:
    """Sort every listed and unlisted path of fleet/ and templates/ into read, ignored, or an error."""
    specs: list[FileEntry] = []
    ignored: list[str] = []
    findings: list[Finding] = []
    all_paths: list[str] = []
    template_dirs: dict[str, bool] = {}  # templates/<name> -> has a template.yaml
    for entry in files:
        path = entry.path
        all_paths.append(path)
        if path.endswith(SPEC_SUFFIXES) and path.startswith(_FLEET_PREFIX):
            specs.append(entry)  # the common case, 10,000 times in a large fleet: decided by its name alone
            continue
        name = path.rsplit("/", 1)[1]
        if ignored_by_rule(name):
            ignored.append(path)
            continue
        problem = _fleet_file(path, name) if path.startswith(FLEET_DIR + "/") else _template_file(path, name)
        if problem is None:
            if path != LOCK_FILE and (path.startswith(FLEET_DIR + "/") or name in TEMPLATE_FILES):
                specs.append(entry)
        elif problem:
            findings.append(error(problem[0], problem[1], Location(printable(path))))
        if path.startswith(TEMPLATES_DIR + "/") and path.count("/") >= 2:
            folder = "/".join(path.split("/", 2)[:2])
            template_dirs[folder] = template_dirs.get(folder, False) or (
                path.count("/") == 2 and name in TEMPLATE_FILES)
    for folder, has_spec in sorted(template_dirs.items()):
        if not has_spec:
            findings.append(error(
                "layout.template-missing",
                f"{folder}/ has no template.yaml, so nothing in it is read; add one, or remove the folder",
                Location(printable(folder))))
    for odd in unlisted:
        if odd.kind is not Kind.NOT_CHECKED_OUT:  # not on disk: it collides with nothing there
            all_paths.append(odd.path)
        if _ignored_unlisted(odd):
            ignored.append(odd.path)
        else:
            code, message = _unlisted_problem(odd)
            findings.append(error(code, message, Location(printable(odd.path))))
    findings.extend(_name_problems(all_paths))
    return Layout(specs, ignored, findings)


def _fleet_file(path: str, name: str) -> tuple[str, str] | None:
    if path == LOCK_FILE or name.endswith(SPEC_SUFFIXES):
        return None
    lower = name.lower()
    if lower.endswith(SPEC_SUFFIXES):
        fixed = name[: -len(".yaml")] + ".yaml" if lower.endswith(".yaml") else name[: -len(".yml")] + ".yml"
        return "layout.extension", (
            f"{name}: vfleet reads only the lowercase extensions .yaml and .yml, so this file is not read; "
            f"rename it to {fixed}")
    hint = ""
    if ".yaml." in lower or ".yml." in lower:
        hint = " To delete what it defined, delete the file (git rm); a renamed copy is not a way to disable it."
    return "layout.unknown-file", (
        f"{name}: fleet/ holds YAML specs (*.yaml, *.yml), placement.lock and documentation (README*, *.md); "
        f"vfleet does not know what this file is, and does not read it. Rename a spec to .yaml, or move the "
        f"file out of fleet/.{hint}")


def _template_file(path: str, name: str) -> tuple[str, str] | None:
    """None: a spec or template material; else the finding's (code, message)."""
    depth = path.count("/")
    if depth == 1:
        return "layout.unknown-file", (
            f"{name}: templates/ holds one folder per template (templates/<name>/template.yaml) and "
            "documentation; this file is not read. Move it into a template's folder")
    if name.lower() in TEMPLATE_FILES and (depth != 2 or name not in TEMPLATE_FILES):
        where = "/".join(path.split("/")[:2])
        return "layout.template-file", (
            f"{name}: a template's spec is read only as {where}/template.yaml (lowercase, directly in the "
            "template's folder), so this file is not read; rename or move it")
    return None  # the spec, or material a template version names (values:, schema:)


def unread(odd: Iterable[Unlisted]) -> list[tuple[str, str, str]]:
    """(path, code, message) of each entry a tree did not list that no rule ignores: for folders other
    than fleet/ and templates/ (policies/), whose files are read by their own rules."""
    return [(u.path, *_unlisted_problem(u)) for u in odd if not _ignored_unlisted(u)]


def _ignored_unlisted(odd: Unlisted) -> bool:
    name = odd.path.rsplit("/", 1)[-1]
    if odd.kind in (Kind.FILE, Kind.SYMLINK, Kind.GIT_IGNORED):
        return ignored_by_rule(name)  # a Git-ignored README or swap file is ignored twice over
    return False


def _unlisted_problem(odd: Unlisted) -> tuple[str, str]:
    detail = f" {odd.detail}" if odd.detail else ""
    match odd.kind:
        case Kind.FILE:
            return "layout.hidden", ("hidden file (its name starts with '.'): vfleet reads no hidden files; "
                                     "rename it without the dot, or delete it")
        case Kind.DIRECTORY:
            return "layout.hidden", ("hidden folder (its name starts with '.'): nothing in it is read; "
                                     "rename it without the dot, or delete it")
        case Kind.SYMLINK:
            return "layout.symlink", (
                f"symbolic link{detail}: links are never followed, in the work tree or in Git (a link can "
                "point outside the repository, and a checkout without link support turns it into a text "
                "file); put the file itself here")
        case Kind.SPECIAL:
            return "layout.special", "not a regular file (a FIFO, socket or device): it cannot be a spec"
        case Kind.UNREADABLE:
            return "layout.unreadable", f"cannot be read ({odd.detail}): fix its permissions"
        case Kind.SUBMODULE:
            return "layout.submodule", (
                "a Git submodule or nested repository: vfleet reads only this repository's files, and a "
                "commit holds a submodule as a pointer; put the specs in this repository")
        case Kind.NOT_CHECKED_OUT if odd.detail == "sparse":
            return "layout.not-checked-out", (
                "tracked by Git but outside the sparse checkout, so this work tree is not the whole fleet; "
                "include fleet/ and templates/ in the sparse checkout (git sparse-checkout add), or compile "
                "the commit with --rev")
        case Kind.NOT_CHECKED_OUT:
            return "layout.not-checked-out", (
                "tracked by Git but missing from the work tree (deleted, renamed, or on a case-insensitive "
                "file system hidden by a name that differs only in case); `git rm` it to delete what it "
                "defined, or `git checkout -- <path>` to restore it")
        case Kind.GIT_IGNORED:
            return "layout.git-ignored", (
                f"ignored by Git ({odd.detail}): it is read here but can never be committed, so the compile "
                "of a commit lacks it; stop ignoring it, or move it out of the repository")
        case Kind.GIT_ERROR:
            return "layout.git", (
                f"the work tree cannot be compared with Git's index, so files Git tracks and the work tree "
                f"lacks would go unnoticed: {odd.detail}")
    return "layout.unknown", f"not read ({odd.kind}{detail})"  # pragma: no cover - every kind is matched


def _fold(name: str) -> str:
    """The spelling case-insensitive, normalisation-insensitive file systems (macOS, Windows) compare."""
    return name.lower() if name.isascii() else unicodedata.normalize("NFC", name).casefold()


def _name_problems(paths: list[str]) -> list[Finding]:
    """Names that are not UTF-8, and names in one folder that one checkout on macOS or Windows merges.

    Folders count as names too (fleet/projects/Web next to fleet/projects/web); what lies below two
    colliding folders is not reported again. One pass with a dict: this runs on every compile.
    """
    findings: list[Finding] = []
    seen: dict[tuple[str, str], str] = {}  # (folder, folded name) -> the first spelling
    clashes: dict[tuple[str, str], set[str]] = {}
    folders: set[str] = set()

    def visit(path: str) -> None:
        folder, _, name = path.rpartition("/")
        key = (folder, _fold(name))
        first = seen.setdefault(key, path)
        if first != path:
            clashes.setdefault(key, {first}).add(path)

    for path in paths:
        if not path.isascii() and not _is_utf8(path):
            findings.append(error("layout.name-encoding", "the file name is not valid UTF-8: Git, the plan and "
                                  "reports cannot show it reliably; rename it", Location(printable(path))))
        visit(path)
        parent = path.rpartition("/")[0]
        while parent and parent not in folders:
            folders.add(parent)
            visit(parent)
            parent = parent.rpartition("/")[0]
    for group in clashes.values():
        first, *others = sorted(group)
        for path in others:
            how = ("Unicode normalisation (NFC/NFD)" if unicodedata.normalize("NFC", path) ==
                   unicodedata.normalize("NFC", first) else "case")
            findings.append(error(
                "layout.name-collision",
                f"differs from {printable(first)} only in {how}: macOS and Windows treat both as one file, so "
                "a checkout there silently keeps only one of them; rename one", Location(printable(path))))
    return findings


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the bytes of a name that is not UTF-8
        return False
    return True


def printable(path: str) -> str:
    """A path that can always be printed and serialised (undecodable bytes shown as \\xNN)."""
    if path.isascii() or _is_utf8(path):
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
