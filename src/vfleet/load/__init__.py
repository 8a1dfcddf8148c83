"""Stage 1 — load: a tree (work tree or Git revision) -> YAML documents with their source file:line.

Only this stage (and `tree`) reads files. It knows the repository layout:

    fleet/clusters/*.yaml, fleet/projects/<project>/project.yaml,
    fleet/projects/<project>/tenants/*.yaml, fleet/nodes/*.yaml, fleet/teams/*.yaml,
    templates/<template>/template.yaml (+ its Jinja2 values files), fleet/placement.lock

Which files those are is decided for every path by `vfleet.load.layout` (read, ignored by a documented rule,
or an error; docs/files.md). Every problem becomes a `Finding`; loading goes on so that all problems are
reported in one run. A spec file with no document in it is an error too: an emptied tenant file must not
read as a deleted tenant.
Parsing is the expensive part of a 10,000-tenant fleet, so parsed documents are kept per Git blob id
(`ParseCache`): unchanged files are never parsed twice, whichever revision they come from.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfleet.core.findings import Finding, Location, error
from vfleet.core.gcpause import gc_paused
from vfleet.core.yamldoc import FieldPath, YamlError, format_path, locate, parse_documents
from vfleet.load import layout
from vfleet.load.layout import FLEET_DIR as FLEET_DIR  # re-exported: every stage imports the layout from here
from vfleet.load.layout import LOCK_FILE as LOCK_FILE
from vfleet.load.layout import TEMPLATES_DIR as TEMPLATES_DIR
from vfleet.repo.tree import FileEntry, Tree, TreeError

POLICIES_DIR = "policies"
_LFS_POINTER = "version https://git-lfs.github.com/spec/"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")

# Below this many files a process pool costs more than it saves.
_PARALLEL_MIN_FILES = 1500

# Bumped whenever parsing a given text can give a different result (a cache keyed by blob id would
# otherwise keep the old result for unchanged files): 2 = byte-order marks after "---", LFS pointers.
PARSE_VERSION = 2

ParsedDoc = tuple[int, int, Any]  # (index in file, first line, value)
Parsed = list[ParsedDoc] | YamlError


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document and where it came from."""

    file: str  # repo-relative path
    line: int  # 1-based line of the document's first node
    index: int  # position among the documents of its file
    blob: str  # Git blob id of the file
    data: Any


@dataclass(frozen=True)
class Lock:
    """The committed placement as read: tenant key -> cluster, plus what was wrong with the file.

    Its reader is the place stage's (`vfleet.place.read_lock`); the type lives here, below it, because
    the parse cache keeps the locks it has read.
    """

    tenants: dict[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


@dataclass
class ParseCache:
    """Parsed documents by Git blob id; optionally persisted between runs.

    A compile saves the cache just after its load stage and then `release`s it: the documents' data is
    not read after the model stage, and at 100,000 tenants holding it to the compile's end cost ~200 MB
    of its peak. `keep_in_memory` is for a caller that compiles several small views of one revision
    with one cache (the plan's two slices share the fleet's specs).
    """

    entries: dict[str, Parsed] = field(default_factory=dict)
    path: Path | None = None
    keep_in_memory: bool = False
    _dirty: bool = False
    _released: bool = False
    # Placement locks read by this process, by content (never saved: the lock has its own fast reader).
    locks: dict[bytes, Lock] = field(default_factory=dict, repr=False)

    @staticmethod
    def open(path: Path | None) -> ParseCache:
        if path is not None and path.is_file():
            try:
                with path.open("rb") as fh, gc_paused():  # 3x faster for 10,000 entries
                    stored = pickle.load(fh)
                if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == PARSE_VERSION \
                        and isinstance(stored[1], dict):
                    return ParseCache(stored[1], path)
            except Exception:  # a stale or corrupt cache is only a slower run
                pass
        return ParseCache({}, path)

    def put(self, blob: str, parsed: Parsed) -> None:
        self.entries[blob] = parsed
        self._dirty = True

    def save(self) -> None:
        if self.path is None or not self._dirty or self._released:
            return  # released: what is in memory now is a part of what the file holds
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as fh:
                pickle.dump((PARSE_VERSION, self.entries), fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(self.path)
        except OSError:
            # A cache that cannot be saved (a full disk) costs the next run its parse time, nothing else:
            # it is never a reason to fail a compile, nor to leave a half-written file behind.
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            return
        self._dirty = False

    def release(self) -> None:
        """Forget the parsed documents held in memory, unless `keep_in_memory` (the saved file keeps
        them). A later load with this cache parses again, and it is never saved again."""
        if self.keep_in_memory:
            return
        self.entries = {}
        self._released = True


@dataclass(frozen=True)
class Loaded:
    """The documents of one tree plus what went wrong reading them."""

    tree: Tree
    documents: tuple[Document, ...]
    findings: tuple[Finding, ...]

    def text(self, path: str) -> str:
        return decode(self.tree.read(path))

    def location(self, doc: Document, path: FieldPath = ()) -> Location:
        """file:line of `path` inside `doc` (the line is looked up only now, when a finding needs it)."""
        line = doc.line if not path else locate(self.text(doc.file), doc.line, doc.index, path)
        return Location(doc.file, line, format_path(path) or None)


def decode(data: bytes) -> str:
    return data.decode("utf-8-sig")


def classify(tree: Tree) -> layout.Layout:
    """Every path of fleet/ and templates/: the spec files (in a stable order), what is ignored, errors."""
    unlisted = [*tree.unlisted(FLEET_DIR), *tree.unlisted(TEMPLATES_DIR)]  # first: a work tree then runs
    listed = [*tree.files(FLEET_DIR), *tree.files(TEMPLATES_DIR)]  # Git while it walks its folders
    return layout.classify(listed, unlisted)


def tenant_files(tree: Tree) -> int:
    """How many tenant spec files `tree` has, before anything is read (the listing is kept for `load`)."""
    tree.unlisted(FLEET_DIR)  # first, as `classify` does: a work tree then runs Git while it walks
    return sum(1 for entry in tree.files(FLEET_DIR) if layout.is_tenant_file(entry.path))


def spec_files(tree: Tree) -> list[FileEntry]:
    """The files that hold spec documents, in a stable order."""
    return classify(tree).specs


def _parse(text: str) -> Parsed:
    if text.startswith(_LFS_POINTER):
        return YamlError("the file is a Git LFS pointer, not the spec: keep fleet/ and templates/ out of Git "
                         "LFS (.gitattributes), so that every commit holds the specs themselves", 1)
    try:
        return list(parse_documents(text))
    except YamlError as exc:
        if "\ufeff" in text:  # a BOM inside a document: libyaml's message does not say so
            line = text.count("\n", 0, text.index("\ufeff")) + 1
            return YamlError(f"{exc} (a byte-order mark U+FEFF is inside the file at line {line}, e.g. from "
                             "joining files; remove it)", exc.line, exc.field)
        return exc


def _not_utf8(data: bytes, exc: UnicodeDecodeError) -> YamlError:
    if data.startswith(_UTF16_32_BOMS):
        return YamlError("file is UTF-16 or UTF-32 (it starts with such a byte-order mark); save it as UTF-8", 1)
    return YamlError(f"file is not UTF-8 text ({exc.reason} at byte {exc.start})", 1)


def _parse_many(texts: Sequence[str]) -> list[Parsed]:
    return [_parse(t) for t in texts]


def _parse_parallel(texts: list[str]) -> list[Parsed]:
    """Parse on every core: libyaml releases nothing to threads, so processes it is."""
    workers = min(os.cpu_count() or 1, 8)
    if workers < 2 or len(texts) < _PARALLEL_MIN_FILES:
        return _parse_many(texts)
    size = (len(texts) + workers - 1) // workers
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_parse_many, batches))
    return [parsed for batch in results for parsed in batch]


def load(tree: Tree, cache: ParseCache | None = None) -> Loaded:
    """Read and parse every spec file of `tree`; never raises for bad content."""
    cache = cache if cache is not None else ParseCache()
    files = classify(tree)
    findings: list[Finding] = list(files.findings)
    entries = files.specs
    missing: list[tuple[FileEntry, str]] = []
    for entry in entries:
        if entry.blob in cache.entries:
            continue
        try:
            data = tree.read(entry.path)
            missing.append((entry, decode(data)))
        except UnicodeDecodeError as exc:
            cache.put(entry.blob, _not_utf8(data, exc))
        except TreeError as exc:
            findings.append(error("load.file", str(exc), Location(entry.path)))
        except FileNotFoundError:  # listed, then gone (or replaced by a link) before it was read
            findings.append(error("load.file", "the file disappeared (or became a link) while it was read; "
                                  "run again", Location(entry.path)))
    for (entry, _text), parsed in zip(missing, _parse_parallel([t for _, t in missing]), strict=True):
        cache.put(entry.blob, parsed)

    documents: list[Document] = []
    for entry in entries:
        cached = cache.entries.get(entry.blob)
        if cached is None:
            continue
        if isinstance(cached, YamlError):
            findings.append(
                error("yaml.syntax", str(cached),
                      Location(entry.path, cached.line, format_path(cached.field) or None))
            )
            continue
        if not cached:
            findings.append(error("load.empty", "no YAML document in this file (it is empty, or only comments "
                                  "and '---'): to delete what it defined, delete the file", Location(entry.path)))
            continue
        for index, line, value in cached:
            documents.append(Document(entry.path, line, index, entry.blob, value))
    return Loaded(tree, tuple(documents), tuple(findings))


def release_data(loaded: Loaded) -> None:
    """Drop every document's parsed data once the model stage has validated it.

    Nothing after the model reads it (a finding's line is looked up in the file's text when needed), and
    at 100,000 tenants holding it until the compile ends cost ~200 MB of its peak. The documents stay,
    with their file, line and blob, for the findings and for `vfleet apply`.
    """
    for doc in loaded.documents:
        object.__setattr__(doc, "data", None)  # frozen for every reader; the compile alone clears it
