"""The access part of the policy input: the platform's members, who holds which platform role on each
connected cluster (teams expanded), and each project's host access with the exact rules vfleet renders.

Rules then check the access vfleet would grant, not a restatement of the spec: a rule such as "the host
view is read-only" is checked against the same Role rules desired.py puts on the cluster.
"""

from __future__ import annotations

from typing import Any

from vfleet.core import subjects
from vfleet.desired import access
from vfleet.load import Document
from vfleet.model import Fleet


def platform(fleet: Fleet) -> tuple[dict[str, Any] | None, Document | None]:
    """`input.platform`: the Platform document's members as written (only the keys that are set)."""
    item = fleet.platform
    if item is None:
        return None, None
    members = []
    for m in item.manifest.spec.members:
        entry = m.model_dump(mode="json", exclude_none=True)
        entry["clusters"] = entry.get("clusters")  # null: every connected cluster
        members.append(entry)
    doc = {"name": item.name, "subject": subjects.platform(item.name), "members": members,
           "source": {"file": item.doc.file, "line": item.doc.line}}
    return doc, item.doc


def platform_roles(fleet: Fleet, cluster: str) -> dict[str, dict[str, list[str]]]:
    """`input.clusters[c].platformRoles`: per role (every role present), the users and groups holding it."""
    held = access.platform_subjects(fleet, cluster)
    out: dict[str, dict[str, list[str]]] = {}
    for role in access.PLATFORM_ROLES:
        found = held.get(role, set())
        out[role] = {"users": sorted(n for k, n in found if k == "User"),
                     "groups": sorted(n for k, n in found if k == "Group")}
    return out


def host_access(fleet: Fleet, project: str) -> dict[str, Any]:
    """`input.projects[p].hostAccess`: the roles given the host view and the Role rules they would get."""
    item = fleet.projects[project]
    view = list(item.manifest.spec.hostAccess.view)
    bound = bool(access.host_view_subjects(fleet, project))
    return {"view": view, "rules": access.HOST_VIEW_RULES if bound else []}
