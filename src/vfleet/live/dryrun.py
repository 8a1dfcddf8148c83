"""`vfleet check --live`: every object a change would put on a cluster, dry-run applied by that cluster.

Per touched cluster, one connection, clusters in parallel:

- every desired object: server-side apply, `dryRun=All`, field manager `vfleet`, `fieldValidation=Strict`;
- every object each tenant's Helm release would create (the real `helm template` with the tenant's
  rendered values, chart from the cluster's configured source), dry-run the same way, forced (those
  fields belong to Helm, not to vfleet).

What the API server rejects becomes a `deny` finding at the tenant's file:line (exit 1): an unknown kind
or missing CRD, schema errors, admission denials, immutable-field changes, exceeded quota. What stops
the check itself (cluster unreachable, credentials without the right to dry-run, a server error) is an
`error` finding naming the cluster (exit 2): a cluster that could not be checked never passes.

Objects in a namespace that this change creates are dry-run in the stand-in namespace `default` (a
namespace that does not exist yet cannot hold even a dry-run object); the findings name the real one.
Objects of a kind whose CRD this same change creates cannot be checked before it exists: they are
reported as `info`, never silently skipped.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vfleet import toolchain
from vfleet.compile import Compiled, compile_fleet, parse_cache
from vfleet.core import subjects
from vfleet.core.findings import Finding, Findings, Location, Severity, error
from vfleet.core.naming import MANAGED_BY
from vfleet.desired import HELM_RELEASE, MANAGED_BY_LABEL, DesiredState, Resource
from vfleet.live import helm, kube
from vfleet.live.connect import ApiError, Connection, Unreachable, connect, describe, forbidden_message
from vfleet.live.unchanged import unchanged

if TYPE_CHECKING:
    from vfleet.policy.gate import CheckReport  # `check --live` only: drift needs no policy gate

STAND_IN_NAMESPACE = "default"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
_RBAC_DENIAL = re.compile(r'User "[^"]*" cannot ')
# What a 500 says when the object cannot even be decoded into its type (a quantity that is not one): the
# API server's way of rejecting a schema error during server-side apply, not a failure of the server.
_UNDECODABLE = "unable to convert unstructured object"
# How helm says the values or the chart's own templates refuse (not: the chart could not be fetched).
_HELM_REJECTIONS = ("values don't meet the specifications", "execution error", "template: ", "parse error")
_IMMUTABLE = ("immutable", "fields other than", "cannot change", "may not be changed")


@dataclass(frozen=True)
class LiveCheck:
    """The result of dry-running a fleet's changes against its clusters."""

    findings: Findings
    clusters: tuple[str, ...]  # the clusters checked (reachable or not)
    objects: int  # dry-run requests made (a conflict's forced retry counts twice)
    releases: int  # Helm releases rendered
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per cluster

    @property
    def exit_code(self) -> int:
        return self.findings.exit_code


def touched_clusters(compiled: Compiled, base: Compiled | None = None) -> list[str]:
    """Clusters a change touches: with a base compile, those whose desired state differs from it;
    without one, every cluster that has anything desired on it."""
    if base is None:
        return sorted(name for name, state in compiled.desired.items() if state.resources)
    names = set(compiled.desired) | set(base.desired)
    return sorted(
        name
        for name in names
        if name in compiled.desired
        and (name not in base.desired or base.desired[name].hash != compiled.desired[name].hash)
    )


def check_live(
    compiled: Compiled,
    *,
    clusters: Sequence[str] | None = None,
    base: Compiled | None = None,
    env: Mapping[str, str] = os.environ,
) -> LiveCheck:
    """Dry-run the desired state of `clusters` (default: the ones touched vs `base`) on the clusters.

    With `base` (a pull request's), only what the change touches is dry-run: the Helm releases whose spec
    changed are rendered, and desired objects are dry-run unless the base has them identical and the
    cluster provably has them in sync (`_settled`). Without `base`, every desired object and every
    release of the clusters is.
    """
    names = list(clusters) if clusters is not None else touched_clusters(compiled, base)
    with connect(compiled.fleet, names, env=env) as conns:
        results = conns.each(lambda conn: _check_cluster(conn, compiled, base, env))
    found = list(conns.findings)
    objects = releases = 0
    timings: dict[str, float] = {}
    for name, result in results.items():
        if isinstance(result, BaseException):
            found.append(_aborted(compiled, name, result))
            continue
        found += result.findings
        objects += result.objects
        releases += result.releases
        timings[name] = result.seconds
    return LiveCheck(Findings.of(found), tuple(names), objects, releases, timings)


@dataclass
class _ClusterResult:
    findings: list[Finding]
    objects: int = 0
    releases: int = 0
    seconds: float = 0.0


def _aborted(compiled: Compiled, cluster: str, exc: BaseException) -> Finding:
    item = compiled.fleet.clusters.get(cluster)
    where = compiled.fleet.location(item.doc, ("spec", "kubeconfig")) if item else None
    if isinstance(exc, toolchain.ToolMissing):
        return error("live.tool-missing", str(exc), None, subjects.cluster(cluster))
    what = "unreachable" if isinstance(exc, Unreachable) else "check failed"
    return error(
        f"live.{'unreachable' if isinstance(exc, Unreachable) else 'error'}",
        f"cluster {cluster}: {what}: {exc}; the check of this cluster is incomplete",
        where,
        subjects.cluster(cluster),
    )


_Make = Callable[[Severity, str, str], Finding]


class _Checker:
    """Dry-runs objects on one cluster and turns rejections into findings."""

    def __init__(self, conn: Connection, compiled: Compiled, state: DesiredState) -> None:
        self.conn = conn
        self.compiled = compiled
        self.discovery = kube.Discovery(conn)
        self.live_namespaces = {
            str(ns["metadata"]["name"])
            for ns in kube.list_all(conn, kube.ApiResource("v1", "Namespace", "namespaces", False))
        }
        self.desired_namespaces = {r.name for r in state.resources if r.kind == "Namespace"}
        self.crd_kinds = _crd_kinds(state)
        self.count = 0

    def location(self, tenant: str | None) -> Location | None:
        if tenant is not None and tenant in self.compiled.fleet.tenants:
            return self.compiled.fleet.location(self.compiled.fleet.tenants[tenant].doc)
        item = self.compiled.fleet.clusters.get(self.conn.cluster)
        return self.compiled.fleet.location(item.doc) if item else None

    def subject(self, tenant: str | None) -> str:
        return subjects.tenant(tenant) if tenant else subjects.cluster(self.conn.cluster)

    def dry_run(self, body: Mapping[str, Any], tenant: str | None, what: str, *, force: bool) -> list[Finding]:
        """Findings of one object's dry-run apply (empty when the server accepts it)."""
        api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
        metadata = body.get("metadata") or {}
        ns, name = metadata.get("namespace"), str(metadata.get("name", ""))
        label = f"{kind} {ns + '/' if ns else ''}{name}"
        where, subject = self.location(tenant), self.subject(tenant)

        def finding(severity: Severity, code: str, message: str) -> Finding:
            return Finding(severity, code, f"cluster {self.conn.cluster}: {label}{what}: {message}", where, subject)

        resource = self.discovery.find(api_version, kind)
        if resource is None:
            group = api_version.rpartition("/")[0]
            if (api_version, kind) in self.crd_kinds:
                return [
                    finding(
                        Severity.INFO,
                        "live.not-checked",
                        "not dry-run: its CustomResourceDefinition is created by this same change",
                    )
                ]
            hint = f" (is the CustomResourceDefinition for {group} installed?)" if group else ""
            return [
                finding(
                    Severity.DENY,
                    "live.unknown-kind",
                    f"the cluster does not serve kind {kind} of apiVersion {api_version}{hint}",
                )
            ]
        stand_in = None
        if resource.namespaced:
            if not ns:
                return [finding(Severity.DENY, "live.invalid", "a namespaced object without a namespace")]
            if ns not in self.live_namespaces:
                if ns not in self.desired_namespaces:
                    return [
                        finding(
                            Severity.DENY,
                            "live.no-namespace",
                            f"namespace {ns} does not exist and nothing in the change creates it",
                        )
                    ]
                stand_in = STAND_IN_NAMESPACE
        elif ns:
            body = {**body, "metadata": {k: v for k, v in metadata.items() if k != "namespace"}}
        out: list[Finding] = []
        for attempt_force in (force, True):
            try:
                self.count += 1
                kube.apply(self.conn, resource, body, dry_run=True, force=attempt_force, namespace=stand_in)
                return out
            except ApiError as exc:
                if exc.status == 409 and not attempt_force:
                    out.append(
                        finding(
                            Severity.WARN,
                            "live.conflict",
                            f"applying would take fields over from another field manager "
                            f"({_message(exc, stand_in, ns)}); checked again as a forced apply",
                        )
                    )
                    continue
                return [*out, self.rejection(exc, finding, resource, ns, stand_in)]
        return out

    def rejection(
        self, exc: ApiError, finding: _Make, resource: kube.ApiResource, ns: str | None, stand_in: str | None
    ) -> Finding:
        message = _message(exc, stand_in, ns)
        if exc.status == 403 and _RBAC_DENIAL.search(exc.message):
            permission = forbidden_message(
                self.conn, "patch", resource.plural, ns if resource.namespaced else None, resource.group
            )
            return finding(Severity.ERROR, "live.forbidden", f"cannot be dry-run: {permission}")
        if exc.status == 403:
            code = "live.quota" if "exceeded quota" in exc.message else "live.denied"
            return finding(Severity.DENY, code, f"rejected by the API server: {message}")
        if exc.status in (400, 422) or (exc.status == 500 and _UNDECODABLE in exc.message):
            immutable = any(marker in exc.message for marker in _IMMUTABLE)
            code = "live.immutable" if immutable else "live.invalid"
            return finding(Severity.DENY, code, f"rejected by the API server: {message}")
        if exc.status == 404:
            return finding(Severity.DENY, "live.not-found", message)
        return finding(Severity.ERROR, "live.error", f"the API server failed: {message}")


def _message(exc: ApiError, stand_in: str | None, ns: str | None) -> str:
    text = (
        f"{exc.status} {exc.reason}: {exc.message}"
        if exc.reason != str(exc.status)
        else str(exc.status) + ": " + exc.message
    )
    if stand_in and ns:  # the server saw the stand-in namespace; the reader knows the real one
        for pattern in ('"{}"', "namespace {}", "({}/", " {}/"):
            text = text.replace(pattern.format(stand_in), pattern.format(ns))
    return text


def _crd_kinds(state: DesiredState) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every kind the desired CustomResourceDefinitions define."""
    kinds: set[tuple[str, str]] = set()
    for r in state.resources:
        if r.kind == "CustomResourceDefinition":
            spec = r.body.get("spec") or {}
            for version in spec.get("versions") or []:
                kinds.add((f"{spec.get('group')}/{version.get('name')}", str((spec.get("names") or {}).get("kind"))))
    return kinds


def _check_cluster(
    conn: Connection, compiled: Compiled, base: Compiled | None, env: Mapping[str, str]
) -> _ClusterResult:
    started = time.perf_counter()
    state = compiled.desired[conn.cluster]
    try:
        checker = _Checker(conn, compiled, state)
    except ApiError as exc:  # cannot even list namespaces: no verdict for this cluster
        item = compiled.fleet.clusters[conn.cluster]
        where = compiled.fleet.location(item.doc, ("spec", "kubeconfig"))
        message = describe(conn, exc, "list", "namespaces")
        return _ClusterResult(
            [
                error(
                    "live.forbidden" if exc.status == 403 else "live.error",
                    message,
                    where,
                    subjects.cluster(conn.cluster),
                )
            ]
        )
    result = _ClusterResult([])
    releases: list[Resource] = []
    settled = _settled(checker, state, base)
    for resource in state.resources:
        if resource.kind == HELM_RELEASE:
            if _release_changed(resource, base, conn.cluster):
                releases.append(resource)
            continue
        if resource.id in settled:
            continue
        result.findings += checker.dry_run(resource.body, resource.tenant, "", force=False)
    for release in releases:
        result.findings += _check_release(checker, release, compiled.root, env)
    result.releases = len(releases)
    result.objects = checker.count
    result.seconds = time.perf_counter() - started
    return result


def _settled(checker: _Checker, state: DesiredState, base: Compiled | None) -> set[str]:
    """Ids of objects this change leaves alone and that are provably in sync on the cluster.

    Only with a base: such an object's apply is a no-op the server has already accepted, so a pull
    request that touches one tenant does not dry-run the thousands of objects of all the others. Read
    with one list per kind; an object that drifted, or that the base did not have, is dry-run.
    """
    before = base.desired.get(state.cluster) if base is not None else None
    if before is None:
        return set()
    same = [r for r in state.resources if r.kind != HELM_RELEASE and _same(before.by_id.get(r.id), r)]
    live: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for api_version, kind in sorted({(r.api_version, r.kind) for r in same}):
        resource = checker.discovery.find(api_version, kind)
        if resource is None:
            continue
        for obj in kube.list_all(checker.conn, resource, MANAGED_SELECTOR):
            meta = obj.get("metadata") or {}
            live[kube.object_key(api_version, kind, meta.get("namespace"), str(meta.get("name")))] = obj
    out: set[str] = set()
    for r in same:
        current = live.get(kube.object_key(r.api_version, r.kind, r.namespace, r.name))
        if current is not None and unchanged(r.body, current):
            out.add(r.id)
    return out


def _same(before: Resource | None, after: Resource) -> bool:
    return before is not None and before.body == after.body


def _release_changed(release: Resource, base: Compiled | None, cluster: str) -> bool:
    if base is None or cluster not in base.desired:
        return True
    before = base.desired[cluster].by_id.get(release.id)
    return before is None or before.body != release.body


def _check_release(checker: _Checker, release: Resource, root: Path, env: Mapping[str, str]) -> list[Finding]:
    spec = release.body["spec"]
    rendered = helm.template(spec, root, kube_version=checker.conn.version or None, env=env)
    chart = f"chart {spec.get('chart')} {spec.get('version')}"
    if rendered.error is not None:
        # The values or the chart's templates refuse: a rejection of the change (deny). Anything else —
        # the chart repository unreachable, the chart missing — leaves the release unchecked (error).
        rejected = any(marker in rendered.error for marker in _HELM_REJECTIONS)
        return [
            Finding(
                Severity.DENY if rejected else Severity.ERROR,
                "live.helm" if rejected else "live.chart",
                f"cluster {checker.conn.cluster}: Helm release {spec['namespace']}/{spec['releaseName']} "
                f"({chart}) {'does not render' if rejected else 'cannot be rendered, so it was not checked'}: "
                f"{checker.conn.redact(rendered.error)}",
                checker.location(release.tenant),
                checker.subject(release.tenant),
            )
        ]
    what = f" (Helm release {spec['releaseName']}, {chart})"
    found: list[Finding] = []
    for body in rendered.objects:
        found += checker.dry_run(body, release.tenant, what, force=True)
    return found


def with_live(report: CheckReport, base: str | None) -> CheckReport:
    """`vfleet check --live`: the check's report plus the dry-run findings of the touched clusters.

    Runs only on a clean compile (a broken fleet exits 2 anyway, and has no state worth dry-running).
    `base`: a revision; only clusters whose desired state differs from its compile are checked.
    """
    compiled = report.compiled
    if compiled is None or not compiled.ok:
        return report
    started = time.perf_counter()
    before = compile_fleet(compiled.root, base, cache=parse_cache(compiled.root)) if base else None
    live = check_live(compiled, base=before if before is not None and before.ok else None)
    timings = {**report.timings, "live": time.perf_counter() - started}
    return dataclasses.replace(report, findings=Findings.of([*report.findings, *live.findings]), timings=timings)
