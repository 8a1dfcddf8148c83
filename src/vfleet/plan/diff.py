"""Resource-level diff of two desired states of one connected cluster.

Identity is what the API server sees: (kind, namespace, name) on the cluster. Resources are paired on that,
not on the full id, so a change of apiVersion (or anything else that changes an id but keeps the live
object) is an update of that object — never a delete plus a create of the same object, which server-side
apply would turn into "apply it, then delete it".

For an update the body is compared leaf by leaf (lists as a whole, they are ordered values); the Helm
release's values are shown as a unified diff of the rendered vcluster.yaml instead of a blob of fields.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vfleet.core.fielddiff import field_changes
from vfleet.core.jsonyaml import to_yaml
from vfleet.desired import HELM_RELEASE, Resource
from vfleet.plan.changes import OP_ORDER, FieldChange, Op, ResourceChange

LiveKey = tuple[str, str | None, str]  # kind, namespace, name
_VALUES: tuple[str, ...] = ("spec", "values")
_HIDDEN: set[tuple[str, ...]] = {("spec", "valuesHash")}  # follows from the values, which are shown as a diff
VALUES_FILE = "vcluster.yaml"


def live_key(resource: Resource) -> LiveKey:
    return (resource.kind, resource.namespace, resource.name)


def diff_cluster(cluster: str, base: Iterable[Resource], head: Iterable[Resource]) -> tuple[ResourceChange, ...]:
    """Every resource created, updated or deleted on `cluster`: deletions first, then creates, updates."""
    before = {live_key(r): r for r in base}
    after = {live_key(r): r for r in head}
    # Within an op and a tenant, resources keep the desired state's dependency order (the namespace before
    # what lives in it); deletions run it backwards (the release before its namespace).
    position = {key: i for i, key in enumerate(after)}
    position.update({key: -i for i, key in enumerate(before) if key not in after})
    changes: list[tuple[ResourceChange, int]] = []
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            changes.append((_change(Op.DELETE, cluster, old), position[key]))
        elif new is not old and (new.id != old.id or new.body != old.body or new.protect != old.protect
                                 or new.depends_on != old.depends_on):
            update = _update(cluster, old, new)
            if update is not None:
                changes.append((update, position[key]))
    changes += [(_change(Op.CREATE, cluster, new), position[key]) for key, new in after.items()
                if key not in before]
    changes.sort(key=lambda c: (OP_ORDER[c[0].op], c[0].tenant or "", c[1]))
    return tuple(c for c, _ in changes)


def _change(op: Op, cluster: str, r: Resource) -> ResourceChange:
    return ResourceChange(op, r.id, cluster, r.api_version, r.kind, r.namespace, r.name, r.tenant, r.protect)


def _update(cluster: str, old: Resource, new: Resource) -> ResourceChange | None:
    fields: list[FieldChange] = []
    values_diff: tuple[str, ...] = ()
    skip: set[tuple[str, ...]] = set()
    if new.kind == HELM_RELEASE:
        old_values = _get(old.body, _VALUES)
        new_values = _get(new.body, _VALUES)
        if old_values != new_values:
            values_diff = yaml_diff(old_values, new_values)
        skip = {_VALUES, *_HIDDEN}
    fields.extend(field_changes(old.body, new.body, skip=skip))
    if new.protect != old.protect:
        fields.append(FieldChange("(protect)", "changed", old.protect, new.protect))
    if not fields and not values_diff and old.id == new.id:
        return None  # only the dependency order differs: nothing changes on the cluster
    return ResourceChange(Op.UPDATE, new.id, cluster, new.api_version, new.kind, new.namespace, new.name,
                          new.tenant, new.protect, old.id if old.id != new.id else None, tuple(fields),
                          values_diff)


def _get(body: Mapping[str, Any], path: Sequence[str]) -> Any:
    current: Any = body
    for step in path:
        current = current.get(step) if isinstance(current, Mapping) else None
    return current


def yaml_diff(old: Any, new: Any, context: int = 3) -> tuple[str, ...]:
    """A unified diff of two values as the vcluster.yaml files `vfleet compile` writes for them."""
    before = to_yaml(old).splitlines() if old is not None else []
    after = to_yaml(new).splitlines() if new is not None else []
    lines = difflib.unified_diff(before, after, f"base/{VALUES_FILE}", f"head/{VALUES_FILE}", n=context,
                                 lineterm="")
    return tuple(lines)
