"""Where vfleet's records live: beside the Pulumi state, so that every runner of one backend sees them.

A CI that applies each stack in its own job, on a fresh machine, must know what every stack last applied:
otherwise it runs every stack through the engine (skip-unchanged needs the applied hash), applies a later
wave without knowing whether an earlier one applied this commit, and guards deletions against nothing.
So the records are kept at the root of the backend, next to Pulumi's own `.pulumi/` folder:

- `PULUMI_BACKEND_URL` unset: the state directory (`.vfleet/state`, or `VFLEET_STATE_DIR`), which is also
  the file:// backend;
- `file:///path`: the folder `/path` (`runs/`, `applied/` beside `/path/.pulumi/`);
- `s3://bucket/prefix?...`: objects `prefix/runs/...`, `prefix/applied/...` of that bucket, through the
  endpoint, region and profile the URL gives Pulumi (boto3: the `s3` extra);
- anything else (gs://, azblob://, Pulumi Cloud): the state directory, per runner (keep it in a CI cache).

A `Store` is a flat map of keys ("applied/eu-1.hash") to bytes. Every write is whole or not at all: a
temporary file renamed over the old one on disk; a single PUT in S3 (an object is never seen half-written).
A read or write that fails is a `RecordsError` naming the file or object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from vfleet.core.errors import VfleetError

BACKEND_ENV = "PULUMI_BACKEND_URL"


class RecordsError(VfleetError):
    """A record cannot be read, written or listed as vfleet wrote it; the message names it (exit 2)."""


class Store(Protocol):
    def read(self, key: str) -> bytes | None:
        """The bytes at `key`; None when there is nothing there."""

    def write(self, key: str, data: bytes) -> None:
        """Put `data` at `key`, whole or not at all."""

    def delete(self, key: str) -> None:
        """Remove `key` (nothing when it is not there)."""

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (a folder: "runs/" or "runs/eu-1/"), sorted."""

    def where(self, key: str) -> str:
        """`key` as a person finds it: a path, or an s3:// URL."""

    @property
    def description(self) -> str: ...


def for_backend(backend_url: str | None, state_dir: Path) -> Store:
    """The store of the records for a backend URL (None: the state directory's own file:// backend)."""
    if backend_url and backend_url.startswith("s3://"):
        return S3Store.from_url(backend_url)
    if backend_url and backend_url.startswith("file://"):
        return DirStore(Path(backend_url[len("file://") :].split("?", 1)[0]).expanduser())
    return DirStore(state_dir)


def open_store(state_dir: Path, env: Mapping[str, str] = os.environ) -> Store:
    return for_backend(env.get(BACKEND_ENV) or None, state_dir)


# --------------------------------------------------------------------------------------------- a folder


class DirStore:
    """Records as files under a folder; keys are relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def description(self) -> str:
        return str(self.root)

    def where(self, key: str) -> str:
        return str(self.root / key)

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        self._folders_of(path)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:  # a folder where the file belongs, permissions, I/O errors
            raise RecordsError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        self._folders_of(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # renamed only once the bytes are on disk: a crash never leaves it empty
            tmp.replace(path)
        except OSError as exc:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk must not also keep the half-written copy
            raise RecordsError(f"cannot write {path}: {exc.strerror or exc}; the previous version (if any) is "
                             "unchanged") from exc

    def delete(self, key: str) -> None:
        path = self.root / key
        self._folders_of(path)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise RecordsError(f"cannot remove {path}: {exc.strerror or exc}") from exc

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        self._folders_of(folder / "x")
        try:
            if not folder.is_dir():
                return []
            return sorted(
                str(p.relative_to(self.root))
                for p in folder.rglob("*")
                if p.is_file() and not p.name.startswith(".")  # temporary files of a write in progress
            )
        except OSError as exc:
            raise RecordsError(f"cannot list {folder}: {exc.strerror or exc}") from exc

    def _folders_of(self, path: Path) -> None:
        """Refuse a file where the root or a folder between it and `path` belongs."""
        folder = self.root
        for part in (None, *path.relative_to(self.root).parts[:-1]):
            folder = folder / part if part is not None else folder
            if folder.exists() and not folder.is_dir():
                raise RecordsError(f"{folder} should be a folder of vfleet's state directory, but is a file; move "
                                   "it away (and check VFLEET_STATE_DIR / PULUMI_BACKEND_URL point where you mean)")


# ------------------------------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class S3Location:
    """What Pulumi's `s3://bucket/prefix?region=..&endpoint=..&profile=..` URL says, for boto3 too."""

    bucket: str
    prefix: str  # "" or "path/" (with the slash)
    region: str | None
    endpoint: str | None  # http(s)://host:port
    profile: str | None
    path_style: bool

    @staticmethod
    def parse(url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise RecordsError(f"{url!r} is not an s3://bucket[/prefix] URL")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        endpoint = query.get("endpoint")
        if endpoint and "://" not in endpoint:
            insecure = query.get("disableSSL", query.get("disable_https", "false")).lower() == "true"
            endpoint = ("http://" if insecure else "https://") + endpoint
        style = query.get("s3ForcePathStyle", query.get("use_path_style", "false")).lower() == "true"
        prefix = parts.path.strip("/")
        return S3Location(parts.netloc, f"{prefix}/" if prefix else "", query.get("region") or query.get("awssdk"),
                          endpoint or None, query.get("profile"), style)


class S3Store:
    """Records as objects of the backend's bucket, under its prefix."""

    def __init__(self, location: S3Location, client: Any, url: str) -> None:
        self.location = location
        self.client = client
        self.url = url

    @staticmethod
    def from_url(url: str) -> S3Store:
        location = S3Location.parse(url)
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise RecordsError(
                f"the backend {url.split('?', 1)[0]} is in S3: vfleet keeps its records there too and needs "
                "boto3 for that (pip install 'vfleet[s3]')"
            ) from exc
        session = boto3.session.Session(profile_name=location.profile) if location.profile else boto3.session.Session()
        config = Config(s3={"addressing_style": "path" if location.path_style else "auto"},
                        retries={"max_attempts": 5, "mode": "standard"})
        client = session.client("s3", region_name=location.region, endpoint_url=location.endpoint, config=config)
        return S3Store(location, client, url)

    @property
    def description(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}"

    def where(self, key: str) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}{key}"

    def read(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=self.location.prefix + key)
            data: bytes = answer["Body"].read()
            return data
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise RecordsError(f"cannot read {self.where(key)}: {_reason(exc)}") from exc

    def write(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.location.bucket, Key=self.location.prefix + key, Body=data)
        except Exception as exc:
            raise RecordsError(f"cannot write {self.where(key)}: {_reason(exc)}; the previous version (if any) is "
                             "unchanged") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=self.location.prefix + key)
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return
            raise RecordsError(f"cannot remove {self.where(key)}: {_reason(exc)}") from exc

    def keys(self, prefix: str) -> list[str]:
        full = self.location.prefix + prefix
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket,
                                                                              Prefix=full):
                found += [item["Key"][len(self.location.prefix):] for item in page.get("Contents", ())]
        except Exception as exc:
            raise RecordsError(f"cannot list {self.where(prefix)}: {_reason(exc)}") from exc
        return sorted(found)


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _reason(exc: Exception) -> str:
    """What went wrong, without anything a credential could be in (boto3's messages hold none)."""
    return f"{type(exc).__name__}: {exc}"
