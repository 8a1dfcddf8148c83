"""Both sides' desired states, as far as the plan needs them — computed incrementally when that is exact.

`compare` returns, per side, the desired resources of every tenant that can differ (plus the clusters'
shared resources), the full `Index` of where every tenant lives, and the compiles that produced them.

Full: both revisions compiled whole (`compile_fleet`). Always correct, ~3 s per 10,000 tenants.

Incremental, used when the base compiled cleanly before (its `Index` is cached by content key) and the
change is local. Which tenants can differ follows from the changed paths:

- a tenant file: the tenants it defines on either side;
- `fleet/placement.lock`: the tenants whose entry differs;
- `fleet/projects/P/project.yaml` holding only Project P on both sides: the tenants of P;
- any file under `templates/T/` (whose template.yaml holds only Template T on both sides): the tenants
  using T;
- any other file the compile reads (clusters, teams, node providers, vfleet-wide files, vfleet.yaml):
  everything, so the full path.

Why that is exact: every stage is per tenant given the shared specs (params: tenant + template version;
render: tenant + template + project + teams + providers + its cluster; desired: the same plus its
project's members), except for what is checked across tenants — duplicate keys and namespace collisions
(checked here against the untouched tenants), placement of tenants missing from the lock (a stale lock
is an error: the full path reports it), findings that name several tenants (only errors do: any error
takes the full path) and the cluster-wide NodeClaim CRD (rebuilt from the `Index`). A slice compile
(`sources.Slice`: all shared specs, only the tenants that can differ) therefore yields exactly their
resources, and every other tenant's resources are byte-identical on both sides. tests/unit/
test_plan_incremental.py compares both paths on many kinds of change.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vfleet import compile as compiler
from vfleet import place
from vfleet.core.findings import Finding, Findings, Severity
from vfleet.core.yamldoc import YamlError, parse_documents
from vfleet.desired import Resource
from vfleet.load import FLEET_DIR, LOCK_FILE, TEMPLATES_DIR, ParseCache
from vfleet.load.layout import is_tenant_file
from vfleet.plan.index import Cache, Index
from vfleet.plan.sources import Source, changed_paths, read_text
from vfleet.render.schemas import CONFIG_FILE
from vfleet.repo.tree import TreeError

_PROJECT_FILE = re.compile(rf"^{FLEET_DIR}/projects/([^/]+)/project\.ya?ml$")
_TEMPLATE_PATH = re.compile(rf"^{TEMPLATES_DIR}/([^/]+)/(.+)$")
_TEMPLATE_FILE = re.compile(r"^template\.ya?ml$")
_SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class Compared:
    method: str  # "incremental" | "full"
    base_index: Index
    head_index: Index
    base: dict[str, list[Resource]]  # cluster -> resources that can differ (all of them on the full path)
    head: dict[str, list[Resource]]
    base_compiled: compiler.Compiled  # for tenant views (aspects)
    head_compiled: compiler.Compiled
    findings: Findings  # the head compile's findings
    base_errors: tuple[Finding, ...] = ()
    reason: str = ""  # why the full path was taken
    timings: dict[str, float] = field(default_factory=dict)


def compare(root: Path, base: Source, head: Source, cache: Cache | None, *, incremental: bool = True,
            env: Mapping[str, str] = os.environ) -> Compared:
    timings: dict[str, float] = {}
    base_index = cache.index(base.key) if cache is not None else None
    reason = "incremental planning disabled" if not incremental else ""
    full_base: compiler.Compiled | None = None
    if incremental:
        if base_index is None:
            started = time.perf_counter()
            full_base = _full(root, base, env)
            timings["compile-base"] = time.perf_counter() - started
            base_index = Index.of(full_base)
            if cache is not None:
                cache.put(base.key, base_index.to_json())
        result = _incremental(root, base, head, base_index, env, timings, cache)
        if isinstance(result, Compared):
            if cache is not None and result.head_index.clean and not cache.has(head.key):
                cache.put(head.key, result.head_index.to_json())  # the next plan's base (10 MB at 100k)
            return result
        reason = result
    return _compare_full(root, base, head, cache, env, timings, reason, full_base)


def _full(root: Path, source: Source, env: Mapping[str, str]) -> compiler.Compiled:
    return compiler.compile_fleet(root, source.rev, cache=compiler.parse_cache(root, env), env=env)


def _compare_full(root: Path, base: Source, head: Source, cache: Cache | None, env: Mapping[str, str],
                  timings: dict[str, float], reason: str, b: compiler.Compiled | None = None) -> Compared:
    if b is None:  # else compiled whole already, for its index
        started = time.perf_counter()
        b = _full(root, base, env)
        timings["compile-base"] = time.perf_counter() - started
    started = time.perf_counter()
    h = _full(root, head, env)
    timings["compile-head"] = time.perf_counter() - started
    base_index, head_index = Index.of(b), Index.of(h)
    if cache is not None:
        for source, index in ((base, base_index), (head, head_index)):
            if index.clean:
                cache.put(source.key, index.to_json())
    return Compared("full", base_index, head_index,
                    {c: list(s.resources) for c, s in b.desired.items()},
                    {c: list(s.resources) for c, s in h.desired.items()},
                    b, h, h.findings, b.findings.errors, reason, timings)


# ---------------------------------------------------------------------------------------- incremental


@dataclass(frozen=True)
class _Scope:
    tenant_files: frozenset[str]
    projects: frozenset[str]
    templates: frozenset[str]
    lock: bool


def _scope(base: Source, head: Source, changed: list[str]) -> _Scope | str:
    """What the changed paths can affect, or why they can affect everything."""
    files: set[str] = set()
    projects: set[str] = set()
    templates: set[str] = set()
    lock = False
    for path in changed:
        if is_tenant_file(path):
            files.add(path)
        elif path == LOCK_FILE:
            lock = True
        elif (m := _PROJECT_FILE.match(path)) is not None:
            if not _only(base, head, path, "Project", m.group(1)):
                return f"{path} holds more than Project {m.group(1)}"
            projects.add(m.group(1))
        elif (m := _TEMPLATE_PATH.match(path)) is not None:
            name, rest = m.group(1), m.group(2)
            if _TEMPLATE_FILE.match(rest) and not _only(base, head, path, "Template", name):
                return f"{path} holds more than Template {name}"
            templates.add(name)
        elif path.startswith(f"{FLEET_DIR}/") and not path.endswith(_SPEC_SUFFIXES):
            continue  # not a spec file: the compile never reads it
        elif path.startswith((f"{FLEET_DIR}/", f"{TEMPLATES_DIR}/")):
            return f"{path} is shared by every tenant"
        # anything else (policies/, docs, code) is not read by the compile
    return _Scope(frozenset(files), frozenset(projects), frozenset(templates), lock)


def _config(source: Source) -> bytes | None:
    """The side's vfleet.yaml (not among the listed entries, which are fleet/ and templates/)."""
    try:
        return source.reader.read(CONFIG_FILE) if source.reader.exists(CONFIG_FILE) else None
    except (OSError, TreeError):
        return None


def _only(base: Source, head: Source, path: str, kind: str, name: str) -> bool:
    """Every document of `path`, on both sides, is a `kind` named `name` (else it may define anything)."""
    for source in (base, head):
        text = read_text(source, path)
        if text is None:
            continue
        try:
            docs = list(parse_documents(text))
        except YamlError:
            return False  # the slice reports it; but only the full path reports it exactly
        for _, _, data in docs:
            if not isinstance(data, dict) or data.get("kind") != kind:
                return False
            meta = data.get("metadata")
            if not isinstance(meta, dict) or meta.get("name") != name:
                return False
    return True


_PARSED_MAX = 5000  # entries of the slices' parse cache before it starts afresh (it only grows)


def _parse_cache(cache: Cache | None) -> ParseCache:
    """Parsed shared specs by blob id, kept with the plan cache (small: what slices read, not the fleet)."""
    if cache is None:
        return ParseCache(keep_in_memory=True)
    parsed = ParseCache.open(cache.directory / "parsed.pickle")
    if len(parsed.entries) > _PARSED_MAX:
        parsed = ParseCache({}, parsed.path)
    parsed.keep_in_memory = True
    return parsed


def _incremental(root: Path, base: Source, head: Source, base_index: Index, env: Mapping[str, str],
                 timings: dict[str, float], cache: Cache | None = None) -> Compared | str:
    if not base_index.clean:
        return "the base revision does not compile cleanly"
    started = time.perf_counter()
    if _config(base) != _config(head):  # chart schemas, Argo CD instances: any tenant's desired state may change
        return f"{CONFIG_FILE} changed: it is read for every tenant"
    changed = changed_paths(base, head)
    scope = _scope(base, head, changed)
    if isinstance(scope, str):
        return scope
    parsed = _parse_cache(cache)  # shared by both slices: the shared specs (and the lock) are parsed once
    keys = {k for k, t in base_index.tenants.items()
            if t.project in scope.projects or t.template in scope.templates}
    if scope.lock:
        lock = place.read_lock(head.slice(()), parsed.locks)
        if lock.findings:
            return f"{LOCK_FILE} has errors"
        keys.update(k for k, t in base_index.tenants.items() if lock.tenants.get(k) != t.cluster)
    wanted = set(scope.tenant_files) | {base_index.tenants[k].file for k in keys}
    timings["scope"] = time.perf_counter() - started

    started = time.perf_counter()
    b = compiler.compile_fleet(root, cache=parsed, env=env, tree=base.slice(wanted & base.entries.keys()))
    h = compiler.compile_fleet(root, cache=parsed, env=env, tree=head.slice(wanted & head.entries.keys()))
    timings["compile-slices"] = time.perf_counter() - started
    if not b.ok:
        return "the base slice does not compile cleanly"
    if not h.ok:
        return "the head does not compile cleanly (the full compile reports every error exactly)"

    h_index = Index.of(h)
    touched = set(b.fleet.tenants) | {k for k, t in base_index.tenants.items() if t.file in wanted}
    kept = {k: t for k, t in base_index.tenants.items() if k not in touched}
    if set(h.fleet.tenants) & kept.keys():
        return "a changed tenant has the key of an unchanged one"
    namespaces = {t.namespace for t in kept.values()}
    if any(t.namespace in namespaces for t in h.fleet.tenants.values()):
        return "a changed tenant has the namespace of an unchanged one"
    if len(h_index.tenants) != len(h.fleet.tenants):
        return "a changed tenant is missing from the head's desired state"

    subjects = {f"tenant:{k}" for k in touched | set(h.fleet.tenants)}
    warnings = [w for w in base_index.warnings if w.subject is not None and w.subject.startswith("tenant:")
                and w.subject not in subjects]
    findings = Findings.of([*warnings, *h.findings])
    head_index = Index(True, base_index.clusters, dict(sorted({**kept, **h_index.tenants}.items())),
                       tuple(f for f in findings if f.severity is not Severity.ERROR),
                       h_index.external)
    # Clusters where a slice tenant lives on either side: only there can anything differ.
    # (Cluster-wide resources such as the platform roles are on every cluster and the same on both sides:
    # a slice can only change them through a file that takes the full path.)
    clusters = {c for x in (b, h) for c, s in x.desired.items() if any(r.tenant is not None for r in s.resources)}
    return Compared("incremental", base_index, head_index, _states(b, base_index, clusters),
                    _states(h, head_index, clusters), b, h, findings, (), "", timings)


def _states(slice_: compiler.Compiled, index: Index, clusters: set[str]) -> dict[str, list[Resource]]:
    """The slice's tenant resources per cluster, with the cluster-wide ones as the whole fleet has them."""
    out: dict[str, list[Resource]] = {}
    for cluster in sorted(clusters):
        state = slice_.desired.get(cluster)
        mine = [r for r in state.resources if r.tenant is not None] if state is not None else []
        out[cluster] = index.shared_resources(cluster) + mine
    return out
