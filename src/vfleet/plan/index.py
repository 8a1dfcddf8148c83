"""A compact record of one compiled side — where every tenant lives — cached on disk by content key.

A 10,000-tenant desired state is ~140 MB of JSON and seconds to load; the plan never needs it whole. What
it needs of the unchanged part of a fleet is small: per tenant its file, project, template, cluster,
namespace, `protect` and whether it claims private nodes (cluster-wide objects and deletion guards follow
from those), plus the compile's warnings. That is the `Index`, ~1 MB, loaded in milliseconds.

The cache lives under `vfleet.core.caches.cache_dir()` (never inside the repository: a file a pull request adds
is never trusted), keyed by the side's content key (`sources.Source.key`) and a fingerprint of everything
else the compile reads — vfleet's own code, the environment, the chart values schemas — so a stale entry
is never used: a different input is a different file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from vfleet import compile as compiler
from vfleet import desired
from vfleet.core import caches, naming
from vfleet.core.findings import Finding, Location, Severity
from vfleet.plan.guards import ClusterTenants
from vfleet.render.schemas import CONFIG_FILE, ENV_VAR, SchemaRegistry

FORMAT = 1


class TenantInfo(NamedTuple):  # a tuple: 100,000 of them are read back from the cache on every plan
    file: str
    project: str
    template: str
    cluster: str
    namespace: str
    protect: bool
    nodes: bool  # claims private nodes: its cluster gets the NodeClaim CRD


@dataclass(frozen=True)
class Index:
    clean: bool  # the compile had no errors (only clean sides are used to plan incrementally)
    clusters: tuple[str, ...]
    tenants: dict[str, TenantInfo]  # tenant key -> where it lives, for every tenant in the desired state
    warnings: tuple[Finding, ...]
    external: dict[str, str]  # values schemas named by template versions (`schema:`): path -> sha256

    @staticmethod
    def of(compiled: compiler.Compiled) -> Index:
        """The index of a compile (whole or partial): the tenants that made it into a desired state."""
        tenants: dict[str, TenantInfo] = {}
        rendered = compiled.rendered.tenants
        for key, cluster in compiled.placement.clusters.items():
            t = compiled.fleet.tenants.get(key)
            if t is None or cluster not in compiled.fleet.clusters or key not in compiled.params.tenants \
                    or key not in rendered:
                continue
            spec = t.manifest.spec
            tenants[key] = TenantInfo(t.doc.file, t.project, t.template, cluster, t.namespace, spec.protect,
                                      bool(spec.privateNodes))
        warnings = tuple(f for f in compiled.findings if f.severity is not Severity.ERROR)
        return Index(compiled.ok, tuple(sorted(compiled.fleet.clusters)), dict(sorted(tenants.items())), warnings,
                     _external(compiled))

    def on(self, cluster: str) -> dict[str, TenantInfo]:
        return {k: t for k, t in self.tenants.items() if t.cluster == cluster}

    def guard_view(self, cluster: str) -> ClusterTenants | None:
        """What the deletion guards see of `cluster` (None when the cluster is not in this fleet)."""
        if cluster not in self.clusters:
            return None
        mine = self.on(cluster)
        return ClusterTenants({k: t.protect for k, t in mine.items()}, {t.namespace: k for k, t in mine.items()})

    def shared_resources(self, cluster: str) -> list[desired.Resource]:
        """The cluster-wide resources `desired.build` adds for these tenants (the NodeClaim CRD)."""
        claiming = [t for t in self.tenants.values() if t.cluster == cluster and t.nodes]
        if not claiming:
            return []
        protect = any(t.protect for t in claiming)
        rid = naming.resource_id(cluster, desired.CRD_API_VERSION, "CustomResourceDefinition", None,
                                 desired.CRD_NAME)
        return [desired.Resource(rid, desired.CRD_API_VERSION, "CustomResourceDefinition", None, desired.CRD_NAME,
                                 desired.node_claim_crd(), None, (), protect)]

    def to_json(self) -> bytes:
        return orjson.dumps({
            "format": FORMAT,
            "clean": self.clean,
            "clusters": list(self.clusters),
            "tenants": {k: [t.file, t.project, t.template, t.cluster, t.namespace, t.protect, t.nodes]
                        for k, t in self.tenants.items()},
            "warnings": [f.to_json() for f in self.warnings],
            "external": self.external,
        })

    @staticmethod
    def from_json(data: bytes) -> Index | None:
        raw = orjson.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return None
        make = TenantInfo._make
        tenants = {k: make(v) for k, v in raw["tenants"].items()}
        index = Index(bool(raw["clean"]), tuple(raw["clusters"]), tenants,
                      tuple(finding_from_json(f) for f in raw["warnings"]), dict(raw["external"]))
        return index if all(_sha256(Path(p)) == h for p, h in index.external.items()) else None


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "-"


def _external(compiled: compiler.Compiled) -> dict[str, str]:
    """Schema files a template version names itself: read from disk, so outside the content key."""
    out: dict[str, str] = {}
    for item in compiled.fleet.templates.values():
        for version in item.manifest.spec.versions:
            if version.schema_ is not None:
                path = Path(version.schema_).expanduser()
                path = path if path.is_absolute() else compiled.root / path
                out[str(path)] = _sha256(path)
    return dict(sorted(out.items()))


def finding_from_json(data: Mapping[str, Any]) -> Finding:
    file = data.get("file")
    location = Location(file, data.get("line"), data.get("field")) if file else None
    return Finding(Severity(data["severity"]), data["code"], data["message"], location, data.get("subject"),
                   data.get("details") or {})


# --------------------------------------------------------------------------------------------- cache


# Parts of vfleet that neither the compile nor the policy gate import: editing them keeps the cache.
_NOT_COMPILE = ("cli/", "apply/", "live/", "devclusters/")


def _code_digest() -> str:
    """vfleet's own source: a compile by another version of the code is another compile."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix().startswith(_NOT_COMPILE):
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def environment_key(root: Path, env: Mapping[str, str]) -> str:
    """Everything outside the compiled tree that the compile reads: code, vfleet.yaml, values schemas."""
    digest = hashlib.sha256(_code_digest().encode())
    digest.update(f"{ENV_VAR}={env.get(ENV_VAR, '')}\0".encode())
    config = root / CONFIG_FILE
    digest.update(config.read_bytes() if config.is_file() else b"-")
    registry = SchemaRegistry.from_repo(root, env)
    for base in registry.dirs:
        digest.update(f"\0dir:{base}".encode())
        if not base.is_dir():
            continue
        for schema in sorted(base.glob("*/*.json")):
            digest.update(f"\0{schema.relative_to(base).as_posix()}\0".encode())
            digest.update(schema.read_bytes())
    return digest.hexdigest()


class Cache:
    """Indexes and policy verdicts of compiled sides, one small JSON file each."""

    def __init__(self, directory: Path, environment: str) -> None:
        self.directory = directory / environment[:24]
        self.listings = directory / "listings"  # commit listings: the same whatever the environment

    @staticmethod
    def open(root: Path, env: Mapping[str, str] = os.environ) -> Cache:
        return Cache(caches.cache_dir(env) / "plan" / f"v{FORMAT}", environment_key(root, env))

    def _path(self, key: str, kind: str) -> Path:
        return self.directory / f"{key}.{kind}.json"

    def get(self, key: str, kind: str = "index") -> bytes | None:
        try:
            return self._path(key, kind).read_bytes()
        except OSError:
            return None

    def has(self, key: str, kind: str = "index") -> bool:
        return self._path(key, kind).is_file()

    def put(self, key: str, data: bytes, kind: str = "index") -> None:
        path = self._path(key, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            pass  # a cache that cannot be written is only a slower next run

    def index(self, key: str) -> Index | None:
        data = self.get(key)
        if data is None:
            return None
        try:
            return Index.from_json(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
