"""The one field-by-field diff of two JSON values: a plan's base and head bodies, drift's live and desired.

The two uses differ in two ways, on purpose, and say so with the options rather than with a second diff:

- `lists_by_element`: a plan shows a changed list as one value (its lists are ordered values a reviewer
  reads whole, such as a role's verbs), drift names the element that differs (`spec.rules[0].verbs`:
  where on the live object to look). Lists of different lengths are one change either way.
- `absent_is_null`: an API server drops null fields, so for drift a field the live object lacks equals a
  desired `null`; a plan compares two desired states vfleet wrote, where `added` and `removed` are news.

`before` is the base (plan) or the live object (drift); `after` the head or the desired state.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vfleet.core.yamldoc import FieldPath, format_path

Kind = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs; `before` is None when it was `added`, `after` None when `removed`."""

    path: str  # yamldoc.format_path: spec.hard["requests.cpu"], spec.rules[0].verbs; "(root)" for the whole
    change: Kind
    before: Any = None
    after: Any = None


def field_changes(before: Any, after: Any, path: FieldPath = (), *, skip: Collection[FieldPath] = frozenset(),
                  lists_by_element: bool = False, absent_is_null: bool = False) -> list[FieldChange]:
    """Every differing leaf of two JSON values, in key order; `skip` paths are not compared."""
    out: list[FieldChange] = []
    _walk(before, after, path, out, skip, lists_by_element, absent_is_null)
    return out


def _walk(before: Any, after: Any, path: FieldPath, out: list[FieldChange], skip: Collection[FieldPath],
          by_element: bool, absent_is_null: bool) -> None:
    if path in skip or before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            sub = (*path, key)
            if sub in skip:
                continue
            if absent_is_null:
                _walk(before.get(key), after.get(key), sub, out, skip, by_element, absent_is_null)
            elif key not in before:
                out.append(FieldChange(_shown(sub), "added", None, after[key]))
            elif key not in after:
                out.append(FieldChange(_shown(sub), "removed", before[key], None))
            else:
                _walk(before[key], after[key], sub, out, skip, by_element, absent_is_null)
        return
    if by_element and isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            _walk(a, b, (*path, i), out, skip, by_element, absent_is_null)
        return
    kind: Kind = "changed"
    if absent_is_null:  # a null side here is a field that side lacks
        kind = "added" if before is None else "removed" if after is None else "changed"
    out.append(FieldChange(_shown(path), kind, before, after))


def _shown(path: Sequence[str | int]) -> str:
    return format_path(path) or "(root)"
