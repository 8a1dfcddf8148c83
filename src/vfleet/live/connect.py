"""One connection per connected cluster, from its Cluster spec's kubeconfig reference.

Everything in `vfleet.live` (check --live, drift, status) talks to clusters through `Connection.request`:
plain JSON over HTTP on the connection pool the `kubernetes` client builds from the kubeconfig. The
client's config loader is reused for what it does well (tokens, client certificates, exec plugins, CA
files, proxies); its generated models are not, because deserialising thousands of objects into them
costs seconds where `orjson` costs milliseconds.

Failing closed: a cluster whose kubeconfig cannot be read, or whose API server does not answer
`GET /version`, is not connected; it becomes an error `Finding` (code `live.kubeconfig` or
`live.unreachable`) that names the cluster and points at its spec's `kubeconfig` field. Callers report
it and exit 2; they never treat a cluster they could not see as "no findings".

No credential ever reaches a message: errors name the kubeconfig reference (the variable, the path,
the context), and any text that comes back from a server goes through `Connection.redact`.

Usage::

    with live.connect(compiled.fleet, ["eu-1"]) as conns:
        for finding in conns.findings: ...          # clusters that could not be reached
        for name, conn in conns.clients.items():
            conn.request("GET", "/api/v1/namespaces", query={"labelSelector": "a=b"})
        results = conns.each(lambda conn: ...)      # one thread per cluster, results by cluster name
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from vfleet.core import subjects
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding, Location, error
from vfleet.model import Fleet
from vfleet.specs import KubeconfigRef, kubeconfig

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0  # per request; a cluster that does not answer /version within it is unreachable
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply (the body may be JSON: JSON is YAML)
MERGE_PATCH = "application/merge-patch+json"
_MAX_PARALLEL = 8  # clusters handled at once; each holds its own connection pool


class Unreachable(VfleetError):
    """The API server did not answer (refused, timed out, TLS failure)."""


@dataclass(frozen=True)
class ApiError(Exception):
    """The API server answered a request with an error status (4xx, 5xx)."""

    status: int
    reason: str  # the Status object's `reason`: NotFound, Forbidden, Invalid, AlreadyExists, Conflict ...
    message: str  # the Status object's `message`, already redacted
    method: str
    path: str
    details: Mapping[str, Any] = field(default_factory=dict)  # Status.details: name, group, kind, causes

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.status} {self.reason}: {self.message}"


@dataclass(frozen=True, eq=False)
class Connection:
    """A reachable cluster: its name, where its credentials came from, its version, and a pool to talk on."""

    cluster: str
    source: str  # the kubeconfig reference, for messages ("env VFLEET_KUBECONFIG_EU", "file ~/.kube/x")
    version: str  # the server's gitVersion, e.g. v1.35.4
    location: Location | None  # the Cluster spec's kubeconfig field, for findings about this cluster
    api: k8s_client.ApiClient = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False, default=())
    timeout_s: float = DEFAULT_TIMEOUT_S
    _sent: list[int] = field(default_factory=lambda: [0], repr=False)  # requests made (benchmarks, reports)

    @property
    def requests(self) -> int:
        """How many requests this connection has sent (`GET /version` of `connect_one` not included)."""
        return self._sent[0]

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """`method path?query` with `body` (serialised as JSON) -> the parsed JSON answer.

        `accept` may ask for another JSON form of the answer (e.g. metadata only:
        `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`).
        Raises `ApiError` for an error status and `Unreachable` when the server does not answer.
        """
        return self._send(method, path, query, body, content_type, accept)

    def redact(self, text: str) -> str:
        """`text` with every credential of this cluster's kubeconfig replaced."""
        return kubeconfig.redact(text, self.secrets)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    def _send(
        self, method: str, path: str, query: Mapping[str, str] | None, body: Any, content_type: str,
        accept: str = "application/json",
    ) -> Any:
        config = self.api.configuration
        url = config.host.rstrip("/") + path + (("?" + urlencode(sorted(query.items()))) if query else "")
        headers = {"Accept": accept, "User-Agent": "vfleet"}
        for setting in config.auth_settings().values():  # refreshes expiring tokens (exec plugins)
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self._sent[0] += 1  # under the GIL; an exact count is not needed across threads
        try:
            response = self.api.rest_client.pool_manager.request(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(total=self.timeout_s),
                retries=urllib3.Retry(total=2, connect=2, read=0, redirect=0, status=0),
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(
                f"cluster {self.cluster}: {method} {path}: no answer from the API server "
                f"({self.redact(_reason(exc))})"
            ) from None
        data = response.data
        if response.status >= 400:
            raise self._api_error(response.status, data, method, path)
        return orjson.loads(data) if data else None

    def _api_error(self, status: int, data: bytes, method: str, path: str) -> ApiError:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = None
        status_obj = parsed if isinstance(parsed, dict) else {}
        message = str(status_obj.get("message") or data[:300].decode(errors="replace"))
        details = status_obj.get("details")
        return ApiError(
            status,
            str(status_obj.get("reason") or status),
            self.redact(message),
            method,
            path,
            details if isinstance(details, dict) else {},
        )


@dataclass(frozen=True)
class Connections:
    """The result of `connect`: the clusters reached, and one error finding per cluster that was not."""

    clients: dict[str, Connection]  # by cluster name, sorted
    findings: tuple[Finding, ...]  # live.kubeconfig / live.unreachable, one per cluster not reached

    def each(self, run: Callable[[Connection], T]) -> dict[str, T | BaseException]:
        """`run(conn)` for every reachable cluster in parallel; the result or the exception, by cluster."""
        return run_parallel(self.clients, run)

    def close(self) -> None:
        for conn in self.clients.values():
            conn.close()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    fleet: Fleet,
    clusters: Iterable[str] | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Connections:
    """Connect to `clusters` (default: every cluster of the fleet), in parallel, one connection each.

    A name that is not a Cluster of the fleet is an error finding too (`live.unknown-cluster`).
    """
    names = sorted(set(fleet.clusters if clusters is None else clusters))
    found: list[Finding] = []
    known = [name for name in names if name in fleet.clusters]
    for name in names:
        if name not in fleet.clusters:
            found.append(
                error(
                    "live.unknown-cluster",
                    f"cluster {name}: no Cluster spec of that name (known: {', '.join(fleet.clusters)})",
                    subject=subjects.cluster(name),
                )
            )

    def one(name: str) -> Connection | Finding:
        item = fleet.clusters[name]
        where = fleet.location(item.doc, ("spec", "kubeconfig"))
        return connect_one(name, item.manifest.spec.kubeconfig, where, env=env, timeout_s=timeout_s)

    results = run_parallel({name: name for name in known}, one)
    clients: dict[str, Connection] = {}
    for name, result in sorted(results.items()):
        if isinstance(result, Connection):
            clients[name] = result
        elif isinstance(result, Finding):
            found.append(result)
        else:  # a bug, not a cluster problem; still fail closed and say which cluster
            found.append(
                error(
                    "live.unreachable",
                    f"cluster {name}: cannot connect: {result!r}",
                    subject=subjects.cluster(name),
                )
            )
    return Connections(clients, tuple(found))


def connect_one(
    cluster: str,
    ref: KubeconfigRef,
    location: Location | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Connection | Finding:
    """A connection to one cluster from its `KubeconfigRef`, checked with `GET /version`; else a Finding."""
    subject = subjects.cluster(cluster)
    try:
        resolved = kubeconfig.resolve(ref, cluster, env)
    except kubeconfig.KubeconfigError as exc:
        return error("live.kubeconfig", str(exc), location, subject)
    try:
        api = _api_client(resolved)
    except Exception as exc:  # the loader's messages name files and fields, never token values; redact anyway
        text = kubeconfig.redact(f"{exc.__class__.__name__}: {exc}", resolved.secrets())
        return error(
            "live.kubeconfig",
            f"cluster {cluster}: the kubeconfig from {resolved.source} cannot be used: {text}",
            location,
            subject,
        )
    conn = Connection(cluster, resolved.source, "", location, api, resolved.secrets(), timeout_s)
    try:
        version = conn.request("GET", "/version")
    except (Unreachable, ApiError) as exc:
        conn.close()
        return error(
            "live.unreachable",
            f"cluster {cluster} is unreachable ({conn.api.configuration.host}, kubeconfig from "
            f"{resolved.source}): {exc}; nothing was checked on it",
            location,
            subject,
        )
    git_version = str(version.get("gitVersion", "")) if isinstance(version, dict) else ""
    return Connection(cluster, resolved.source, git_version, location, api, resolved.secrets(), timeout_s)


def _api_client(resolved: kubeconfig.Kubeconfig) -> k8s_client.ApiClient:
    data = yaml.safe_load(resolved.content)
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
        data, context=resolved.context, client_configuration=configuration, persist_config=False
    )
    return k8s_client.ApiClient(configuration)


def run_parallel(items: Mapping[str, Any], run: Callable[[Any], T]) -> dict[str, T | BaseException]:
    """`run(item)` for every item, one thread each (at most 8 at once); results or exceptions by key."""
    if not items:
        return {}
    out: dict[str, T | BaseException] = {}
    with ThreadPoolExecutor(max_workers=min(_MAX_PARALLEL, len(items)), thread_name_prefix="live") as pool:
        futures = {key: pool.submit(run, item) for key, item in items.items()}
        for key, future in sorted(futures.items()):
            exc = future.exception()
            out[key] = exc if exc is not None else future.result()
    return out


# ------------------------------------------------------------------------------------------ permissions


def forbidden_message(
    conn: Connection, verb: str, resource: str, namespace: str | None = None, group: str = ""
) -> str:
    """What a 403 means, as the permission that is missing: verb, resource (with its group), namespace."""
    what = f"{resource}.{group}" if group else resource
    scope = f"in namespace {namespace}" if namespace else "cluster-wide"
    return (
        f"cluster {conn.cluster}: forbidden: the credentials of kubeconfig {conn.source} may not "
        f"{verb} {what} {scope}; grant RBAC verb {verb!r} on resource {what!r} "
        f"({'a Role in ' + namespace if namespace else 'a ClusterRole'})"
    )


def describe(
    conn: Connection,
    exc: BaseException,
    verb: str,
    resource: str,
    namespace: str | None = None,
    group: str = "",
) -> str:
    """A message for any failure of a request: a 403 names the missing permission, anything else says
    what failed and why, redacted."""
    if isinstance(exc, ApiError) and exc.status == 403:
        return forbidden_message(conn, verb, resource, namespace, group)
    if isinstance(exc, ApiError):
        return f"cluster {conn.cluster}: {verb} {resource}: {exc.status} {exc.reason}: {exc.message}"
    return conn.redact(str(exc))


def _reason(exc: BaseException) -> str:
    """The innermost cause of a urllib3 error, without the pool's repr (which is noise)."""
    inner: BaseException = getattr(exc, "reason", None) or exc
    text = str(inner)
    if "Connection refused" in text:
        return "connection refused"
    return f"{inner.__class__.__name__}: {text}"


__all__ = [
    "APPLY_PATCH",
    "ApiError",
    "Connection",
    "Connections",
    "Unreachable",
    "connect",
    "connect_one",
    "describe",
    "forbidden_message",
    "run_parallel",
]
