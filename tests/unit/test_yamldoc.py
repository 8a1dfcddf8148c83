from __future__ import annotations

import pytest

from vfleet.yamldoc import MAX_NODES, YamlError, format_path, locate, parse_documents


def test_multi_document_lines_and_values() -> None:
    text = "# header\na: 1\n---\n---\nb: [x, 2, true, null, 1.5]\nwhen: 2026-01-01\n...\n---\nk: |\n  ---\n  x\n"
    docs = list(parse_documents(text))
    assert [(i, line) for i, line, _ in docs] == [(0, 2), (2, 5), (4, 9)]
    assert docs[1][2] == {"b": ["x", 2, True, None, 1.5], "when": "2026-01-01"}
    assert docs[2][2] == {"k": "---\nx\n"}  # a marker inside a block scalar is content


def test_duplicate_key_is_an_error_with_its_line() -> None:
    with pytest.raises(YamlError) as exc:
        list(parse_documents("a: 1\nb:\n  c: 1\n  c: 2\n"))
    assert exc.value.line == 4
    assert "duplicate key 'c'" in str(exc.value)
    assert exc.value.field == ("b", "c")


def test_syntax_error_line_in_second_document() -> None:
    with pytest.raises(YamlError) as exc:
        list(parse_documents("a: 1\n---\nb: 2\nc: [1,\n"))
    assert exc.value.line in (4, 5)
    assert str(exc.value).startswith("YAML syntax error")


def test_python_tags_refused() -> None:
    with pytest.raises(YamlError, match="not allowed"):
        list(parse_documents("a: !!python/object:os.system x\n"))


def test_alias_bomb_is_stopped() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefg"):
        prev = "abcdefg"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(YamlError, match=f"more than {MAX_NODES} nodes"):
        list(parse_documents("\n".join(lines) + "\n"))


def test_merge_keys_supported() -> None:
    (_, _, value), = parse_documents("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")
    assert value["c"] == {"x": 1, "y": 3}


def test_locate_field_lines() -> None:
    text = "a: 1\n---\nspec:\n  params:\n    cpu: 2\n  list:\n    - x\n    - y\n"
    assert locate(text, 3, 1, ("spec", "params", "cpu")) == 5
    assert locate(text, 3, 1, ("spec", "list", 1)) == 8
    assert locate(text, 3, 1, ("spec", "missing")) == 3  # deepest existing node: spec
    assert format_path(("spec", "list", 1, "name")) == "spec.list[1].name"
