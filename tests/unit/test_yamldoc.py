from __future__ import annotations

import pytest

from vfleet.core.yamldoc import MAX_NODES, YamlError, format_path, locate, parse_documents


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


@pytest.mark.parametrize(("path", "written"), [
    ((), ""),
    (("spec",), "spec"),
    (("spec", "pools", 0, "nodeType"), "spec.pools[0].nodeType"),
    (("metadata", "labels", "vfleet.dev/tenant"), 'metadata.labels["vfleet.dev/tenant"]'),
    (("spec", "hard", "requests.cpu"), 'spec.hard["requests.cpu"]'),
    (("values", "a b", 'q"uote'), 'values["a b"]["q\\"uote"]'),
    (("x", "0start", "under_score", "da-sh"), 'x["0start"].under_score.da-sh'),
    ((3, "ü"), '[3]["ü"]'),
])
def test_one_field_path_format_quotes_keys_that_are_not_plain_names(path: tuple[str | int, ...], written: str) -> None:
    """Findings, schema errors, plan changes and drift all write paths with this one function."""
    assert format_path(path) == written


def test_the_formats_that_were_three_agree() -> None:
    from vfleet.core.fielddiff import field_changes
    from vfleet.live.drift import diff
    from vfleet.render.schemas import json_path

    # (A plan compares a list as one value, drift element by element: the paths of mappings agree.)
    old = {"metadata": {"labels": {"vfleet.dev/tenant": "a"}}, "spec": {"hard": {"requests.cpu": 1}}}
    new = {"metadata": {"labels": {"vfleet.dev/tenant": "b"}}, "spec": {"hard": {"requests.cpu": 2}}}
    drift_paths = [change.path for change in diff(old, new)]
    plan_paths = [change.path for change in field_changes(old, new)]
    assert drift_paths == plan_paths == ['metadata.labels["vfleet.dev/tenant"]', 'spec.hard["requests.cpu"]']
    assert json_path(["metadata", "labels", "vfleet.dev/tenant"]) == drift_paths[0]
    assert json_path([]) == "(root)"
