"""Reading one connected cluster for status: one list call per kind, whatever the number of tenants.

Per cluster: vfleet's namespaces, Helm's release Secrets (newest revision of each release, decoded, or
taken from the cache of decoded records), the vcluster StatefulSets. A kind the credentials may not
read is recorded as a problem that names the missing permission, never as "nothing there".
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vfleet.core import naming
from vfleet.desired import MANAGED_BY_LABEL
from vfleet.live import releases
from vfleet.live.connect import ApiError, Connection, Unreachable, describe

NAMESPACE_SELECTOR = f"{MANAGED_BY_LABEL}={naming.MANAGED_BY}"
STATEFULSET_SELECTOR = "app=vcluster"  # the vcluster chart's control-plane StatefulSet label
# Lists of objects with their metadata only (labels, uid, resourceVersion): what the cache needs.
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# Release names put into one `name in (...)` selector at most (the URL stays far below any server's
# limit); more changed releases than fit are read with a list of all release bodies instead.
_NAMES_MAX = 8000


@dataclass(frozen=True)
class Observation:
    """One cluster's objects as read, indexed for lookups. A kind is None when it could not be read."""

    cluster: str
    version: str
    namespaces: dict[str, Mapping[str, Any]] | None
    releases: dict[tuple[str, str], releases.ReleaseRecord | str] | None  # str: why it did not decode
    statefulsets: dict[tuple[str, str], Mapping[str, Any]] | None
    problems: tuple[str, ...]
    requests: int
    seconds: float


def observe(conn: Connection, tenant_namespaces: frozenset[str], cache: releases.RecordCache | None = None
            ) -> Observation:
    """Read one cluster with one list call per kind, whatever the number of tenants.

    `tenant_namespaces` are the namespaces of the tenants placed on it; releases elsewhere are not
    decoded (vfleet's own namespaces found by the namespace list are added to them).

    Helm's release Secrets are big (the whole chart is in each: ~100 KB for vcluster's), so with a
    `cache` of decoded records they are listed twice over: first metadata only (a few hundred bytes
    each), and their bodies only when a newest revision is not in the cache — one more list call, for
    any number of changed releases. An unchanged fleet never transfers a release body.
    """
    began = time.monotonic()
    problems: list[str] = []
    requests = 1  # GET /version, made by connect

    def items(path: str, selector: str, resource: str, group: str = "", accept: str = "application/json"
              ) -> list[Mapping[str, Any]] | None:
        nonlocal requests
        requests += 1
        try:
            answer = conn.request("GET", path, query={"labelSelector": selector}, accept=accept)
        except (ApiError, Unreachable) as exc:
            problems.append(describe(conn, exc, "list", resource, group=group))
            return None
        return list(answer.get("items") or []) if isinstance(answer, dict) else []

    ns_items = items("/api/v1/namespaces", NAMESPACE_SELECTOR, "namespaces")
    namespaces = None if ns_items is None else {str(n["metadata"]["name"]): n for n in ns_items}
    wanted = tenant_namespaces | frozenset(namespaces or ())
    secrets = "/api/v1/secrets"
    if cache is not None:
        heads = items(secrets, releases.LIST_SELECTOR, "secrets", accept=_METADATA_ONLY)
        newest = releases.newest(heads, wanted) if heads is not None else None
        missing = sorted({str(s["metadata"]["labels"].get("name") or "") for s in (newest or {}).values()
                          if releases.cache_key(s) not in cache})
        if newest is not None and missing:
            # Only the releases that changed, when their names fit one request; else all of them.
            selector = releases.LIST_SELECTOR
            if len(",".join(missing)) <= _NAMES_MAX and "" not in missing:
                selector += f",name in ({','.join(missing)})"
            bodies = items(secrets, selector, "secrets")
            newest = None if bodies is None else _merge(newest, releases.newest(bodies, wanted), cache)
    else:
        full = items(secrets, releases.LIST_SELECTOR, "secrets")
        newest = releases.newest(full, wanted) if full is not None else None
    records: dict[tuple[str, str], releases.ReleaseRecord | str] | None = None
    if newest is not None:
        records = {}
        for key, secret in newest.items():
            try:
                records[key] = releases.record(secret, cache)
            except releases.BadRecord as exc:
                records[key] = f"its Helm release record does not decode ({exc})"
    sts_items = items("/apis/apps/v1/statefulsets", STATEFULSET_SELECTOR, "statefulsets", "apps")
    statefulsets = (
        None
        if sts_items is None
        else {(str(s["metadata"].get("namespace")), str(s["metadata"]["name"])): s for s in sts_items}
    )
    return Observation(
        conn.cluster,
        conn.version,
        namespaces,
        records,
        statefulsets,
        tuple(problems),
        requests,
        round(time.monotonic() - began, 3),
    )


def _merge(heads: Mapping[tuple[str, str], Mapping[str, Any]], bodies: Mapping[tuple[str, str], Mapping[str, Any]],
           cache: releases.RecordCache) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The newest Secret of each release: its body where one was listed, else its cached metadata. A
    release whose body was wanted but is gone by now (uninstalled in between) is left out."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for key in sorted(set(heads) | set(bodies)):
        if key in bodies:
            merged[key] = bodies[key]
        elif releases.cache_key(heads[key]) in cache:
            merged[key] = heads[key]
    return merged
