"""The renderer's fast paths against the plain way, on inputs chosen to break them.

vfleet.render.templating avoids parsing YAML per tenant (skeletons with holes), and the writer avoids PyYAML's
emitter (a small one of its own). Both claim to be exact; these tests hold them to it: every template
below is also rendered by a plain Jinja2 sandbox with the same settings and parsed with PyYAML, and
every value written by `to_yaml` is read back by PyYAML.
"""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vfleet.core import jsonyaml
from vfleet.render import templating

PLAIN = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, finalize=jsonyaml.to_json, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=True,
)

TRICKY = [
    "", " ", "a b", "yes", "No", "on", "OFF", "y", "n", "null", "~", "true", "False", "0", "-1", "1.5",
    "1e3", "0o17", "0x1F", ".inf", "-.Inf", ".nan", "12:30", "1:20:30", "2026-11-23", "a: b", "a #b", "#x",
    "-", "- x", "?", "? x", ":x", "x:", "@x", "`x", "!x", "&x", "*x", "|", ">", "%x", "'x'", '"x"', "[x]",
    "{x}", "x, y", "é", "日本", "tab\there", "line\nbreak", "trailing\n", "\nleading", "two\n\nblank",
    "nul\x00", "bell\x07", "\u2028", "a" * 200, "8Gi", "500m", "v1.35.0", "<<", "=", "x # y", "x #",
]

TEMPLATES = [
    # plain holes in values and sequences
    "a: {{ s }}\nb:\n  - {{ s }}\n  - {{ n }}\nc: {{ obj }}\n",
    # holes inside longer or quoted scalars: the fast path must give up and parse the real text
    "a: 'x{{ n }}'\nb: \"{{ n }}\"\nc: pre{{ n }}\n",
    # a hole as a key, next to literal keys
    "{{ s }}: 1\nz: 2\n",
    # control flow: tenants take different paths, each path one skeleton
    "{% if flag %}\nwhen: {{ s }}\n{% else %}\nother: {{ n }}\n{% endif %}\n"
    "list:\n{% for i in items %}\n  - {{ i }}\n{% endfor %}\n",
    # anchors and merges around holes
    "base: &b\n  x: {{ n }}\nuse:\n  <<: *b\n  y: {{ s }}\n",
    # capturing constructs: macros and set blocks disable the fast path
    "{% macro m(v) %}{{ v }}{% endmacro %}\na: {{ m(s) }}\n",
    "{% set x %}{{ s }}{% endset %}\na: {{ x }}\n",
    # filters and built-in expressions
    "a: {{ s | upper }}\nb: {{ items | length }}\nc: {{ 'v' ~ n }}\nd: {{ obj.k if obj else none }}\n",
    # flow collections with holes
    "a: [{{ n }}, {{ s }}]\nb: {x: {{ n }}}\n",
]


def _contexts(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for s in TRICKY:
        out.append({
            "s": s,
            "n": rng.choice([0, 1, -7, 2**40, 1.5, 1e20, 0.1, True, False, None]),
            "flag": rng.random() < 0.5,
            "items": rng.sample(TRICKY, rng.randint(0, 3)),
            "obj": rng.choice([{}, {"k": s}, {"k": [s, 1]}, [s, {"x": None}]]),
        })
    return out


def _plain(source: str, context: dict[str, Any]) -> Any:
    return yaml.load(PLAIN.from_string(source).render(context), Loader=yaml.SafeLoader)


@pytest.mark.parametrize("source", TEMPLATES)
def test_the_fast_path_equals_rendering_and_parsing_the_text(source: str) -> None:
    compiled = templating.compile_values(source, f"test-{hash(source)}")
    assert compiled.template is not None, compiled.syntax
    checked = 0
    for context in _contexts(seed=len(source)):
        try:
            expected = _plain(source, context)
        except Exception:  # undefined attribute, YAML that does not parse: the renderer must refuse too
            with pytest.raises(templating.RenderError):
                templating.evaluate(compiled, context)
            continue
        if not isinstance(expected, dict):
            continue  # not a mapping: reported by render(), not this function's business
        try:
            got = templating.evaluate(compiled, context)
        except templating.RenderError:  # e.g. a duplicate key, which PyYAML accepts and vfleet refuses
            assert source.startswith("{{ s }}: 1") and context["s"] == "z"
            continue
        assert got == expected, (source, context)
        checked += 1
    assert checked > len(TRICKY) // 2


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.25:
        return {rng.choice(TRICKY + list(string.ascii_lowercase)): _random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.4:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice([*TRICKY, 0, -1, 10**15, 3.25, -0.0, 1e-7, 1e300, True, False, None])


def test_the_yaml_writer_reads_back_equal() -> None:
    rng = random.Random(20261123)
    for _ in range(3000):
        value = {"root": _random_value(rng), "other": _random_value(rng)}
        text = jsonyaml.to_yaml(value)
        assert yaml.safe_load(text) == value, text
        assert jsonyaml.values_yaml(value) == text
        assert jsonyaml.values_yaml(value) == text  # from the subtree cache


@pytest.mark.parametrize("text", TRICKY)
def test_every_tricky_string_round_trips_as_a_value_and_as_a_key(text: str) -> None:
    value = {text: [text, {text: text}]}
    assert yaml.safe_load(jsonyaml.to_yaml(value)) == value
