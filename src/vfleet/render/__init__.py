"""Stage 5 — render: template version + tenant parameters -> the vcluster.yaml values of each tenant.

A template version's values file is a Jinja2 template (`vfleet.render.templating`: sandboxed, every expression
one JSON value, fast per skeleton). vfleet then merges what the tenant spec decides (`vfleet.render.overlays`:
sleep, deletion, private nodes, pod security, access) into the chart's own keys, the tenant winning, and
checks the result against the chart's values.schema.json.

The YAML file is written by vfleet.core.jsonyaml's small emitter for JSON data (sorted keys, block style,
strings quoted only when YAML would read them as something else), checked against PyYAML in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfleet.core import subjects
from vfleet.core.findings import Finding, Location, error
from vfleet.core.jsonyaml import canonical_hash, values_yaml
from vfleet.load import TEMPLATES_DIR, decode
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams
from vfleet.render.overlays import access_manifests, add_manifests, merge, tenant_overlay
from vfleet.render.schemas import SchemaError, SchemaInvalid, SchemaRegistry, ValuesValidator
from vfleet.render.templating import CompiledValues, RenderError, compile_values, evaluate
from vfleet.repo.tree import Tree, TreeError, git_blob_id, safe_relpath


@dataclass(frozen=True, slots=True)
class RenderedTenant:
    key: str
    values: dict[str, Any]  # the merged, schema-checked vcluster.yaml values
    hash: str  # sha256 of the canonical JSON of `values` (sorted keys, compact, UTF-8)
    cluster: str = ""
    chart_version: str = ""

    @property
    def yaml(self) -> str:
        """The file `vfleet compile` writes: deterministic, sorted keys. Written when asked for: only
        `vfleet compile` and `vfleet show` do, and at 100,000 tenants the texts held ~70 MB."""
        return values_yaml(self.values)


@dataclass(frozen=True)
class Rendered:
    tenants: dict[str, RenderedTenant]  # by tenant key; tenants that failed to render are absent
    findings: tuple[Finding, ...] = field(default=())


# ------------------------------------------------------------------------------------------- the stage


@dataclass
class _Version:
    """What every tenant of one template version shares: the compiled file, the validator."""

    path: str  # templates/<name>/<values>
    compiled: CompiledValues | None  # None: the file is unusable (reported once)
    validator: ValuesValidator | None  # None: no schema (reported once)
    tenants: list[str] = field(default_factory=list)  # who is affected by a problem of the file


def _values_path(fleet: Fleet, template: str, values: str) -> tuple[str | None, str]:
    """(path, '') for a values file inside the template's folder, else (None, why)."""
    rel = safe_relpath(values)
    folder = f"{TEMPLATES_DIR}/{template}"
    if rel is None:
        return None, (
            f"values file {values!r} leaves the template folder {folder}/ (absolute paths and '..' "
            f"are refused); name a file inside it, e.g. 'values.yaml.j2'"
        )
    path = f"{folder}/{rel}"
    tree = fleet.loaded.tree
    if path not in {entry.path for entry in tree.files(folder)}:
        link = _is_link(tree, folder, rel)
        why = "is a symbolic link (links are never followed)" if link else "does not exist"
        return None, f"values file {path} {why}; put the Jinja2 values template in {folder}/"
    return path, ""


def _is_link(tree: Tree, folder: str, rel: str) -> bool:
    root = getattr(tree, "root", None)  # only work trees have links on disk to tell apart
    if not isinstance(root, Path):
        return False
    current = root / folder
    for part in rel.split("/"):
        current = current / part
        if current.is_symlink():
            return True
    return False


def _context(tenant: ResolvedTenant, cluster: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        **values,
        "project": tenant.project,
        "tenant": tenant.name,
        "cluster": cluster,
        "namespace": tenant.namespace,
        "owner": tenant.manifest.spec.owner,
        "labels": tenant.manifest.metadata.labels,
        "params": values,
    }


def render(
    fleet: Fleet, params: ResolvedParams, placements: Mapping[str, str], schemas: SchemaRegistry
) -> Rendered:
    """Render, merge and schema-check the values of every placed tenant with resolved parameters."""
    renderer = _Renderer(fleet, schemas)
    rendered: dict[str, RenderedTenant] = {}
    for key in sorted(fleet.tenants):
        tenant_params = params.tenants.get(key)
        cluster = placements.get(key)
        if tenant_params is None or cluster is None:  # reported by the params / place stages
            continue
        result = renderer.tenant(fleet.tenants[key], cluster, tenant_params.values)
        if result is not None:
            rendered[key] = result
    return Rendered(rendered, tuple(renderer.findings + renderer.syntax_findings()))


class _Renderer:
    """One render run: what is shared per template version, per access configuration, and findings."""

    def __init__(self, fleet: Fleet, schemas: SchemaRegistry) -> None:
        self.fleet = fleet
        self.schemas = schemas
        self.findings: list[Finding] = list(schemas.findings)
        self.versions: dict[tuple[str, str], _Version] = {}
        self.manifests: dict[tuple[Any, ...], str | None] = {}

    def tenant(self, tenant: ResolvedTenant, cluster: str, params: dict[str, Any]) -> RenderedTenant | None:
        version = self.versions.get((tenant.template, tenant.version))
        if version is None:
            version = self.versions[tenant.template, tenant.version] = self._prepare(tenant)
        version.tenants.append(tenant.key)
        compiled = version.compiled
        if compiled is None or compiled.template is None:
            return None  # reported once, for the template version
        subject = subjects.tenant(tenant.key)
        try:
            values = evaluate(compiled, _context(tenant, cluster, params))
        except RenderError as exc:
            hint = ""
            if exc.code == "render.undefined":
                hint = f"; defined: {', '.join(sorted(_context(tenant, cluster, params)))}"
            where = Location(version.path, exc.line)
            self.findings.append(
                error(exc.code, f"{exc} (rendering tenant {tenant.key}{hint})", where, subject)
            )
            return None
        if not isinstance(values, dict):
            message = f"the rendered values must be a YAML mapping, got {type(values).__name__}"
            where = Location(version.path)
            self.findings.append(
                error("render.yaml", f"{message} (rendering tenant {tenant.key})", where, subject)
            )
            return None
        merge(values, tenant_overlay(self.fleet, tenant))
        if tenant.manifest.spec.access:
            manifests = self._access(tenant)
            if manifests is not None:
                add_manifests(values, manifests)
        if version.validator is not None:
            problems = version.validator.errors(values)
            if problems:
                where = self.fleet.location(tenant.doc)
                self.findings.extend(
                    error("values.schema", f"{problem} (values rendered from {version.path})", where, subject)
                    for problem in problems
                )
                return None
        return RenderedTenant(tenant.key, values, canonical_hash(values), cluster,
                              tenant.template_version.chartVersion)

    def _access(self, tenant: ResolvedTenant) -> str | None:
        """Access manifests, built once per distinct set of access rules (teams are fleet-wide)."""
        key = tuple(
            (rule.clusterRole, tuple(rule.users), tuple(rule.teams), tuple(rule.groups))
            for rule in tenant.manifest.spec.access
        )
        if key not in self.manifests:
            self.manifests[key] = access_manifests(self.fleet, tenant)
        return self.manifests[key]

    def _prepare(self, tenant: ResolvedTenant) -> _Version:
        """The compiled values file and the schema validator of a template version; problems reported once."""
        fleet = self.fleet
        item = fleet.templates[tenant.template]
        index = next(i for i, v in enumerate(item.manifest.spec.versions) if v.version == tenant.version)
        tv = tenant.template_version
        subject = subjects.template(tenant.template)

        def report(code: str, message: str, field_name: str) -> None:
            where = fleet.location(item.doc, ("spec", "versions", index, field_name))
            self.findings.append(error(code, message, where, subject))

        validator = None
        try:
            validator = self.schemas.validator(tv.chartVersion, tv.schema_)
        except SchemaError as exc:
            code = "chart.schema-invalid" if isinstance(exc, SchemaInvalid) else "chart.schema-missing"
            report(code, str(exc), "schema" if tv.schema_ is not None else "chartVersion")
        path, why = _values_path(fleet, tenant.template, tv.values)
        if path is None:
            report("template.values-path", why, "values")
            return _Version(tv.values, None, validator)
        try:
            data = fleet.loaded.tree.read(path)
            source = decode(data)
        except (OSError, TreeError) as exc:
            report("template.values-path", f"values file {path} cannot be read: {exc}", "values")
            return _Version(path, None, validator)
        except UnicodeDecodeError as exc:
            message = f"values template is not UTF-8 text ({exc.reason} at byte {exc.start})"
            self.findings.append(error("template.encoding", message, Location(path), subject))
            return _Version(path, None, validator)
        return _Version(path, compile_values(source, git_blob_id(data)), validator)

    def syntax_findings(self) -> list[Finding]:
        """One finding per broken values file (not one per tenant), naming the tenants it blocks."""
        findings = []
        reported: set[str] = set()
        for (template, _), version in sorted(self.versions.items()):
            compiled = version.compiled
            if compiled is None or compiled.syntax is None or version.path in reported:
                continue
            reported.add(version.path)
            tenants = sorted(k for v in self.versions.values() if v.path == version.path for k in v.tenants)
            shown = ", ".join(tenants[:5]) + (f" and {len(tenants) - 5} more" if len(tenants) > 5 else "")
            line, message = compiled.syntax
            findings.append(
                error(
                    "template.syntax",
                    f"Jinja2 syntax error: {message} (blocks tenants {shown})",
                    Location(version.path, line),
                    subjects.template(template),
                )
            )
        return findings
