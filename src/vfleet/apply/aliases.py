"""Former names of resources, so that changing how an id (or a logical name) is derived never deletes
and recreates a live object.

Pulumi identifies a resource by its URN: stack, project, type and logical name. If vfleet ever derives a
different logical name for the same live object (a new id format, a kind moving to another apiVersion),
the engine would plan "create the new one, delete the old one" — and with server-side apply both point
at the same object, so the delete removes what was just applied. An alias tells the engine the old URN
and the new one are the same resource.

Whoever changes a derivation adds one `Rename` to `RENAMES` (and never removes it while a stack might
still hold the old name): a function from the resource as it is now to the logical name and type it had
before, or None when the change does not concern it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vfleet.desired import Resource


@dataclass(frozen=True, slots=True)
class Former:
    """What a resource used to be called: its logical name and, if it changed too, its Pulumi type."""

    name: str
    type_: str | None = None


@dataclass(frozen=True, slots=True)
class Rename:
    """One change of derivation: when it happened and how to compute the name a resource had before it."""

    since: str  # the vfleet version that changed the derivation
    reason: str
    former: Callable[[Resource], Former | None]


# Empty so far: no derivation has changed since the first release.
RENAMES: tuple[Rename, ...] = ()


def former_names(resource: Resource, renames: Sequence[Rename] = RENAMES) -> tuple[Former, ...]:
    """Every earlier identity of `resource`, oldest derivation last, without duplicates."""
    seen: list[Former] = []
    for rename in renames:
        former = rename.former(resource)
        if former is not None and former not in seen:
            seen.append(former)
    return tuple(seen)
