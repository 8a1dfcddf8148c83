"""Stage 3b — render: template version + tenant parameters -> the vcluster.yaml values of each tenant.

Semantics. A template version's values file is a Jinja2 template run in an immutable sandbox with
strict undefined. Every `{{ expression }}` is written as a JSON value (a scalar, or a flow mapping /
sequence), so a parameter value is always exactly one YAML node: it can never add keys, close a string,
or be evaluated as a template itself. The output must be one YAML mapping. vfleet then merges what the
tenant spec decides (sleep, deletion, private nodes, pod security, access) into the chart's own keys,
the tenant winning, and checks the result against the chart's values.schema.json.

Speed (10,000 tenants well under a second per core). Parsing YAML costs ~250 us per tenant and
dumping it with PyYAML as much again, so neither happens per tenant on the normal path:

- Each values file is compiled once per Git blob, for the life of the process.
- Each tenant renders once with every expression replaced by a token (`VFLEETSLOT<n>X`) and its JSON
  text put aside. Tenants that take the same `{% if %}` / `{% for %}` paths render the same *skeleton*
  text; each distinct skeleton is parsed once and turned into a JSON text with holes, which a tenant's
  JSON texts fill in for `orjson.loads`. This is exact, not approximate: substituting a JSON value for a
  plain, untagged, non-key scalar token is what parsing the fully rendered text would give. Whenever that
  is not certain (a token inside a longer or quoted scalar, a key, an anchor, a merge; templates that
  capture output — macros, call/filter/set blocks; a skeleton that does not parse) the real text is
  rebuilt from the skeleton and parsed as it is.
- The YAML file is written by a small emitter for JSON data (sorted keys, block style, strings quoted
  only when YAML would read them as something else), checked against PyYAML in the tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import orjson
import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vfleet import naming, subjects
from vfleet.findings import Finding, Location, error
from vfleet.load import TEMPLATES_DIR, decode
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams
from vfleet.schemas import SchemaError, SchemaInvalid, SchemaRegistry, ValuesValidator
from vfleet.tree import Tree, TreeError, git_blob_id, safe_relpath
from vfleet.yamldoc import YamlError, parse_documents


@dataclass(frozen=True, slots=True)
class RenderedTenant:
    key: str
    values: dict[str, Any]  # the merged, schema-checked vcluster.yaml values
    yaml: str  # the file `vfleet compile` writes: deterministic, sorted keys
    hash: str  # sha256 of the canonical JSON of `values` (sorted keys, compact, UTF-8)
    cluster: str = ""
    chart_version: str = ""


@dataclass(frozen=True)
class Rendered:
    tenants: dict[str, RenderedTenant]  # by tenant key; tenants that failed to render are absent
    findings: tuple[Finding, ...] = field(default=())


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


# ------------------------------------------------------------------------------------ Jinja environment

# Tokens carry a per-process nonce, so no template text or constant can spell one; they never reach the
# output, which stays deterministic. A plain scalar that YAML reads as a string.
_MARKER = f"vf{secrets.token_hex(6)}s"
_TOKEN = re.compile(_MARKER + r"(\d+)x")
_QUOTED_TOKEN = re.compile(f'"{_MARKER}' + r'(\d+)x"')
_MISSING: Any = object()
_MAX_KEY = 1000  # PyYAML refuses implicit keys longer than 1024 characters

# Nodes whose output is captured into a value instead of written out: with them a token could end up
# inside a string, so templates using them always take the exact, slower path.
_CAPTURING = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Block,
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.EvalContextModifier,
)


class _State(threading.local):
    slots: list[str] | None = None  # set while a fast-path template renders


_STATE = _State()


def _finalize(value: Any) -> str:
    """Every {{ expression }}: its JSON text, or (fast path) a token standing for it.

    Jinja folds constant expressions at compile time, when no slots are set: those become literal JSON
    text in the skeleton, which is exactly what they are in the real text too.
    """
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    text = to_json(value)
    slots = _STATE.slots
    if slots is None:
        return text
    slots.append(text)
    return f"{_MARKER}{len(slots) - 1}x"


# Immutable: a template cannot change `params` or `labels` (list.append, dict.update ... are refused).
# trim_blocks/lstrip_blocks: a `{% if %}` line leaves nothing behind, so YAML indentation stays intact.
_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass
class _Skeleton:
    literals: list[str]  # JSON text around the holes
    holes: list[int]  # slot index filling each hole
    # Holes in key position (`{{ name }}: ...`). A tenant's key values must be strings, distinct, and
    # unlike every literal key of the template — else parsing the real text decides (duplicate keys).
    key_holes: list[int]
    literal_keys: frozenset[str]


@dataclass
class _Compiled:
    """A values file compiled once per blob, with the skeletons its tenants have produced."""

    template: Template | None
    syntax: tuple[int | None, str] | None  # (line, message) of a syntax error
    filename: str  # the code filename of the compiled template: finds its frames in a traceback
    fast: bool
    skeletons: dict[str, _Skeleton | None] = field(default_factory=dict)  # None: parse the real text


_COMPILED: dict[str, _Compiled] = {}
_MAX_SKELETONS = 4096


def _compile(source: str, blob: str) -> _Compiled:
    cached = _COMPILED.get(blob)
    if cached is not None:
        return cached
    filename = f"<vfleet values {blob}>"
    try:
        code = _ENV.compile(source, name=filename, filename=filename)
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        compiled = _Compiled(None, (exc.lineno, exc.message or str(exc)), filename, False)
    else:
        # A plain dict, not the ChainMap make_globals() returns: Jinja copies globals into every render context.
        template = _ENV.template_class.from_code(_ENV, code, dict(_ENV.globals), None)
        fast = not any(True for _ in tree.find_all(_CAPTURING)) and not any(
            loop.recursive for loop in tree.find_all(nodes.For)
        )
        compiled = _Compiled(template, None, filename, fast)
    if len(_COMPILED) > 512:
        _COMPILED.clear()
    _COMPILED[blob] = compiled
    return compiled


def _skeleton(text: str) -> _Skeleton | None:
    """The skeleton as JSON text with holes, or None if substituting tokens would not be exact."""
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return None
    # Per open collection: [is_mapping, items so far, last key]; a mapping's even items are keys.
    stack: list[list[Any]] = []
    documents = 0
    key_holes: list[int] = []
    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent | yaml.CollectionStartEvent):
            top = stack[-1] if stack else None
            is_key = top is not None and top[0] and top[1] % 2 == 0
            if top is not None:
                after_merge = top[0] and not is_key and top[2] == "<<"
                top[1] += 1
                if is_key:
                    top[2] = event.value if isinstance(event, yaml.ScalarEvent) else None
            else:
                after_merge = False
            if isinstance(event, yaml.ScalarEvent) and _MARKER in event.value:
                token = _TOKEN.fullmatch(event.value)
                if (
                    token is None
                    or after_merge
                    or event.tag is not None
                    or not event.implicit[0]
                    or event.anchor is not None
                ):
                    return None
                if is_key:
                    key_holes.append(int(token.group(1)))
            if isinstance(event, yaml.AliasEvent) and is_key:
                return None
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([isinstance(event, yaml.MappingStartEvent), 0, None])
    if documents != 1:
        return None
    try:
        ((_, _, value),) = parse_documents(text)
        skeleton = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (YamlError, ValueError):
        return None
    parts = _QUOTED_TOKEN.split(skeleton)
    keys = frozenset(_keys(value, set())) if key_holes else frozenset()
    return _Skeleton(parts[0::2], [int(n) for n in parts[1::2]], key_holes, keys)


def _keys(value: Any, into: set[str]) -> set[str]:
    """Every literal mapping key anywhere in `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not _TOKEN.fullmatch(key):
                into.add(key)
            _keys(item, into)
    elif isinstance(value, list):
        for item in value:
            _keys(item, into)
    return into


def _fill(skeleton: _Skeleton, slots: list[str]) -> Any:
    """The tenant's values from its skeleton, or _MISSING if only the real text can tell."""
    if skeleton.key_holes:
        texts = [slots[hole] for hole in skeleton.key_holes]
        if any(text[0] != '"' or len(text) > _MAX_KEY for text in texts):
            return _MISSING
        keys = {orjson.loads(text) for text in texts}
        if len(keys) != len(texts) or not keys.isdisjoint(skeleton.literal_keys):
            return _MISSING
    literals = skeleton.literals
    buf = [literals[0]]
    for hole, literal in zip(skeleton.holes, literals[1:], strict=True):
        buf.append(slots[hole])
        buf.append(literal)
    text = "".join(buf)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers beyond 64 bits, lone surrogates: rare, exact either way
        return json.loads(text)


class _RenderError(Exception):
    def __init__(self, code: str, message: str, line: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.line = line


def _evaluate(compiled: _Compiled, context: dict[str, Any]) -> Any:
    """The tenant's values as the template writes them (one mapping), or _RenderError."""
    template = compiled.template
    assert template is not None
    slots: list[str] = []
    if compiled.fast:
        _STATE.slots = slots
    try:
        text = template.render(context)
    except Exception as exc:  # anything a template raises is the template's problem, with its line
        raise _template_error(exc, compiled.filename) from exc
    finally:
        _STATE.slots = None
    if compiled.fast:
        skeleton = compiled.skeletons.get(text, _MISSING)
        if skeleton is _MISSING:
            skeleton = _skeleton(text)
            if len(compiled.skeletons) < _MAX_SKELETONS:
                compiled.skeletons[text] = skeleton
        if skeleton is not None:
            values = _fill(skeleton, slots)
            if values is not _MISSING:
                return values
        text = _TOKEN.sub(lambda m: slots[int(m.group(1))], text)  # the real text: exact, see above
    try:
        documents = list(parse_documents(text))
    except YamlError as exc:
        lines = text.splitlines()
        shown = lines[exc.line - 1].strip() if 0 < exc.line <= len(lines) else ""
        raise _RenderError(
            "render.yaml",
            f"the rendered values are not valid YAML: {exc} (line {exc.line} of the output: {shown[:120]!r})",
            None,
        ) from exc
    if len(documents) != 1:
        raise _RenderError(
            "render.yaml", f"the rendered values must be one YAML document, got {len(documents)}", None
        )
    return documents[0][2]


def _template_error(exc: Exception, filename: str) -> _RenderError:
    line = None
    tb = exc.__traceback__
    while tb is not None:  # Jinja rewrites tracebacks so template frames carry template line numbers
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, UndefinedError):
        return _RenderError("render.undefined", exc.message or str(exc), line)
    if isinstance(exc, SecurityError):
        return _RenderError("render.sandbox", f"not allowed in templates: {exc}", line)
    return _RenderError("render.error", f"{type(exc).__name__}: {exc}", line)


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
    head = f"{indent}{written}:" if len(written) <= _MAX_KEY else f"{indent}? {written}\n{indent}:"
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


def yaml_and_hash(values: dict[str, Any]) -> tuple[str, str]:
    """`to_yaml(values)` and `canonical_hash(values)`, computed together and from shared subtrees."""
    if not values:
        return to_yaml(values), canonical_hash(values)
    out: list[str] = []
    hashed: list[bytes] = []
    try:
        for key in sorted(values):
            data = orjson.dumps(values[key], option=orjson.OPT_SORT_KEYS)
            hashed.append(orjson.dumps(key) + b":" + data)
            _cached_entry("", key, values[key], data, 0, out)
    except TypeError:  # integers beyond 64 bits: the plain way
        return to_yaml(values), canonical_hash(values)
    # The same bytes orjson writes for the whole mapping with sorted keys.
    return "".join(out), hashlib.sha256(b"{" + b",".join(hashed) + b"}").hexdigest()


def canonical_hash(values: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8) of `values`."""
    try:
        data = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        data = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------- what vfleet itself decides

_RBAC = "rbac.authorization.k8s.io"
NODE_TYPE_PROPERTY = "vcluster.com/node-type"
SLEEPING_ANNOTATION = "vfleet.dev/sleeping"


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overlay` into `base` (in place): mappings merge, anything else in `overlay` wins."""
    for key, value in overlay.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge(current, value)
        else:
            base[key] = value
    return base


def tenant_overlay(fleet: Fleet, tenant: ResolvedTenant) -> dict[str, Any]:
    """The chart values that follow from the tenant spec itself, not from the template."""
    spec = tenant.spec.spec
    overlay: dict[str, Any] = {"policies": {"podSecurityStandard": tenant.pod_security}}
    sleep = tenant.sleep
    if sleep is not None:
        auto: dict[str, Any] = {}
        if sleep.afterInactivity is not None:
            auto["afterInactivity"] = sleep.afterInactivity.text
        if sleep.schedule is not None:
            auto["schedule"] = sleep.schedule
        if sleep.wakeup is not None:
            auto["wakeup"] = {"schedule": sleep.wakeup}
        if sleep.timezone is not None:
            auto["timezone"] = sleep.timezone
        if auto:
            overlay["sleep"] = {"auto": auto}
        if sleep.sleeping:
            overlay["controlPlane"] = {
                "statefulSet": {
                    "highAvailability": {"replicas": 0},
                    "annotations": {SLEEPING_ANNOTATION: "true"},
                }
            }
    deletion: dict[str, Any] = {}
    if tenant.auto_delete is not None and tenant.auto_delete.afterInactivity is not None:
        deletion["auto"] = {"afterInactivity": tenant.auto_delete.afterInactivity.text}
    if spec.protect:
        deletion["prevent"] = True
    if deletion:
        overlay["deletion"] = deletion
    if spec.privateNodes:
        overlay["privateNodes"] = {"enabled": True, "autoNodes": _auto_nodes(fleet, tenant)}
    return overlay


def _auto_nodes(fleet: Fleet, tenant: ResolvedTenant) -> list[dict[str, Any]]:
    """Pools grouped by provider — and by node-type properties, which autoNodes holds per group."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for pool in sorted(tenant.spec.spec.privateNodes, key=lambda p: p.name):
        node_type = fleet.node_type(pool.provider, pool.nodeType)
        properties = dict(sorted(node_type.properties.items())) if node_type is not None else {}
        group = groups.setdefault(
            (pool.provider, json.dumps(properties)),
            {"provider": pool.provider, "properties": properties, "static": []},
        )
        static: dict[str, Any] = {
            "name": pool.name,
            "quantity": pool.quantity,
            "nodeTypeSelector": [{"property": NODE_TYPE_PROPERTY, "value": pool.nodeType}],
        }
        if pool.taints:
            static["taints"] = [t.model_dump(exclude_none=True) for t in pool.taints]
        group["static"].append(static)
    return [groups[key] for key in sorted(groups)]


def access_manifests(fleet: Fleet, tenant: ResolvedTenant) -> str | None:
    """One ClusterRoleBinding per cluster role of the tenant's access rules, as multi-document YAML."""
    by_role: dict[str, set[tuple[str, str]]] = {}
    for rule in tenant.spec.spec.access:
        members = by_role.setdefault(rule.clusterRole, set())
        members.update(("User", user) for user in rule.users)
        members.update(("Group", group) for group in rule.groups)
        for name in rule.teams:
            team = fleet.teams[name].spec.spec
            members.update(("User", user) for user in team.members)
            members.update(("Group", group) for group in team.groups)
    documents = []
    for role in sorted(by_role):
        documents.append(
            to_yaml(
                {
                    "apiVersion": f"{_RBAC}/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {
                        "name": f"vfleet-access-{role}",
                        "labels": {"app.kubernetes.io/managed-by": naming.MANAGED_BY},
                    },
                    "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": role},
                    "subjects": [
                        {"apiGroup": _RBAC, "kind": kind, "name": name}
                        for kind, name in sorted(by_role[role])
                    ],
                }
            )
        )
    return "---\n".join(documents) if documents else None


def _add_manifests(values: dict[str, Any], manifests: str) -> None:
    """vfleet's manifests go after any the template deploys itself, never instead of them."""
    merge(values, {"experimental": {"deploy": {"vcluster": {}}}})
    deploy = values["experimental"]["deploy"]["vcluster"]
    existing = deploy.get("manifests")
    if isinstance(existing, str) and existing.strip():
        manifests = existing.rstrip("\n") + "\n---\n" + manifests
    deploy["manifests"] = manifests


# ------------------------------------------------------------------------------------------- the stage


@dataclass
class _Version:
    """What every tenant of one template version shares: the compiled file, the validator."""

    path: str  # templates/<name>/<values>
    compiled: _Compiled | None  # None: the file is unusable (reported once)
    validator: ValuesValidator | None  # None: no schema (reported once)
    tenants: list[str] = field(default_factory=list)  # who is affected by a problem of the file


def _values_path(fleet: Fleet, template: str, values: str) -> tuple[str | None, str]:
    """(path, '') for a values file inside the template's folder, else (None, why)."""
    rel = safe_relpath(values)
    folder = f"{TEMPLATES_DIR}/{template}"
    if rel is None:
        return None, (
            f"values file {values!r} leaves the template folder {folder}/ (absolute paths and '..' "
            f"are refused); name a file inside it, e.g. 'values.yaml.j2'"
        )
    path = f"{folder}/{rel}"
    tree = fleet.loaded.tree
    if path not in {entry.path for entry in tree.files(folder)}:
        link = _is_link(tree, folder, rel)
        why = "is a symbolic link (links are never followed)" if link else "does not exist"
        return None, f"values file {path} {why}; put the Jinja2 values template in {folder}/"
    return path, ""


def _is_link(tree: Tree, folder: str, rel: str) -> bool:
    root = getattr(tree, "root", None)  # only work trees have links on disk to tell apart
    if not isinstance(root, Path):
        return False
    current = root / folder
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            return True
    return False


def _context(tenant: ResolvedTenant, cluster: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        **values,
        "project": tenant.project,
        "tenant": tenant.name,
        "cluster": cluster,
        "namespace": tenant.namespace,
        "owner": tenant.spec.spec.owner,
        "labels": tenant.spec.metadata.labels,
        "params": values,
    }


def render(
    fleet: Fleet, params: ResolvedParams, placements: Mapping[str, str], schemas: SchemaRegistry
) -> Rendered:
    """Render, merge and schema-check the values of every placed tenant with resolved parameters."""
    renderer = _Renderer(fleet, schemas)
    rendered: dict[str, RenderedTenant] = {}
    for key in sorted(fleet.tenants):
        tenant_params = params.tenants.get(key)
        cluster = placements.get(key)
        if tenant_params is None or cluster is None:  # reported by the params / place stages
            continue
        result = renderer.tenant(fleet.tenants[key], cluster, tenant_params.values)
        if result is not None:
            rendered[key] = result
    return Rendered(rendered, tuple(renderer.findings + renderer.syntax_findings()))


class _Renderer:
    """One render run: what is shared per template version, per access configuration, and findings."""

    def __init__(self, fleet: Fleet, schemas: SchemaRegistry) -> None:
        self.fleet = fleet
        self.schemas = schemas
        self.findings: list[Finding] = list(schemas.findings)
        self.versions: dict[tuple[str, str], _Version] = {}
        self.manifests: dict[tuple[Any, ...], str | None] = {}

    def tenant(self, tenant: ResolvedTenant, cluster: str, params: dict[str, Any]) -> RenderedTenant | None:
        version = self.versions.get((tenant.template, tenant.version))
        if version is None:
            version = self.versions[tenant.template, tenant.version] = self._prepare(tenant)
        version.tenants.append(tenant.key)
        compiled = version.compiled
        if compiled is None or compiled.template is None:
            return None  # reported once, for the template version
        subject = subjects.tenant(tenant.key)
        try:
            values = _evaluate(compiled, _context(tenant, cluster, params))
        except _RenderError as exc:
            hint = ""
            if exc.code == "render.undefined":
                hint = f"; defined: {', '.join(sorted(_context(tenant, cluster, params)))}"
            where = Location(version.path, exc.line)
            self.findings.append(
                error(exc.code, f"{exc} (rendering tenant {tenant.key}{hint})", where, subject)
            )
            return None
        if not isinstance(values, dict):
            message = f"the rendered values must be a YAML mapping, got {type(values).__name__}"
            where = Location(version.path)
            self.findings.append(
                error("render.yaml", f"{message} (rendering tenant {tenant.key})", where, subject)
            )
            return None
        merge(values, tenant_overlay(self.fleet, tenant))
        if tenant.spec.spec.access:
            manifests = self._access(tenant)
            if manifests is not None:
                _add_manifests(values, manifests)
        if version.validator is not None:
            problems = version.validator.errors(values)
            if problems:
                where = self.fleet.location(tenant.doc)
                self.findings.extend(
                    error("values.schema", f"{problem} (values rendered from {version.path})", where, subject)
                    for problem in problems
                )
                return None
        text, digest = yaml_and_hash(values)
        return RenderedTenant(tenant.key, values, text, digest, cluster, tenant.template_version.chartVersion)

    def _access(self, tenant: ResolvedTenant) -> str | None:
        """Access manifests, built once per distinct set of access rules (teams are fleet-wide)."""
        key = tuple(
            (rule.clusterRole, tuple(rule.users), tuple(rule.teams), tuple(rule.groups))
            for rule in tenant.spec.spec.access
        )
        if key not in self.manifests:
            self.manifests[key] = access_manifests(self.fleet, tenant)
        return self.manifests[key]

    def _prepare(self, tenant: ResolvedTenant) -> _Version:
        """The compiled values file and the schema validator of a template version; problems reported once."""
        fleet = self.fleet
        item = fleet.templates[tenant.template]
        index = next(i for i, v in enumerate(item.spec.spec.versions) if v.version == tenant.version)
        tv = tenant.template_version
        subject = subjects.template(tenant.template)

        def report(code: str, message: str, field_name: str) -> None:
            where = fleet.location(item.doc, ("spec", "versions", index, field_name))
            self.findings.append(error(code, message, where, subject))

        validator = None
        try:
            validator = self.schemas.validator(tv.chartVersion, tv.schema_)
        except SchemaError as exc:
            code = "chart.schema-invalid" if isinstance(exc, SchemaInvalid) else "chart.schema-missing"
            report(code, str(exc), "schema" if tv.schema_ is not None else "chartVersion")
        path, why = _values_path(fleet, tenant.template, tv.values)
        if path is None:
            report("template.values-path", why, "values")
            return _Version(tv.values, None, validator)
        try:
            data = fleet.loaded.tree.read(path)
            source = decode(data)
        except (OSError, TreeError) as exc:
            report("template.values-path", f"values file {path} cannot be read: {exc}", "values")
            return _Version(path, None, validator)
        except UnicodeDecodeError as exc:
            message = f"values template is not UTF-8 text ({exc.reason} at byte {exc.start})"
            self.findings.append(error("template.encoding", message, Location(path), subject))
            return _Version(path, None, validator)
        return _Version(path, _compile(source, git_blob_id(data)), validator)

    def syntax_findings(self) -> list[Finding]:
        """One finding per broken values file (not one per tenant), naming the tenants it blocks."""
        findings = []
        reported: set[str] = set()
        for (template, _), version in sorted(self.versions.items()):
            compiled = version.compiled
            if compiled is None or compiled.syntax is None or version.path in reported:
                continue
            reported.add(version.path)
            tenants = sorted(k for v in self.versions.values() if v.path == version.path for k in v.tenants)
            shown = ", ".join(tenants[:5]) + (f" and {len(tenants) - 5} more" if len(tenants) > 5 else "")
            line, message = compiled.syntax
            findings.append(
                error(
                    "template.syntax",
                    f"Jinja2 syntax error: {message} (blocks tenants {shown})",
                    Location(version.path, line),
                    subjects.template(template),
                )
            )
        return findings
