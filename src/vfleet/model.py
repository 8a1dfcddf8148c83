"""Stage 2 — model: documents -> a validated `Fleet`, cross-references resolved.

Each document is validated against its kind's pydantic model; the repository layout is enforced (a
tenant's project is its folder); names must be unique and must not collide once turned into namespaces;
every reference (template, version, cluster, team, node provider, node type) must resolve. All problems
are collected, each with the file, line and field it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from vfleet.core import naming, subjects
from vfleet.core.findings import Finding, Location, error
from vfleet.core.yamldoc import FieldPath, format_path
from vfleet.load import FLEET_DIR, TEMPLATES_DIR, Document, Loaded
from vfleet.specs import (
    API_VERSION,
    KINDS,
    AutoDelete,
    Cluster,
    NodeProvider,
    NodeType,
    Platform,
    Project,
    Sleep,
    Team,
    Template,
    TemplateVersion,
    Tenant,
    semver_key,
    version_matches,
)

S = TypeVar("S", bound=BaseModel)

_TENANT_PATH = re.compile(rf"^{FLEET_DIR}/projects/([^/]+)/tenants/[^/]+\.ya?ml$")
_PROJECT_PATH = re.compile(rf"^{FLEET_DIR}/projects/([^/]+)/project\.ya?ml$")
_TEMPLATE_PATH = re.compile(rf"^{TEMPLATES_DIR}/([^/]+)/template\.ya?ml$")


@dataclass(frozen=True, slots=True)
class Item(Generic[S]):
    """A validated spec and the document it came from.

    `manifest` is the whole validated document (apiVersion, kind, metadata, spec), so its spec is
    `item.manifest.spec`; `doc` is the YAML it was read from, for locations."""

    manifest: S
    doc: Document

    @property
    def name(self) -> str:
        return self.manifest.metadata.name  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True, slots=True)
class ResolvedTenant:
    """A tenant with everything inherited or looked up already decided."""

    key: str  # "<project>/<name>"
    project: str
    name: str
    manifest: Tenant  # the validated document; its spec is `tenant.manifest.spec`
    doc: Document
    template: str
    version: str  # exact template version after resolving "1.x"
    template_version: TemplateVersion
    sleep: Sleep | None  # tenant's own, else the project's default
    auto_delete: AutoDelete | None
    pod_security: str
    namespace: str


@dataclass(frozen=True)
class Fleet:
    """Every spec of a fleet, validated and cross-referenced, in deterministic (name) order."""

    loaded: Loaded
    clusters: dict[str, Item[Cluster]]
    projects: dict[str, Item[Project]]
    templates: dict[str, Item[Template]]
    providers: dict[str, Item[NodeProvider]]
    teams: dict[str, Item[Team]]
    tenants: dict[str, ResolvedTenant]  # by key, sorted
    findings: tuple[Finding, ...] = field(default=())
    platform: Item[Platform] | None = None  # the fleet's one Platform document, if it has one

    def location(self, doc: Document, path: FieldPath = ()) -> Location:
        return self.loaded.location(doc, path)

    def node_type(self, provider: str, node_type: str) -> NodeType | None:
        item = self.providers.get(provider)
        if item is None:
            return None
        return next((t for t in item.manifest.spec.nodeTypes if t.name == node_type), None)


# ------------------------------------------------------------------------------------ schema errors


def _expected_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names allowed at `loc` (for 'unknown field' messages), walking the model types."""
    current: Any = model
    for step in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fld = next((f for n, f in current.model_fields.items() if (f.alias or n) == step), None)
            if fld is None:
                return sorted((f.alias or n) for n, f in current.model_fields.items())
            current = fld.annotation
        else:
            args = getattr(current, "__args__", ())
            current = args[-1] if args else None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted((f.alias or n) for n, f in current.model_fields.items())
    return []


def _unwrap(tp: Any) -> Any:
    """Optional[X] / X | None / Annotated[X, ...] -> X."""
    while True:
        meta = getattr(tp, "__metadata__", None)
        if meta is not None:
            tp = tp.__origin__
            continue
        args = getattr(tp, "__args__", None)
        if args and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else tp
            if len(rest) != 1:
                return tp
            continue
        return tp


def _schema_findings(exc: ValidationError, model: type[BaseModel], doc: Document, loaded: Loaded,
                     subject: str) -> list[Finding]:
    out: list[Finding] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        name = loc[-1] if loc else ""
        if kind == "extra_forbidden":
            expected = _expected_fields(model, loc[:-1])
            message = f"unknown field {name!r}" + (f"; expected one of: {', '.join(expected)}" if expected else "")
            code = "schema.unknown-field"
        elif kind == "missing":
            message = f"required field {name!r} is missing"
            code = "schema.missing"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            code = "schema.invalid"
        out.append(error(code, message, loaded.location(doc, loc), subject))
    return out


# ------------------------------------------------------------------------------------------- build


class _Builder:
    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.findings: list[Finding] = list(loaded.findings)
        self.items: dict[str, dict[str, Item[Any]]] = {k: {} for k in KINDS}

    def err(self, code: str, message: str, doc: Document, path: FieldPath = (), subject: str | None = None) -> None:
        self.findings.append(error(code, message, self.loaded.location(doc, path), subject))

    def validate(self, doc: Document) -> None:
        data = doc.data
        if not isinstance(data, dict):
            self.err("schema.document", "a spec document must be a mapping with apiVersion, kind, metadata, spec", doc)
            return
        if data.get("apiVersion") != API_VERSION:
            self.err("schema.apiVersion", f"apiVersion must be {API_VERSION!r}, got {data.get('apiVersion')!r}",
                     doc, ("apiVersion",))
            return
        kind = data.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            self.err("schema.kind", f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}", doc, ("kind",))
            return
        model = KINDS[kind]
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        subject = subjects.of_kind(kind, str(name)) if name else None
        tenant_dir = _TENANT_PATH.match(doc.file)
        if kind == "Tenant" and name and tenant_dir:
            subject = subjects.tenant(naming.tenant_key(tenant_dir.group(1), str(name)))
        if not self._layout_ok(kind, doc, name, subject):
            return
        try:
            spec = model.model_validate(data)
        except ValidationError as exc:
            self.findings.extend(_schema_findings(exc, model, doc, self.loaded, subject or ""))
            return
        key = spec.metadata.name
        if kind == "Tenant" and tenant_dir:
            key = naming.tenant_key(tenant_dir.group(1), key)
        existing = self.items[kind].get(key)
        if existing is not None:
            self.err("name.duplicate", f"{kind} {key!r} is already defined at {existing.doc.file}:{existing.doc.line}",
                     doc, ("metadata", "name"), subject)
            return
        self.items[kind][key] = Item(spec, doc)

    def _layout_ok(self, kind: str, doc: Document, name: object, subject: str | None) -> bool:
        """A tenant's project is its folder; a project's and a template's name is their folder's."""
        tenant_dir = _TENANT_PATH.match(doc.file)
        if kind == "Tenant":
            if not tenant_dir:
                self.err("layout.tenant", f"a Tenant must live in {FLEET_DIR}/projects/<project>/tenants/", doc,
                         ("kind",), subject)
                return False
            declared = (doc.data.get("spec") or {}).get("project") if isinstance(doc.data.get("spec"), dict) else None
            if declared is not None and declared != tenant_dir.group(1):
                self.err("layout.project", f"spec.project {declared!r} does not match the folder's project "
                         f"{tenant_dir.group(1)!r}", doc, ("spec", "project"), subject)
                return False
        elif tenant_dir:
            self.err("layout.kind", f"only Tenants belong in {doc.file.rsplit('/', 1)[0]}/, found a {kind}", doc,
                     ("kind",), subject)
            return False
        for pattern, expected_kind in ((_PROJECT_PATH, "Project"), (_TEMPLATE_PATH, "Template")):
            match = pattern.match(doc.file)
            if kind == expected_kind and match and name is not None and name != match.group(1):
                self.err("layout.name", f"{kind} name {name!r} must equal its folder name {match.group(1)!r}",
                         doc, ("metadata", "name"), subject)
                return False
        if kind == "Template" and not _TEMPLATE_PATH.match(doc.file):
            self.err("layout.template", f"a Template must be {TEMPLATES_DIR}/<name>/template.yaml", doc, ("kind",),
                     subject)
            return False
        return True


def build(loaded: Loaded) -> Fleet:
    """Validate every document and resolve cross-references; problems end up in `Fleet.findings`."""
    b = _Builder(loaded)
    for doc in loaded.documents:
        b.validate(doc)
    clusters: dict[str, Item[Cluster]] = dict(sorted(b.items["Cluster"].items()))
    projects: dict[str, Item[Project]] = dict(sorted(b.items["Project"].items()))
    templates: dict[str, Item[Template]] = dict(sorted(b.items["Template"].items()))
    providers: dict[str, Item[NodeProvider]] = dict(sorted(b.items["NodeProvider"].items()))
    teams: dict[str, Item[Team]] = dict(sorted(b.items["Team"].items()))
    refs = _References(b, clusters, projects, templates, providers, teams)
    refs.check_clusters()
    refs.check_projects()
    platform = refs.check_platform(sorted(b.items["Platform"].values(), key=lambda i: (i.doc.file, i.doc.line)))
    tenants = refs.resolve_tenants(dict(sorted(b.items["Tenant"].items())))
    return Fleet(loaded, clusters, projects, templates, providers, teams, tenants, tuple(b.findings), platform)


@dataclass
class _References:
    b: _Builder
    clusters: dict[str, Item[Cluster]]
    projects: dict[str, Item[Project]]
    templates: dict[str, Item[Template]]
    providers: dict[str, Item[NodeProvider]]
    teams: dict[str, Item[Team]]
    _versions: dict[tuple[str, str], TemplateVersion | None] = field(default_factory=dict)

    def _ref(self, table: dict[str, Any], name: str, what: str, doc: Document, path: FieldPath,
             subject: str) -> bool:
        if name in table:
            return True
        known = ", ".join(table) or "none defined"
        self.b.err(f"ref.{what.replace(' ', '-')}", f"unknown {what} {name!r} (known: {known})", doc, path, subject)
        return False

    def check_clusters(self) -> None:
        for name, item in self.clusters.items():
            for i, provider in enumerate(item.manifest.spec.nodeProviders):
                self._ref(self.providers, provider, "node provider", item.doc, ("spec", "nodeProviders", i),
                          subjects.cluster(name))

    def check_platform(self, items: list[Item[Platform]]) -> Item[Platform] | None:
        """The one Platform document: platform roles are declared once for the whole fleet."""
        if not items:
            return None
        first = items[0]
        for extra in items[1:]:
            self.b.err("platform.duplicate", f"the fleet's platform roles are already declared at "
                       f"{first.doc.file}:{first.doc.line}; merge this Platform into it", extra.doc, ("kind",),
                       subjects.platform(extra.name))
        for i, member in enumerate(first.manifest.spec.members):
            if member.team is not None:
                self._ref(self.teams, member.team, "team", first.doc, ("spec", "members", i, "team"),
                          subjects.platform(first.name))
        return first

    def check_projects(self) -> None:
        for name, item in self.projects.items():
            spec, doc, subject = item.manifest.spec, item.doc, subjects.project(name)
            for i, member in enumerate(spec.members):
                if member.team is not None:
                    self._ref(self.teams, member.team, "team", doc, ("spec", "members", i, "team"), subject)
            for i, allowed in enumerate(spec.templates):
                if self._ref(self.templates, allowed.name, "template", doc, ("spec", "templates", i, "name"), subject):
                    versions = [v.version for v in self.templates[allowed.name].manifest.spec.versions]
                    for j, pattern in enumerate(allowed.versions):
                        if not any(version_matches(pattern, v) for v in versions):
                            self.b.err("ref.template-version", f"no version of template {allowed.name!r} matches "
                                       f"{pattern!r} (versions: {', '.join(versions)})", doc,
                                       ("spec", "templates", i, "versions", j), subject)
            for i, cluster in enumerate(spec.clusters.names):
                self._ref(self.clusters, cluster, "cluster", doc, ("spec", "clusters", "names", i), subject)
            for tpl in spec.quotas.templates:
                self._ref(self.templates, tpl, "template", doc, ("spec", "quotas", "templates", tpl), subject)
            for provider in spec.quotas.nodeClaims:
                self._ref(self.providers, provider, "node provider", doc, ("spec", "quotas", "nodeClaims", provider),
                          subject)
            if spec.defaultTemplate is not None:
                self._resolve_version(spec.defaultTemplate.name, spec.defaultTemplate.version, doc,
                                      ("spec", "defaultTemplate"), subject)

    def _resolve_version(self, template: str, pattern: str, doc: Document, path: FieldPath,
                         subject: str) -> TemplateVersion | None:
        if not self._ref(self.templates, template, "template", doc, (*path, "name"), subject):
            return None
        memo_key = (template, pattern)
        if memo_key in self._versions:  # thousands of tenants share a handful of (template, range) pairs
            chosen = self._versions[memo_key]
        else:
            chosen = self._versions[memo_key] = _pick_version(self.templates[template].manifest.spec.versions, pattern)
        if chosen is None:
            versions = self.templates[template].manifest.spec.versions
            self.b.err("ref.template-version", f"template {template!r} has no version matching {pattern!r} "
                       f"(versions: {', '.join(v.version for v in versions)})", doc, (*path, "version"), subject)
        return chosen

    def resolve_tenants(self, items: dict[str, Item[Tenant]]) -> dict[str, ResolvedTenant]:
        resolved: dict[str, ResolvedTenant] = {}
        namespaces: dict[str, str] = {}
        for key, item in items.items():
            project_name, name = key.split("/", 1)
            tenant = self._resolve_tenant(key, project_name, name, item)
            if tenant is None:
                continue
            other = namespaces.get(tenant.namespace)
            if other is not None:
                self.b.err("name.collision", f"tenant {key!r} and tenant {other!r} both map to namespace "
                           f"{tenant.namespace!r}; rename one", item.doc, ("metadata", "name"), subjects.tenant(key))
                continue
            namespaces[tenant.namespace] = key
            resolved[key] = tenant
        return resolved

    def _resolve_tenant(self, key: str, project_name: str, name: str, item: Item[Tenant]) -> ResolvedTenant | None:
        spec, doc, subject = item.manifest.spec, item.doc, subjects.tenant(key)
        project = self.projects.get(project_name)
        if project is None:
            self.b.err("ref.project", f"project {project_name!r} has no {FLEET_DIR}/projects/{project_name}/"
                       "project.yaml", doc, ("metadata", "name"), subject)
            return None
        ok = True
        if spec.cluster is not None:
            ok &= self._ref(self.clusters, spec.cluster, "cluster", doc, ("spec", "cluster"), subject)
        for i, pool in enumerate(spec.privateNodes):
            path: FieldPath = ("spec", "privateNodes", i)
            if self._ref(self.providers, pool.provider, "node provider", doc, (*path, "provider"), subject):
                types = [t.name for t in self.providers[pool.provider].manifest.spec.nodeTypes]
                if pool.nodeType not in types:
                    self.b.err("ref.node-type", f"node provider {pool.provider!r} has no node type {pool.nodeType!r}"
                               f" (known: {', '.join(types)})", doc, (*path, "nodeType"), subject)
                    ok = False
            else:
                ok = False
        for i, rule in enumerate(spec.access):
            for j, team in enumerate(rule.teams):
                ok &= self._ref(self.teams, team, "team", doc, ("spec", "access", i, "teams", j), subject)
        ref = spec.template or project.manifest.spec.defaultTemplate
        if ref is None:
            self.b.err("schema.missing", "no 'template' given and project "
                       f"{project_name!r} has no defaultTemplate", doc, ("spec",), subject)
            return None
        tpl_path: FieldPath = ("spec", "template") if spec.template else ("spec",)
        version = self._resolve_version(ref.name, ref.version, doc, tpl_path, subject)
        if version is None or not ok:
            return None
        defaults = project.manifest.spec.defaults
        return ResolvedTenant(
            key=key,
            project=project_name,
            name=name,
            manifest=item.manifest,
            doc=doc,
            template=ref.name,
            version=version.version,
            template_version=version,
            sleep=spec.sleep if spec.sleep is not None else defaults.sleep,
            auto_delete=spec.autoDelete if spec.autoDelete is not None else defaults.autoDelete,
            pod_security=spec.podSecurity or defaults.podSecurity or "baseline",
            namespace=naming.tenant_namespace(project_name, name),
        )


Locator = Callable[[Document, FieldPath], Location]
__all__ = ["Fleet", "Item", "Locator", "ResolvedTenant", "build", "format_path"]


def _pick_version(versions: Sequence[TemplateVersion], pattern: str) -> TemplateVersion | None:
    """The highest version matching `pattern`; a range never picks a deprecated version unless nothing
    else matches."""
    matching = [v for v in versions if version_matches(pattern, v.version)]
    preferred = [v for v in matching if not v.deprecated] or matching
    return max(preferred, key=lambda v: semver_key(v.version)) if preferred else None
