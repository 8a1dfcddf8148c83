"""Names vfleet derives from specs. One place, because ids must never change by accident.

A change of any function here renames live objects; `desired` records the old derivation as an alias
when that is ever necessary, so that no object is deleted and recreated.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63  # a namespace name is an RFC 1123 label
MANAGED_BY = "vfleet"
# On a tenant's control plane: put to sleep (by the chart values vfleet renders, or by `vfleet lifecycle`).
SLEEPING_ANNOTATION = "vfleet.dev/sleeping"
_NOT_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9_.-]")


def tenant_key(project: str, tenant: str) -> str:
    return f"{project}/{tenant}"


def tenant_namespace(project: str, tenant: str) -> str:
    """`vc-<project>-<tenant>`, shortened with a hash of the full name when longer than 63."""
    full = f"vc-{project}-{tenant}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(f"{project}/{tenant}".encode()).hexdigest()[:8]
    return f"{full[: MAX_NAME - 9].rstrip('-')}-{digest}"


def release_name(tenant: str) -> str:
    """The Helm release (and so the vcluster) is named after the tenant; its namespace makes it unique."""
    return tenant


def resource_id(cluster: str, api_version: str, kind: str, namespace: str | None, name: str) -> str:
    """`<cluster>/<apiVersion>/<kind>/<namespace>/<name>`: the stable identity of a desired object."""
    return f"{cluster}/{api_version}/{kind}/{namespace or '_'}/{name}"


def file_part(name: str) -> str:
    """`name` (a cluster's, a timestamp) as one path segment of vfleet's state and caches: ASCII letters,
    digits and `_.-` kept, anything else `_` (a cluster name is a DNS label: unchanged)."""
    return _NOT_IN_FILE_NAMES.sub("_", name)
