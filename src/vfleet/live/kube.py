"""The few Kubernetes API operations vfleet's live checks need, on a `Connection`: discovery, list, apply.

Objects are plain JSON dicts, addressed by (apiVersion, kind) the way desired states and Helm charts
name them; discovery turns that into the REST path (plural resource name, namespaced or not), one
request per group-version per cluster, cached for the connection's lifetime.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vfleet.live.connect import APPLY_PATCH, ApiError, Connection

FIELD_MANAGER = "vfleet"
_PAGE = 5000  # list page size: one request per kind up to 5,000 objects, never one unbounded answer


@dataclass(frozen=True, slots=True)
class ApiResource:
    """A kind as the API server serves it."""

    api_version: str  # group/version, or "v1" for the core group
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def collection(self, namespace: str | None = None) -> str:
        """The REST path of the collection, in `namespace` (namespaced kinds) or cluster-wide."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


class Discovery:
    """(apiVersion, kind) -> ApiResource for one cluster, asked once per group-version."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._served: dict[str, dict[str, ApiResource] | None] = {}
        self._lock = threading.Lock()

    def find(self, api_version: str, kind: str) -> ApiResource | None:
        """The resource serving `kind`, or None when the server does not know it (a missing CRD).

        Raises `ApiError` / `Unreachable` for anything but "not served".
        """
        with self._lock:
            if api_version not in self._served:
                self._served[api_version] = self._ask(api_version)
            kinds = self._served[api_version]
        return None if kinds is None else kinds.get(kind)

    def forget(self, api_version: str) -> None:
        """Ask again next time (after a CRD was created)."""
        with self._lock:
            self._served.pop(api_version, None)

    def _ask(self, api_version: str) -> dict[str, ApiResource] | None:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listed = self.conn.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        kinds: dict[str, ApiResource] = {}
        for item in listed.get("resources", []):
            name = str(item.get("name", ""))
            if "/" in name:  # subresources (status, scale, ...)
                continue
            kind = str(item.get("kind", ""))
            kinds.setdefault(kind, ApiResource(api_version, kind, name, bool(item.get("namespaced"))))
        return kinds


def apply(
    conn: Connection,
    resource: ApiResource,
    body: Mapping[str, Any],
    *,
    dry_run: bool,
    force: bool,
    namespace: str | None = None,
) -> dict[str, Any]:
    """Server-side apply of `body` as field manager vfleet; with `dry_run`, nothing is persisted.

    `namespace` overrides the body's (and the URL's) namespace: a stand-in for one that does not exist yet.
    """
    metadata = body.get("metadata") or {}
    ns = namespace if namespace is not None else metadata.get("namespace")
    if namespace is not None and resource.namespaced:
        body = {**body, "metadata": {**metadata, "namespace": namespace}}
    # Strict: an unknown or duplicate field is an error, as it is for a real apply (not a dropped field).
    query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict"}
    if dry_run:
        query["dryRun"] = "All"
    if force:
        query["force"] = "true"
    path = resource.path(ns if resource.namespaced else None, str(metadata.get("name", "")))
    result: dict[str, Any] = conn.request("PATCH", path, query=query, body=body, content_type=APPLY_PATCH)
    return result


def get(conn: Connection, resource: ApiResource, namespace: str | None, name: str) -> dict[str, Any] | None:
    """The live object, or None when it does not exist."""
    try:
        found: dict[str, Any] = conn.request(
            "GET", resource.path(namespace if resource.namespaced else None, name)
        )
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return found


def list_all(
    conn: Connection, resource: ApiResource, label_selector: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every object of a kind in every namespace (paged), optionally filtered by a label selector."""
    query: dict[str, str] = {"limit": str(_PAGE)}
    if label_selector:
        query["labelSelector"] = label_selector
    while True:
        page = conn.request("GET", resource.collection(), query=query)
        kind = resource.kind
        for item in page.get("items", []):
            # List items carry no apiVersion/kind; give them theirs, so they compare like single objects.
            yield {"apiVersion": resource.api_version, "kind": kind, **item}
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return
        query["continue"] = token


def object_key(api_version: str, kind: str, namespace: str | None, name: str) -> tuple[str, str, str, str]:
    return (api_version, kind, namespace or "", name)
