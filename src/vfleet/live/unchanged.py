"""When a server-side apply of a desired object provably changes nothing, without asking the server.

Drift asks the API server for the result of applying each desired object (a dry run) and compares it
with the live object. For a fleet in sync that is one request per object, which grows with the tenant
count. Most objects can be decided locally instead, conservatively — "unchanged" only when both hold:

1. vfleet's own field set (its `Apply` entry in `metadata.managedFields`) is exactly the set of fields
   the desired object declares: no field would be added to vfleet's set or released from it (a field
   another client took over moved to that client's entry, so this fails and the server is asked);
2. every value the desired object declares is the live value (maps by key; lists element by element,
   same length, same order, where a live element may hold more fields: those are server defaults such
   as `protocol: TCP`, since with (1) nobody else owns anything inside vfleet's lists).

Anything else — a quantity the server normalised (`1024Mi` is `1Gi`), a reordered list, an unreadable
managedFields entry — is "not known" and goes to the server. A false "changed" costs one request; a
false "unchanged" would hide drift, so every doubt resolves to asking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vfleet.live.kube import FIELD_MANAGER

# Fields the API server manages itself or vfleet never applies; never part of a field set compared here.
_IGNORED_TOP = frozenset({"apiVersion", "kind", "status"})
_IGNORED_METADATA = frozenset({"name", "namespace"})
_IGNORED_FIELDS = frozenset({"f:apiVersion", "f:kind", "f:status"})


def unchanged(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """True only when applying `desired` (field manager vfleet) would leave `live` as it is."""
    fields = _vfleet_fields(live)
    if fields is None:
        return False
    declared = {k: v for k, v in desired.items() if k not in _IGNORED_TOP}
    metadata = {k: v for k, v in (desired.get("metadata") or {}).items() if k not in _IGNORED_METADATA}
    if metadata:
        declared["metadata"] = metadata
    else:
        declared.pop("metadata", None)
    owned = {k: v for k, v in fields.items() if k not in _IGNORED_FIELDS}
    return _same_fields(owned, declared) and _contains(live, desired)


def _vfleet_fields(live: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """vfleet's one `Apply` entry's fieldsV1, or None when there is not exactly one such entry."""
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") == FIELD_MANAGER and e.get("operation") == "Apply" and not e.get("subresource")
    ]
    if len(entries) != 1 or entries[0].get("fieldsType") != "FieldsV1":
        return None
    fields = entries[0].get("fieldsV1")
    return fields if isinstance(fields, Mapping) else None


def _same_fields(node: dict[str, Any], value: Any) -> bool:
    """Does the fieldsV1 `node` own exactly the fields `value` declares (one walk over both)?

    A node without children owns its field as a unit: a scalar, an empty map, a list (its elements are
    the list's business: `k:`, `v:`, `i:` entries), or an atomic map (a LabelSelector, a roleRef), which
    managedFields list as one leaf however many keys the value has. Plain `type() is` checks: parsed
    JSON is dicts and lists, and this runs for every field of every object of a fleet.
    """
    dot = "." in node
    children = len(node) - dot
    if not children:
        return True
    if type(value) is not dict or not value:
        return type(value) is list  # a list's elements; anything else has no children to own
    if children != len(value):
        return False
    for key, child in node.items():
        if key == ".":
            continue
        if key[:2] != "f:":
            return False
        inner = value.get(key[2:], _ABSENT)
        if inner is _ABSENT or not _same_fields(child or {}, inner):
            return False
    return True


def _contains(live: Any, desired: Any) -> bool:
    """Is every value `desired` declares in `live` (maps by key; lists element by element)?"""
    if live == desired and type(live) is type(desired):  # the common case, compared at C speed
        return True
    kind = type(desired)
    if kind is dict:
        return type(live) is dict and all(k in live and _contains(live[k], v) for k, v in desired.items())
    if kind is list:
        return (
            type(live) is list
            and len(live) == len(desired)
            and all(_contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return False


_ABSENT = object()
