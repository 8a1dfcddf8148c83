"""fleet/placement.lock: the format that records where each tenant lives, read and written.

The place stage (`vfleet.place`) decides; this module only knows the file: its canonical text (sorted
entries, plain scalars, one header), a reader that takes that text without a YAML parser and anything
else through one with line-accurate findings, and an atomic writer that leaves a current file alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from vfleet.core.findings import Finding, Location, error
from vfleet.core.yamldoc import YamlError, locate, parse_documents
from vfleet.load import LOCK_FILE, Lock, decode
from vfleet.repo.tree import Tree, TreeError
from vfleet.specs import API_VERSION, DNS_LABEL

LOCK_KIND = "PlacementLock"
_LOCK_HEADER = (
    "# Written by `vfleet place`: the connected cluster each tenant lives on. Commit it with the change\n"
    "# that adds a tenant. Placement is sticky: a tenant listed here stays on its cluster until its spec\n"
    "# names another one (spec.cluster) or its line is removed and `vfleet place` runs again.\n"
)
_KEY = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A plain YAML scalar that starts with a letter and is not a YAML 1.1 boolean/null word is a string.
_PLAIN = re.compile(r"^[a-z][a-z0-9/-]*$")
_YAML_WORDS = frozenset({"y", "yes", "n", "no", "true", "false", "on", "off", "null"})


def lock_text(clusters: Mapping[str, str]) -> str:
    """The exact content of fleet/placement.lock that records `clusters` (tenant key -> cluster)."""
    lines = [_LOCK_HEADER, f"apiVersion: {API_VERSION}\n", f"kind: {LOCK_KIND}\n"]
    if not clusters:
        lines.append("tenants: {}\n")
        return "".join(lines)
    lines.append("tenants:\n")
    lines.extend(f"  {_scalar(key)}: {_scalar(name)}\n" for key, name in sorted(clusters.items()))
    return "".join(lines)


def _scalar(text: str) -> str:
    if _PLAIN.match(text) and text not in _YAML_WORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'



def read_lock(tree: Tree, read: dict[bytes, Lock] | None = None) -> Lock:
    """Read fleet/placement.lock; a missing file is an empty lock, bad entries are ERROR findings.

    Valid entries of a partly broken lock are kept, so a typo in one line never moves other tenants.
    `read`: locks read before, by content (a plan reads the same 3 MB lock on both sides: parsed once).
    """
    if not tree.exists(LOCK_FILE):
        return Lock()
    try:
        data = tree.read(LOCK_FILE)
    except (TreeError, FileNotFoundError) as exc:
        return Lock({}, (_lock_error(f"cannot read the lock file: {exc}", 1),))
    if read is None:
        return _parse_lock(data)
    lock = read.get(data)
    if lock is None:
        lock = read[data] = _parse_lock(data)
    return lock


def _parse_lock(data: bytes) -> Lock:
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        return Lock({}, (_lock_error(f"cannot read the lock file: {exc}", 1),))
    canonical = _read_canonical(text)
    if canonical is not None:
        return Lock(canonical)
    try:
        docs = list(parse_documents(text))
    except YamlError as exc:
        return Lock({}, (_lock_error(str(exc), exc.line),))
    if len(docs) != 1:
        return Lock({}, (_lock_error(f"expected exactly one YAML document, found {len(docs)}", 1),))
    index, first_line, data = docs[0]

    def where(*path: str) -> int:
        return locate(text, first_line, index, path)

    if not isinstance(data, dict):
        return Lock({}, (_lock_error("the lock must be a mapping of apiVersion, kind, tenants", first_line),))
    findings: list[Finding] = []
    if data.get("apiVersion") != API_VERSION or data.get("kind") != LOCK_KIND:
        findings.append(_lock_error(f"expected apiVersion {API_VERSION} and kind {LOCK_KIND}", where("kind")))
    for extra in sorted(set(data) - {"apiVersion", "kind", "tenants"}):
        findings.append(_lock_error(f"unknown field {extra!r} (expected: apiVersion, kind, tenants)",
                                    where(extra)))
    raw = data.get("tenants")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        findings.append(_lock_error("'tenants' must map '<project>/<tenant>' to a cluster", where("tenants")))
        return Lock({}, tuple(findings))
    tenants: dict[str, str] = {}
    for key, cluster in raw.items():
        if not _KEY.match(key):
            findings.append(_lock_error(f"{key!r} is not a key '<project>/<tenant>'", where("tenants", key)))
        elif not isinstance(cluster, str) or not DNS_LABEL.match(cluster) or len(cluster) > 63:
            findings.append(_lock_error(f"{key}: {cluster!r} is not a cluster name", where("tenants", key)))
        else:
            tenants[key] = cluster
    return Lock(dict(sorted(tenants.items())), tuple(findings))


_NAME = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_CANONICAL_ENTRY = re.compile(rf"  ({_NAME}/{_NAME}): ([a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)")


def _read_canonical(text: str) -> dict[str, str] | None:
    """The entries of a lock exactly as `lock_text` writes it, without a YAML parser; None otherwise.

    A 10,000-tenant lock costs 0.1 s through YAML and a tenth of that here. Anything unusual (a hand
    edit, quoting, comments, an unsorted or repeated key, a YAML word) takes the YAML path with its
    line-accurate errors, so this shortcut never accepts what the full reader would reject.
    """
    head = f"{_LOCK_HEADER}apiVersion: {API_VERSION}\nkind: {LOCK_KIND}\ntenants:\n"
    if not text.startswith(head) or not text.endswith("\n"):
        return None
    tenants: dict[str, str] = {}
    previous = ""
    match = _CANONICAL_ENTRY.fullmatch
    for line in text[len(head):-1].split("\n"):
        found = match(line)
        if found is None:
            return None
        key, cluster = found.group(1, 2)
        if key <= previous or cluster in _YAML_WORDS:
            return None
        tenants[key] = cluster
        previous = key
    return tenants


def _lock_error(message: str, line: int) -> Finding:
    return error(
        "place.lock-invalid",
        f"{message}. Fix the file, or delete it and run `vfleet place` (placed tenants keep their clusters "
        "only through this file)",
        Location(LOCK_FILE, line),
    )


def write_lock(root: Path, clusters: Mapping[str, str]) -> bool:
    """Write the lock of `clusters` under `root` atomically; False (and nothing touched) when it is
    already current."""
    path = root / LOCK_FILE
    text = lock_text(clusters)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True
