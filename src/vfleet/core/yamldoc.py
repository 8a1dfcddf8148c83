"""YAML documents to plain Python values, fast, safely, and with the lines needed for messages.

libyaml (PyYAML's C composer) builds the node tree; a small walker turns nodes into dicts, lists and
scalars. That is several times faster than PyYAML's Python constructor, and it lets us refuse what a
spec never needs but an attacker might send: duplicate keys (the last one silently winning), alias
expansion beyond a node budget (the "billion laughs" bomb), custom tags. Timestamps stay strings; the
models parse what they need.

Field line numbers are not recorded on the fast path: `locate()` re-reads one document when a finding
actually needs a line, so a clean fleet of 10,000 tenants never pays for them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # written bare in a field path; others are quoted

try:  # libyaml is what makes 10,000 documents affordable; fall back only so that errors stay readable
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML wheels ship libyaml on every platform we support
    _Loader = yaml.SafeLoader

# A document marker "---" (or end marker "...") at column 0 always starts/ends a document: content of
# block scalars is indented, so splitting on these lines is exact and lets each document be parsed
# (and its errors reported) on its own.
_MARKER = re.compile(r"^(---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)

MAX_NODES = 50_000  # per document; real specs have a few hundred

FieldPath = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_INTERN_MAX = 64  # longer strings (descriptions, scripts) are rarely repeated
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class YamlError(ValueError):
    """A document that is not acceptable YAML; `line` is 1-based within the file."""

    def __init__(self, message: str, line: int, field: FieldPath = ()) -> None:
        super().__init__(message)
        self.line = line
        self.field = field


@dataclass(frozen=True, slots=True)
class Chunk:
    """The text of one document of a multi-document file and the file line it starts on."""

    text: str
    first_line: int  # 1-based line in the file of the chunk's first text line
    index: int


def split_documents(text: str) -> list[Chunk]:
    """Split a multi-document file at its markers; empty documents are dropped by the caller."""
    chunks: list[Chunk] = []
    start, line = 0, 1
    index = 0
    for match in _MARKER.finditer(text):
        body = text[start : match.start()]
        chunks.append(Chunk(body, line, index))
        index += 1
        line += body.count("\n")
        # The marker line itself may carry content ("--- a: 1" is rare; "--- !tag" is refused later).
        end_of_marker = match.end()
        start = end_of_marker
        if match.group(1) == "...":
            # After an end marker only a new "---" or comments may follow; treat the rest as next chunk.
            pass
    chunks.append(Chunk(text[start:], line, index))
    return chunks


def _is_blank(text: str) -> bool:
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#") and not stripped.startswith("%"):
            return False
    return True


def parse_documents(text: str) -> Iterator[tuple[int, int, Any]]:
    """Yield (index, first content line, value) for each non-empty document; raise YamlError."""
    for chunk in split_documents(text):
        if _is_blank(chunk.text):
            continue
        node = _compose(chunk)
        if node is None:
            continue
        value = _Builder(chunk.first_line).build(node)
        yield chunk.index, chunk.first_line + node.start_mark.line, value


def _compose(chunk: Chunk) -> yaml.Node | None:
    text = chunk.text
    if "\ufeff" in text[:3]:
        # YAML allows a byte-order mark before each document (files joined with "---"); libyaml accepts
        # one only at the very start of its input, and a chunk starts with the marker line's newline.
        text = text.replace("\ufeff", "", 1)
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = chunk.first_line + (mark.line if mark else 0)
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise YamlError(f"YAML syntax error: {problem}{context}", line) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML error: {exc}", chunk.first_line) from exc


class _Builder:
    """Nodes to values with a node budget, duplicate-key and tag checks."""

    def __init__(self, first_line: int) -> None:
        self.first_line = first_line
        self.budget = MAX_NODES
        self._scalars = yaml.constructor.SafeConstructor()

    def line(self, node: yaml.Node) -> int:
        return self.first_line + int(node.start_mark.line)

    def build(self, node: yaml.Node, path: FieldPath = ()) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise YamlError(
                f"document expands to more than {MAX_NODES} nodes (alias expansion, a 'YAML bomb'?)",
                self.line(node),
                path,
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise YamlError(f"tag {node.tag!r} is not allowed", self.line(node), path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        raise YamlError("unsupported YAML node", self.line(node), path)  # pragma: no cover

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        if node.tag != _MAP:
            raise YamlError(f"tag {node.tag!r} is not allowed", self.line(node), path)
        result: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)  # applied last: explicit keys win, wherever they appear
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("mapping keys must be plain strings", self.line(key_node), path)
            key = sys.intern(key_node.value if key_node.tag == _STR else str(self._scalar(key_node, path)))
            if key in result:
                raise YamlError(f"duplicate key {key!r}", self.line(key_node), (*path, key))
            result[key] = self.build(value_node, (*path, key))
        for merge in merges:
            self._merge(result, merge, path)
        return result

    def _merge(self, result: dict[str, Any], node: yaml.Node, path: FieldPath) -> None:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            merged = self.build(source, path)
            if not isinstance(merged, dict):
                raise YamlError("'<<' merges only mappings", self.line(source), path)
            for key, value in merged.items():
                result.setdefault(key, value)

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        tag = node.tag
        if tag == _STR or tag == "tag:yaml.org,2002:timestamp":
            value: str = node.value
            # Specs repeat the same short values (template names, versions, durations, owners) across
            # thousands of files: one object each instead of one per file is a fifth of the parsed
            # fleet's memory at 100,000 tenants, and the parse cache pickles each one once.
            return sys.intern(value) if len(value) <= _INTERN_MAX else value
        if tag == "tag:yaml.org,2002:int":
            return self._scalars.construct_yaml_int(node)
        if tag == "tag:yaml.org,2002:bool":
            return self._scalars.construct_yaml_bool(node)
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:float":
            return self._scalars.construct_yaml_float(node)
        raise YamlError(f"tag {tag!r} is not allowed", self.line(node), path)


def locate(text: str, first_line: int, index: int, path: Sequence[str | int]) -> int:
    """The 1-based file line of the deepest existing node on `path` in document `index` of `text`.

    Used only when a finding needs a line, so a slower node walk is fine here. Falls back to the
    document's first line when nothing on the path exists (e.g. a missing required field).
    """
    chunk = next((c for c in split_documents(text) if c.index == index), None)
    if chunk is None:
        return first_line
    try:
        node = _compose(chunk)
    except YamlError:
        return first_line
    if node is None:
        return first_line
    line: int = chunk.first_line + int(node.start_mark.line)
    for step in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                    line = chunk.first_line + int(key_node.start_mark.line)
                    child = value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            child = node.value[step]
            line = chunk.first_line + int(child.start_mark.line)
        if child is None:
            break
        node = child
    return line


def format_path(path: Sequence[str | int]) -> str:
    """The one way vfleet writes a field path (findings, schema errors, plan and drift changes):
    ("spec", "pools", 0, "nodeType") -> 'spec.pools[0].nodeType'; a key that is not a plain name is
    quoted, so that a label key's dots are not read as steps: ("metadata", "labels", "vfleet.dev/tenant")
    -> 'metadata.labels["vfleet.dev/tenant"]'. The empty path is ""."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _PLAIN_KEY.match(step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
    return out
