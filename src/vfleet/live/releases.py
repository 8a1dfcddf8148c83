"""Helm release records read straight from a cluster: the `sh.helm.release.v1.<name>.v<N>` Secrets.

Helm 3 keeps one Secret per revision of a release (type `helm.sh/release.v1`, labels `owner=helm`,
`name`, `status`, `version`). Its `data.release` is the release as JSON, gzipped and base64-encoded by
Helm, then base64-encoded once more by the API as any Secret data. Reading these directly — one list
call per cluster for every tenant — is what keeps `status` independent of the tenant count; running
`helm status` per tenant would be one process and several requests each.

Only the newest revision of each release is decoded (the labels say which it is): decoding is the
costly part (a record carries the whole chart, schema included, ~200 KB unpacked for vcluster).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from vfleet.render import canonical_hash

OWNER_SELECTOR = "owner=helm"
# Superseded revisions are never the current state of a release; leaving them out of the list call
# keeps its size that of one revision per release however often tenants were upgraded.
LIST_SELECTOR = "owner=helm,status!=superseded"
SECRET_TYPE = "helm.sh/release.v1"
_GZIP_MAGIC = b"\x1f\x8b"


class BadRecord(ValueError):
    """A Secret that claims to be a Helm release record but cannot be decoded."""


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    """What status needs of the newest revision of one Helm release."""

    namespace: str
    name: str
    revision: int
    status: str  # deployed, failed, pending-install, pending-upgrade, pending-rollback, uninstalling, ...
    chart: str  # chart name
    chart_version: str
    values: Any  # the user-supplied values (Helm's `config`): what vfleet rendered, if vfleet installed it
    values_hash: str  # canonical_hash(values), comparable with the rendered tenant's hash
    updated: str | None  # info.last_deployed (RFC 3339)
    description: str  # info.description: Helm's own word on a failure ("... timed out waiting ...")


def decode(data: str) -> dict[str, Any]:
    """The release JSON from a Secret's `data.release` as the API returns it (base64 of Helm's base64)."""
    try:
        inner = base64.b64decode(data, validate=True)
        packed = base64.b64decode(inner, validate=True)
        raw = gzip.decompress(packed) if packed[:2] == _GZIP_MAGIC else packed  # Helm <3.1 did not gzip
        release = orjson.loads(raw)
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as exc:
        raise BadRecord(f"{exc.__class__.__name__}: {exc}") from None
    if not isinstance(release, dict):
        raise BadRecord("the record is not a JSON object")
    return release


def encode(release: Mapping[str, Any]) -> str:
    """The inverse of `decode` (what Helm writes, as the API returns it); for tests and benchmarks."""
    packed = gzip.compress(orjson.dumps(release), compresslevel=9, mtime=0)
    return base64.b64encode(base64.b64encode(packed)).decode()


def newest(
    secrets: Iterable[Mapping[str, Any]], namespaces: Collection[str] | None = None
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The Secret of the newest revision of each release, by (namespace, release name).

    `namespaces` limits the result to those namespaces (releases that are not tenants are skipped
    before anything is decoded).
    """
    best: dict[tuple[str, str], tuple[int, Mapping[str, Any]]] = {}
    for secret in secrets:
        meta = secret.get("metadata") or {}
        labels = meta.get("labels") or {}
        namespace = str(meta.get("namespace") or "")
        if labels.get("owner") != "helm" or (namespaces is not None and namespace not in namespaces):
            continue
        try:
            revision = int(labels.get("version", ""))
        except ValueError:
            continue
        key = (namespace, str(labels.get("name") or ""))
        if key not in best or revision > best[key][0]:
            best[key] = (revision, secret)
    return {key: secret for key, (_, secret) in sorted(best.items())}


def record(secret: Mapping[str, Any]) -> ReleaseRecord:
    """The record a release Secret holds; `BadRecord` when it does not decode."""
    meta = secret.get("metadata") or {}
    labels = meta.get("labels") or {}
    data = (secret.get("data") or {}).get("release")
    if not isinstance(data, str):
        raise BadRecord("the Secret has no data.release")
    release = decode(data)
    info = release.get("info") or {}
    chart_meta = (release.get("chart") or {}).get("metadata") or {}
    values = release.get("config") or {}
    return ReleaseRecord(
        namespace=str(release.get("namespace") or meta.get("namespace") or ""),
        name=str(release.get("name") or labels.get("name") or ""),
        revision=int(release.get("version") or labels.get("version") or 0),
        status=str(info.get("status") or labels.get("status") or "unknown"),
        chart=str(chart_meta.get("name") or ""),
        chart_version=str(chart_meta.get("version") or ""),
        values=values,
        values_hash=canonical_hash(values),
        updated=str(info["last_deployed"]) if info.get("last_deployed") else None,
        description=str(info.get("description") or ""),
    )
