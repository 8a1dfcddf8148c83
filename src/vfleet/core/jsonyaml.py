"""JSON and YAML text of chart values, written fast and exactly.

- `to_json`: the text a `{{ expression }}` of a values template emits — a JSON value that is also a YAML
  flow node with the same value (so a parameter is always exactly one node).
- `to_yaml` / `values_yaml`: deterministic block YAML (sorted keys, strings quoted only when a YAML 1.1
  or 1.2 reader would take them for something else), and `canonical_hash`, the sha256 of the canonical
  JSON; the YAML is written by a
  small emitter for JSON data instead of PyYAML's (which costs ~250 us per tenant); equal subtrees of
  many tenants are written once. tests/unit/test_render_exact.py holds it to PyYAML's reading.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

import orjson
import yaml

MAX_KEY = 1000  # PyYAML refuses implicit keys longer than 1024 characters

# ------------------------------------------------------------------------------------- JSON for {{ }}

# What JSON leaves raw but YAML reads differently: C1 controls and U+2028/2029 (line breaks in YAML
# 1.1, so they would fold inside a double-quoted string), BOM, surrogates and non-characters.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _quote(text: str) -> str:
    """A JSON string literal that is also a YAML double-quoted scalar with the same value."""
    quoted: str = encode_basestring(text)
    return _UNSAFE.sub(_escape, quoted) if _UNSAFE.search(quoted) else quoted


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be written into chart values (NaN and infinity are not JSON)")
    text = repr(value)
    if "e" in text and "." not in text:  # YAML 1.1 reads 1e+20 as a string; 1.0e+20 is a float everywhere
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def to_json(value: Any) -> str:
    """The JSON text an expression emits; TypeError/ValueError for what JSON cannot hold."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _float(value)
    if isinstance(value, str):  # Markup and other subclasses
        return _quote(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping key {key!r} is not a string; chart values keys are strings")
            items.append(f"{_quote(key)}: {to_json(item)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_json(item) for item in value) + "]"
    raise TypeError(f"a value of type {kind.__name__} cannot be written into chart values")


# ---------------------------------------------------------------------------------------- YAML writer

_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9 _./@+=,:%()-]*")
# Read as non-strings by YAML 1.2 (go-yaml v3) or by go-yaml v2's YAML 1.1 (y/n), though PyYAML says str.
_OTHER_READERS = re.compile(
    r"[-+]?(0o[0-7]+|0x[0-9a-fA-F]+|[0-9]+"
    r"|(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|\.(inf|Inf|INF))|\.(nan|NaN|NAN)|[yYnN]|true|True|TRUE|false|False|FALSE"
    r"|null|Null|NULL|~"
)
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_INLINE: dict[str, str] = {}  # string -> how it is written inline; strings repeat across tenants


def _inline_str(text: str) -> str:
    written = _INLINE.get(text)
    if written is None:
        plain = (
            _PLAIN.fullmatch(text) is not None
            and not text.endswith((" ", ":"))
            and ": " not in text
            and " #" not in text
            and _OTHER_READERS.fullmatch(text) is None
            and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG
        )
        written = text if plain else _quote(text)
        if len(_INLINE) > 100_000:
            _INLINE.clear()
        _INLINE[text] = written
    return written


def _inline(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _inline_str(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        if math.isnan(value):
            return ".nan"
        return _float(value) if math.isfinite(value) else (".inf" if value > 0 else "-.inf")
    if kind is dict:
        return "{}"  # only empty ones are written inline
    if kind is list:
        return "[]"
    raise TypeError(f"{kind.__name__} is not JSON data")


_BLOCK_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]| \n| $")


def _block_lines(text: str) -> tuple[str, list[str]] | None:
    """A multi-line string as a literal block: (chomping indicator, lines), or None to quote it."""
    if "\n" not in text or text[0] in " \n" or text.endswith("\n\n") or _BLOCK_UNSAFE.search(text):
        return None
    if text.endswith("\n"):
        return "", text[:-1].split("\n")
    return "-", text.split("\n")


def _scalar(head: str, value: Any, indent: str, out: list[str]) -> None:
    """`head` ('key:' or '-') followed by a scalar, a block string or an empty collection."""
    if type(value) is str and "\n" in value:
        block = _block_lines(value)
        if block is not None:
            chomp, lines = block
            out.append(f"{head} |{chomp}\n")
            out.extend(f"{indent}{line}\n" if line else "\n" for line in lines)
            return
    out.append(f"{head} {_inline(value)}\n")


_HEADS: dict[str, dict[str, str]] = {}  # indent -> key -> "<indent><key>:"


def _head(indent: str, key: str) -> str:
    heads = _HEADS.setdefault(indent, {})
    written = _inline_str(key) if "\n" not in key else _quote(key)
    # A long key must be explicit ("? key" then ": value"); the value then sits one level deeper.
    head = f"{indent}{written}:" if len(written) <= MAX_KEY else f"{indent}? {written}\n{indent}:"
    if len(heads) > 10_000:
        heads.clear()
    heads[key] = head
    return head


def _mapping(value: dict[str, Any], indent: str, out: list[str]) -> None:
    deeper = indent + "  "
    heads = _HEADS.get(indent) or {}
    for key in sorted(value):
        item = value[key]
        head = heads.get(key) or _head(indent, key)
        kind = type(item)
        if kind is str and "\n" not in item:  # the common cases first, without a call
            out.append(f"{head} {_INLINE.get(item) or _inline_str(item)}\n")
        elif kind is bool:
            out.append(f"{head} true\n" if item else f"{head} false\n")
        elif kind is dict and item:
            out.append(head + "\n")
            _mapping(item, deeper, out)
        elif kind is list and item:
            out.append(head + "\n")
            _sequence(item, deeper if head[len(indent)] == "?" else indent, out)
        else:
            _scalar(head, item, deeper, out)


def _sequence(value: list[Any], indent: str, out: list[str]) -> None:
    deeper = indent + "  "
    for item in value:
        kind = type(item)
        if (kind is dict or kind is list) and item:
            nested: list[str] = []
            if kind is dict:
                _mapping(item, deeper, nested)
            else:
                _sequence(item, deeper, nested)
            nested[0] = f"{indent}- {nested[0][len(deeper) :]}"
            out.extend(nested)
        else:
            _scalar(f"{indent}-", item, deeper, out)


def to_yaml(value: Any) -> str:
    """JSON data as deterministic block YAML (sorted keys) that YAML 1.1 and 1.2 readers read back equal."""
    out: list[str] = []
    if type(value) is dict and value:
        _mapping(value, "", out)
    elif type(value) is list and value:
        _sequence(value, "", out)
    else:
        _scalar("---", value, "", out)
    return "".join(out)


# Emitted YAML of (indent, key, canonical JSON of the value): most subtrees of most tenants are equal
# (sync, policies, sleep, manifests ...) and are written once. Admitted on a second sighting, so subtrees
# unique to one tenant do not fill the cache.
_ENTRIES: dict[tuple[str, str, bytes], str] = {}
_SEEN: set[int] = set()
_MAX_ENTRIES = 50_000
_CACHE_DEPTH = 3  # cache at the top three levels; deeper subtrees are small


def _cached_entry(indent: str, key: str, item: Any, data: bytes, depth: int, out: list[str]) -> None:
    cache_key = (indent, key, data)
    text = _ENTRIES.get(cache_key)
    if text is None:
        lines: list[str] = []
        if type(item) is dict and item and depth + 1 < _CACHE_DEPTH:
            lines.append((_HEADS.get(indent) or {}).get(key) or _head(indent, key))
            lines.append("\n")
            deeper = indent + "  "
            for child in sorted(item):
                value = item[child]
                data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
                _cached_entry(deeper, child, value, data, depth + 1, lines)
        else:
            _mapping({key: item}, indent, lines)
        text = "".join(lines)
        sighting = hash(cache_key)
        if sighting in _SEEN:
            if len(_ENTRIES) >= _MAX_ENTRIES:
                _ENTRIES.clear()
            _ENTRIES[cache_key] = text
        else:
            if len(_SEEN) >= 4 * _MAX_ENTRIES:
                _SEEN.clear()
            _SEEN.add(sighting)
    out.append(text)


def values_yaml(values: dict[str, Any]) -> str:
    """`to_yaml(values)`, written from the subtrees many tenants share (`_ENTRIES`)."""
    if not values:
        return to_yaml(values)
    out: list[str] = []
    try:
        for key in sorted(values):
            data = orjson.dumps(values[key], option=orjson.OPT_SORT_KEYS)
            _cached_entry("", key, values[key], data, 0, out)
    except TypeError:  # integers beyond 64 bits: the plain way
        return to_yaml(values)
    return "".join(out)


def canonical_hash(values: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of `values`."""
    try:
        data = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        data = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()
