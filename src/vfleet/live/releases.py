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
import os
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from vfleet.core.jsonyaml import canonical_hash

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
    # Of the user-supplied values (Helm's `config`: what vfleet rendered, if vfleet installed it); the values
    # themselves are not kept, they may hold secrets and status never shows them.
    values_hash: str  # canonical_hash(config), comparable with the rendered tenant's hash
    numeric_hash: str  # the same with every number as a float: see `numbers_as_floats`
    updated: str | None  # info.last_deployed (RFC 3339)
    description: str  # info.description: Helm's own word on a failure ("... timed out waiting ...")


def decode(data: str) -> dict[str, Any]:
    """The release JSON from a Secret's `data.release` as the API returns it (base64 of Helm's base64)."""
    try:
        # Not `base64.b64decode(validate=True)`: its check is a regular expression over ~100 KB per
        # record, a third of the whole decoding. Damaged data still fails below (padding, gzip, JSON).
        packed = binascii.a2b_base64(binascii.a2b_base64(data))
        raw = zlib.decompress(packed, wbits=31) if packed[:2] == _GZIP_MAGIC else packed  # Helm <3.1: no gzip
        release = orjson.loads(raw)
    except (binascii.Error, ValueError, zlib.error) as exc:
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


def record(secret: Mapping[str, Any], cache: RecordCache | None = None) -> ReleaseRecord:
    """The record a release Secret holds; `BadRecord` when it does not decode.

    With a `cache`, a Secret seen before (same uid and resourceVersion: the same bytes) is not decoded
    again — decoding is ~1 ms per release, reading the list a fraction of that.
    """
    meta = secret.get("metadata") or {}
    key = cache_key(secret)
    if cache is not None and (known := cache.get(key)) is not None:
        return known
    labels = meta.get("labels") or {}
    data = (secret.get("data") or {}).get("release")
    if not isinstance(data, str):
        raise BadRecord("the Secret has no data.release")
    release = decode(data)
    info = release.get("info") or {}
    chart_meta = (release.get("chart") or {}).get("metadata") or {}
    values = release.get("config") or {}
    found = ReleaseRecord(
        namespace=str(release.get("namespace") or meta.get("namespace") or ""),
        name=str(release.get("name") or labels.get("name") or ""),
        revision=int(release.get("version") or labels.get("version") or 0),
        status=str(info.get("status") or labels.get("status") or "unknown"),
        chart=str(chart_meta.get("name") or ""),
        chart_version=str(chart_meta.get("version") or ""),
        values_hash=canonical_hash(values),
        numeric_hash=canonical_hash(numbers_as_floats(values)),
        updated=str(info["last_deployed"]) if info.get("last_deployed") else None,
        description=str(info.get("description") or ""),
    )
    if cache is not None and meta.get("uid") and meta.get("resourceVersion"):
        cache.put(key, found)
    return found


def cache_key(secret: Mapping[str, Any]) -> str:
    """uid and resourceVersion: equal keys, equal bytes (a Secret's content changes its resourceVersion)."""
    meta = secret.get("metadata") or {}
    return f"{meta.get('uid')}:{meta.get('resourceVersion')}"


def numbers_as_floats(value: Any) -> Any:
    """`value` with every number a float. Helm keeps values as Go float64, so a 2.0 vfleet rendered comes
    back as 2 and hashes differently though it is the same value; hashes of this form compare equal."""
    if isinstance(value, dict):
        return {k: numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class RecordCache:
    """Decoded records by Secret uid:resourceVersion, in one JSON file (per cluster) between runs.

    It holds what `ReleaseRecord` holds — hashes, versions, statuses — never values or credentials.
    Entries not seen in the last run are dropped when it is saved, so it stays the size of the fleet.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.known: dict[str, ReleaseRecord] = {}
        self.seen: dict[str, ReleaseRecord] = {}
        if path is not None:
            try:
                self.known = {k: ReleaseRecord(**v) for k, v in orjson.loads(path.read_bytes()).items()}
            except (OSError, ValueError, TypeError):
                self.known = {}  # no cache, or one from another version: decode everything once

    def __contains__(self, key: str) -> bool:
        return key in self.known

    def get(self, key: str) -> ReleaseRecord | None:
        found = self.known.get(key)
        if found is not None:
            self.seen[key] = found
        return found

    def put(self, key: str, found: ReleaseRecord) -> None:
        self.seen[key] = found

    def save(self) -> None:
        if self.path is None or self.seen.keys() == self.known.keys():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps({k: asdict(v) for k, v in sorted(self.seen.items())}))
        tmp.replace(self.path)
