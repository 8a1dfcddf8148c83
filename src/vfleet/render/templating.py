"""Jinja2 values templates, fast: each `{{ expression }}` one JSON value, a skeleton parsed once per shape.

Semantics. A values file is a Jinja2 template run in an immutable sandbox with strict undefined. Every
`{{ expression }}` is written as a JSON value (a scalar, or a flow mapping / sequence), so a parameter
value is always exactly one YAML node: it can never add keys, close a string, or be evaluated as a
template itself. The output must be one YAML mapping (`evaluate`).

Speed (10,000 tenants well under a second per core). Parsing YAML costs ~250 us per tenant, so it does
not happen per tenant on the normal path:

- Each values file is compiled once per Git blob, for the life of the process (`compile_values`).
- Each tenant renders once with every expression replaced by a token (`VFLEETSLOT<n>X`) and its JSON
  text put aside. Tenants that take the same `{% if %}` / `{% for %}` paths render the same *skeleton*
  text; each distinct skeleton is parsed once and turned into a JSON text with holes, which a tenant's
  JSON texts fill in for `orjson.loads`. This is exact, not approximate: substituting a JSON value for a
  plain, untagged, non-key scalar token is what parsing the fully rendered text would give. Whenever that
  is not certain (a token inside a longer or quoted scalar, a key, an anchor, a merge; templates that
  capture output — macros, call/filter/set blocks; a skeleton that does not parse) the real text is
  rebuilt from the skeleton and parsed as it is.

The compiled files are a process-wide cache keyed by blob id (the same blob compiles to the same
template in every run); the slots being filled are per thread.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vfleet.core.jsonyaml import MAX_KEY, to_json
from vfleet.core.yamldoc import YamlError, parse_documents

# Tokens carry a per-process nonce, so no template text or constant can spell one; they never reach the
# output, which stays deterministic. A plain scalar that YAML reads as a string.
_MARKER = f"vf{secrets.token_hex(6)}s"
_TOKEN = re.compile(_MARKER + r"(\d+)x")
_QUOTED_TOKEN = re.compile(f'"{_MARKER}' + r'(\d+)x"')
_MISSING: Any = object()

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
class CompiledValues:
    """A values file compiled once per blob, with the skeletons its tenants have produced."""

    template: Template | None
    syntax: tuple[int | None, str] | None  # (line, message) of a syntax error
    filename: str  # the code filename of the compiled template: finds its frames in a traceback
    fast: bool
    skeletons: dict[str, _Skeleton | None] = field(default_factory=dict)  # None: parse the real text


_COMPILED: dict[str, CompiledValues] = {}
_MAX_SKELETONS = 4096


def compile_values(source: str, blob: str) -> CompiledValues:
    cached = _COMPILED.get(blob)
    if cached is not None:
        return cached
    filename = f"<vfleet values {blob}>"
    try:
        code = _ENV.compile(source, name=filename, filename=filename)
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        compiled = CompiledValues(None, (exc.lineno, exc.message or str(exc)), filename, False)
    else:
        # A plain dict, not the ChainMap make_globals() returns: Jinja copies globals into every render context.
        template = _ENV.template_class.from_code(_ENV, code, dict(_ENV.globals), None)
        fast = not any(True for _ in tree.find_all(_CAPTURING)) and not any(
            loop.recursive for loop in tree.find_all(nodes.For)
        )
        compiled = CompiledValues(template, None, filename, fast)
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
        if any(text[0] != '"' or len(text) > MAX_KEY for text in texts):
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


class RenderError(Exception):
    def __init__(self, code: str, message: str, line: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.line = line


def evaluate(compiled: CompiledValues, context: dict[str, Any]) -> Any:
    """The tenant's values as the template writes them (one mapping), or RenderError."""
    template = compiled.template
    assert template is not None
    slots: list[str] = []
    if compiled.fast:
        _STATE.slots = slots
    try:
        text = template.render(context)
    except Exception as exc:  # anything a template raises is the template's problem, with its line
        raise template_error(exc, compiled.filename) from exc
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
        raise RenderError(
            "render.yaml",
            f"the rendered values are not valid YAML: {exc} (line {exc.line} of the output: {shown[:120]!r})",
            None,
        ) from exc
    if len(documents) != 1:
        raise RenderError(
            "render.yaml", f"the rendered values must be one YAML document, got {len(documents)}", None
        )
    return documents[0][2]


def template_error(exc: Exception, filename: str) -> RenderError:
    line = None
    tb = exc.__traceback__
    while tb is not None:  # Jinja rewrites tracebacks so template frames carry template line numbers
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, UndefinedError):
        return RenderError("render.undefined", exc.message or str(exc), line)
    if isinstance(exc, SecurityError):
        return RenderError("render.sandbox", f"not allowed in templates: {exc}", line)
    return RenderError("render.error", f"{type(exc).__name__}: {exc}", line)
