"""Why no cluster can take a tenant: the `place.no-cluster` message, bounded at any fleet size.

One reason per candidate cluster reads well for three clusters and runs to ~50-80 KB per tenant at
1,000. So past `LISTED` candidates the message counts them per kind of reason (full at maxTenants, short
of a resource, not matching the placement selector, not offering a node provider) and names the
`NAMED` of each kind nearest to fitting; every candidate with its reason goes into the finding's
`details` (`--output json`). Nearest means: the least shortfall relative to the tenant's need, over the
resources it is short of (a full cluster lacks one whole tenant slot); for a selector or node-provider
mismatch, the fewest requirements unmet; then by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from vfleet.specs import LabelSelector

DIMS = ("cpu", "memory", "storage", "gpus", "tenants")  # the order of place.Need
LISTED = 3  # candidate sets this small are listed one by one, as they always were
NAMED = 3  # clusters a summary names per kind of reason

# Kinds of reason, in the order a summary gives them: capacity first (adding some is the usual fix).
_ORDER = {"maxTenants": 0, "capacity": 1, "selector": 2, "nodeProviders": 3, "fits": 4}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one cluster cannot take the tenant."""

    kind: str  # "maxTenants" | "capacity" | "selector" | "nodeProviders" | "fits" (never expected)
    text: str  # in full, as `<cluster>: <text>` has always read
    distance: float = 0.0  # how far from fitting, for nearest first
    what: tuple[str, ...] = ()  # capacity: the resources it lacks; else the requirements or providers unmet


def unsuited(selector: LabelSelector | None, labels: dict[str, str], providers: Sequence[str],
             offered: Sequence[str]) -> Reason | None:
    """None if a cluster with `labels` offering `offered` suits the tenant, else why not."""
    unmet = selector.unmet(labels) if selector is not None else []
    if unmet:
        return Reason("selector", f"labels do not match placement selector ({', '.join(unmet)})", len(unmet),
                      tuple(unmet))
    missing = [p for p in providers if p not in offered]
    if missing:
        return Reason("nodeProviders", f"does not offer node provider(s) {', '.join(missing)}", len(missing),
                      tuple(missing))
    return None


def capacity(cap: Sequence[int | None], used: Sequence[int], need: Sequence[int]) -> Reason:
    """Why a tenant of size `need` does not fit a cluster of capacity `cap` (None: unbounded) using `used`."""
    limit = cap[4]
    if limit is not None and used[4] >= limit:
        return Reason("maxTenants", f"maxTenants {limit} reached", float(used[4] + 1 - limit))
    short: list[str] = []
    texts: list[str] = []
    distance = 0.0
    for i, c in enumerate(cap):
        if c is not None and used[i] + need[i] > c:
            dim = DIMS[i]
            short.append(dim)
            texts.append(f"{dim}: needs {_amount(dim, need[i])}, {_amount(dim, c - used[i])} of {_amount(dim, c)} left")
            distance = max(distance, (used[i] + need[i] - c) / max(need[i], 1))
    if not short:
        return Reason("fits", "fits")
    return Reason("capacity", "; ".join(texts), distance, tuple(short))


def _amount(dim: str, value: int) -> str:
    if dim in {"memory", "storage"}:
        return f"{(Decimal(value) / 2**30).quantize(Decimal('0.01')).normalize():f}Gi"
    if dim == "cpu":
        return f"{(Decimal(value) / 1000).normalize():f}"
    return str(value)


def explain(candidates: Sequence[tuple[str, Reason]], selector: LabelSelector | None, project: str,
            not_allowed: int) -> tuple[str, dict[str, object]]:
    """The message's account of the candidates (allowed clusters, in fleet order), and the details.

    `not_allowed` counts the fleet's other clusters, which the project's spec.clusters rules out.
    """
    details: dict[str, object] = {"candidates": [_candidate(c, r) for c, r in candidates]}
    if not_allowed:
        details["notAllowed"] = not_allowed
    others = "1 other cluster is" if not_allowed == 1 else f"{not_allowed:,} other clusters are"
    outside = f"; {others} not allowed by project {project!r} (spec.clusters)" if not_allowed else ""
    if len(candidates) <= LISTED:
        return "candidates: " + "; ".join(f"{c}: {r.text}" for c, r in candidates) + outside, details
    groups: dict[tuple[str, ...], list[tuple[str, Reason]]] = {}
    for name, reason in candidates:
        key = (reason.kind, *reason.what) if reason.kind == "capacity" else (reason.kind,)
        groups.setdefault(key, []).append((name, reason))
    ordered = sorted(groups.items(), key=lambda g: (_ORDER[g[0][0]], [DIMS.index(d) for d in g[0][1:]]))
    parts = [_group(key, members, selector) for key, members in ordered]
    n = len(candidates)
    return (f"none of its {n:,} candidate clusters fits (nearest to fitting first; all {n:,} reasons: "
            f"--output json): " + "; ".join(parts) + outside), details


def _candidate(name: str, reason: Reason) -> dict[str, object]:
    out: dict[str, object] = {"cluster": name, "kind": reason.kind, "reason": reason.text}
    if reason.kind == "capacity":
        out["resources"] = list(reason.what)
    return out


def _group(key: tuple[str, ...], members: list[tuple[str, Reason]], selector: LabelSelector | None) -> str:
    members = sorted(members, key=lambda m: (m[1].distance, m[0]))
    n = len(members)
    kind = key[0]
    common: tuple[str, ...] = ()  # what every member lacks, said once in the header instead of per name
    if kind == "maxTenants":
        head = f"{n:,} full (maxTenants)"
    elif kind == "capacity":
        head = f"{n:,} short of {_and(key[1:])}"
    elif kind == "selector":
        common = tuple(_requirements(selector))
        verb = "does" if n == 1 else "do"
        head = f"{n:,} {verb} not match the placement selector ({', '.join(common)})"
    elif kind == "nodeProviders":
        common = tuple(sorted({p for _, r in members for p in r.what}))
        verb = "does" if n == 1 else "do"
        head = f"{n:,} {verb} not offer node provider(s) {', '.join(common)}"
    else:
        head = f"{n:,} without a known reason"
    named = ", ".join(_named(name, reason, common) for name, reason in members[:NAMED])
    more = f" and {n - NAMED:,} more" if n > NAMED else ""
    return f"{head}: {named}{more}"


def _named(name: str, reason: Reason, common: tuple[str, ...]) -> str:
    if reason.kind in ("selector", "nodeProviders"):
        label = "unmet" if reason.kind == "selector" else "missing"
        return name if reason.what == common else f"{name} ({label}: {', '.join(reason.what)})"
    return f"{name} ({reason.text})"


def _requirements(selector: LabelSelector | None) -> list[str]:
    """Every requirement of the selector, written as `LabelSelector.unmet` writes each."""
    if selector is None:
        return []
    return [f"{k}={v}" for k, v in selector.matchLabels.items()] + [str(e) for e in selector.matchExpressions]


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
