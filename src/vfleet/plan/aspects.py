"""What a tenant's change reads as: a move, a chart upgrade, a sleep or quota change, new parameters ...

Resource changes say what happens on a cluster; aspects say why, in the terms of the tenant spec. Both
sides' resolved tenants are compared on a small JSON view (the resolved template version and its chart,
sleep and auto-delete after project defaults, the size its quota is made of, the parameter values ...).
"""

from __future__ import annotations

from typing import Any

import orjson

from vfleet import compile as compiler
from vfleet.plan.changes import Aspect
from vfleet.specs import semver_key

View = dict[str, Any]
_SHOWN = 60  # characters of a value in a one-line aspect text


def view(compiled: compiler.Compiled, key: str) -> View | None:
    """The comparable view of tenant `key` in a compile (None when it is not in that compile)."""
    t = compiled.fleet.tenants.get(key)
    if t is None:
        return None
    p = compiled.params.tenants.get(key)
    spec = t.manifest.spec
    size = p.resources if p is not None else None
    return {
        "cluster": compiled.placement.clusters.get(key),
        "template": f"{t.template}@{t.version}",
        "chart": t.template_version.chartVersion,
        "sleep": t.sleep.model_dump(mode="json", exclude_defaults=True) if t.sleep else None,
        "autoDelete": t.auto_delete.model_dump(mode="json", exclude_defaults=True) if t.auto_delete else None,
        "quota": None if size is None else {
            "cpu": size.cpu.text if size.cpu else None,
            "memory": size.memory.text if size.memory else None,
            "storage": size.storage.text if size.storage else None,
            "gpus": size.gpus,
        },
        "parameters": _plain(p.values) if p is not None else None,
        "protect": spec.protect,
        "owner": spec.owner,
        "podSecurity": t.pod_security,
        "privateNodes": [pool.model_dump(mode="json", exclude_defaults=True) for pool in spec.privateNodes],
        "access": [rule.model_dump(mode="json", exclude_defaults=True) for rule in spec.access],
    }


def _plain(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str))


def aspects(before: View | None, after: View | None) -> tuple[Aspect, ...]:
    """The aspects that differ between two views of one tenant (none for a create or a delete)."""
    if before is None or after is None:
        return ()
    out: list[Aspect] = []
    for name in after:
        old, new = before.get(name), after.get(name)
        if old == new or name == "cluster":  # a move is the tenant change's own op
            continue
        out.append(Aspect(name, old, new, _text(name, old, new)))
    return tuple(out)


def _text(name: str, old: Any, new: Any) -> str:
    if name == "chart":
        way = "upgrade" if _newer(new, old) else "downgrade"
        return f"chart {way} {old} -> {new}"
    if name == "template":
        return f"template {old} -> {new}"
    if name == "sleep" and _sleeping(old) != _sleeping(new):
        return "put to sleep" if _sleeping(new) else "woken up"
    if name == "protect":
        return "protected" if new else "unprotected"
    if isinstance(old, dict) and isinstance(new, dict):
        parts = []
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                parts.append(f"{key} {_show(old.get(key))} -> {_show(new.get(key))}")
        return f"{name}: " + ", ".join(parts)
    return f"{name}: {_show(old)} -> {_show(new)}"


def _sleeping(value: Any) -> bool:
    return isinstance(value, dict) and bool(value.get("sleeping"))


def _newer(a: str, b: str) -> bool:
    try:
        return semver_key(a) > semver_key(b)
    except (TypeError, ValueError):
        return a > b


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
