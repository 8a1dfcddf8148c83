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


def unchanged(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """True only when applying `desired` (field manager vfleet) would leave `live` as it is."""
    owned = _owned_fields(live)
    if owned is None or owned != _atomic(_declared_fields(desired), owned):
        return False
    return _contains(live, desired)


def _atomic(declared: set[tuple[str, ...]], owned: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Declared paths under an atomic map (a LabelSelector, a roleRef), as the one field SSA tracks.

    managedFields list such a map as a single leaf; a declared path below an owned leaf belongs to it.
    """
    out: set[tuple[str, ...]] = set()
    for path in declared:
        prefix = next((path[:i] for i in range(1, len(path)) if path[:i] in owned), None)
        out.add(prefix if prefix is not None else path)
    return out


def _owned_fields(live: Mapping[str, Any]) -> set[tuple[str, ...]] | None:
    """vfleet's applied field set, as paths that stop at lists; None when there is no single such entry."""
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") == FIELD_MANAGER and e.get("operation") == "Apply" and not e.get("subresource")
    ]
    if len(entries) != 1 or entries[0].get("fieldsType") != "FieldsV1":
        return None
    paths: set[tuple[str, ...]] = set()
    _walk_fields(entries[0].get("fieldsV1") or {}, (), paths)
    return _without_ignored(paths)


def _walk_fields(node: Mapping[str, Any], path: tuple[str, ...], out: set[tuple[str, ...]]) -> None:
    children = [k for k in node if k != "."]
    if not children:
        out.add(path)
        return
    for key in children:
        if key.startswith("f:"):
            _walk_fields(node[key] or {}, (*path, key[2:]), out)
        else:  # k:{..}, v:.., i:N — an element of a list: the list is the unit compared
            out.add(path)


def _declared_fields(desired: Mapping[str, Any]) -> set[tuple[str, ...]]:
    paths: set[tuple[str, ...]] = set()
    _walk_value(desired, (), paths)
    return _without_ignored(paths)


def _walk_value(value: Any, path: tuple[str, ...], out: set[tuple[str, ...]]) -> None:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            _walk_value(child, (*path, str(key)), out)
    else:
        out.add(path)


def _without_ignored(paths: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    return {
        p
        for p in paths
        if p and p[0] not in _IGNORED_TOP and not (p[0] == "metadata" and (len(p) == 1 or p[1] in _IGNORED_METADATA))
    }


def _contains(live: Any, desired: Any) -> bool:
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(k in live and _contains(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(_contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired) and type(live) is type(desired)
