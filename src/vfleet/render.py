"""Stage 3b — render: template version + tenant parameters -> the vcluster.yaml values of each tenant.

Semantics. A template version's values file is a Jinja2 template run in an immutable sandbox with
strict undefined. Every `{{ expression }}` is written as a JSON value (a scalar, or a flow mapping /
sequence), so a parameter value is always exactly one YAML node: it can never add keys, close a string,
or be evaluated as a template itself. The output must be one YAML mapping. vfleet then merges what the
tenant spec decides (sleep, deletion, private nodes, pod security, access) into the chart's own keys,
the tenant winning, and checks the result against the chart's values.schema.json.

Speed (10,000 tenants well under a second per core). Parsing YAML costs ~250 us per tenant and
dumping it with PyYAML as much again, so neither happens per tenant on the normal path:

- Each values file is compiled once per Git blob, for the life of the process.
- Each tenant renders once with every expression replaced by a token (`VFLEETSLOT<n>X`) and its JSON
  text put aside. Tenants that take the same `{% if %}` / `{% for %}` paths render the same *skeleton*
  text; each distinct skeleton is parsed once and turned into a JSON text with holes, which a tenant's
  JSON texts fill in for `orjson.loads`. This is exact, not approximate: substituting a JSON value for a
  plain, untagged, non-key scalar token is what parsing the fully rendered text would give. Whenever that
  is not certain (a token inside a longer or quoted scalar, a key, an anchor, a merge; templates that
  capture output — macros, call/filter/set blocks; a skeleton that does not parse) the real text is
  rebuilt from the skeleton and parsed as it is.
- The YAML file is written by vfleet.jsonyaml's small emitter for JSON data (sorted keys, block style,
  strings quoted only when YAML would read them as something else), checked against PyYAML in the tests.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vfleet import naming, subjects
from vfleet.findings import Finding, Location, error
from vfleet.jsonyaml import MAX_KEY, to_json, to_yaml, yaml_and_hash
from vfleet.load import TEMPLATES_DIR, decode
from vfleet.model import Fleet, ResolvedTenant
from vfleet.params import ResolvedParams
from vfleet.schemas import SchemaError, SchemaInvalid, SchemaRegistry, ValuesValidator
from vfleet.tree import Tree, TreeError, git_blob_id, safe_relpath
from vfleet.yamldoc import YamlError, parse_documents


@dataclass(frozen=True, slots=True)
class RenderedTenant:
    key: str
    values: dict[str, Any]  # the merged, schema-checked vcluster.yaml values
    yaml: str  # the file `vfleet compile` writes: deterministic, sorted keys
    hash: str  # sha256 of the canonical JSON of `values` (sorted keys, compact, UTF-8)
    cluster: str = ""
    chart_version: str = ""


@dataclass(frozen=True)
class Rendered:
    tenants: dict[str, RenderedTenant]  # by tenant key; tenants that failed to render are absent
    findings: tuple[Finding, ...] = field(default=())


# ------------------------------------------------------------------------------------ Jinja environment

# Tokens carry a per-process nonce, so no template text or constant can spell one; they never reach the
# output, which stays deterministic. A plain scalar that YAML reads as a string.
_MARKER = f"vf{secrets.token_hex(6)}s"
_TOKEN = re.compile(_MARKER + r"(\d+)x")
_QUOTED_TOKEN = re.compile(f'"{_MARKER}' + r'(\d+)x"')
_MISSING: Any = object()

# Nodes whose output is captured into a value instead of written out: with them a token could end up
# inside a string, so templates using them always take the exact, slower path.
_CAPTURING = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Block,
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.EvalContextModifier,
)


class _State(threading.local):
    slots: list[str] | None = None  # set while a fast-path template renders


_STATE = _State()


def _finalize(value: Any) -> str:
    """Every {{ expression }}: its JSON text, or (fast path) a token standing for it.

    Jinja folds constant expressions at compile time, when no slots are set: those become literal JSON
    text in the skeleton, which is exactly what they are in the real text too.
    """
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    text = to_json(value)
    slots = _STATE.slots
    if slots is None:
        return text
    slots.append(text)
    return f"{_MARKER}{len(slots) - 1}x"


# Immutable: a template cannot change `params` or `labels` (list.append, dict.update ... are refused).
# trim_blocks/lstrip_blocks: a `{% if %}` line leaves nothing behind, so YAML indentation stays intact.
_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass
class _Skeleton:
    literals: list[str]  # JSON text around the holes
    holes: list[int]  # slot index filling each hole
    # Holes in key position (`{{ name }}: ...`). A tenant's key values must be strings, distinct, and
    # unlike every literal key of the template — else parsing the real text decides (duplicate keys).
    key_holes: list[int]
    literal_keys: frozenset[str]


@dataclass
class _Compiled:
    """A values file compiled once per blob, with the skeletons its tenants have produced."""

    template: Template | None
    syntax: tuple[int | None, str] | None  # (line, message) of a syntax error
    filename: str  # the code filename of the compiled template: finds its frames in a traceback
    fast: bool
    skeletons: dict[str, _Skeleton | None] = field(default_factory=dict)  # None: parse the real text


_COMPILED: dict[str, _Compiled] = {}
_MAX_SKELETONS = 4096


def _compile(source: str, blob: str) -> _Compiled:
    cached = _COMPILED.get(blob)
    if cached is not None:
        return cached
    filename = f"<vfleet values {blob}>"
    try:
        code = _ENV.compile(source, name=filename, filename=filename)
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        compiled = _Compiled(None, (exc.lineno, exc.message or str(exc)), filename, False)
    else:
        # A plain dict, not the ChainMap make_globals() returns: Jinja copies globals into every render context.
        template = _ENV.template_class.from_code(_ENV, code, dict(_ENV.globals), None)
        fast = not any(True for _ in tree.find_all(_CAPTURING)) and not any(
            loop.recursive for loop in tree.find_all(nodes.For)
        )
        compiled = _Compiled(template, None, filename, fast)
    if len(_COMPILED) > 512:
        _COMPILED.clear()
    _COMPILED[blob] = compiled
    return compiled


def _skeleton(text: str) -> _Skeleton | None:
    """The skeleton as JSON text with holes, or None if substituting tokens would not be exact."""
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return None
    # Per open collection: [is_mapping, items so far, last key]; a mapping's even items are keys.
    stack: list[list[Any]] = []
    documents = 0
    key_holes: list[int] = []
    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent | yaml.CollectionStartEvent):
            top = stack[-1] if stack else None
            is_key = top is not None and top[0] and top[1] % 2 == 0
            if top is not None:
                after_merge = top[0] and not is_key and top[2] == "<<"
                top[1] += 1
                if is_key:
                    top[2] = event.value if isinstance(event, yaml.ScalarEvent) else None
            else:
                after_merge = False
            if isinstance(event, yaml.ScalarEvent) and _MARKER in event.value:
                token = _TOKEN.fullmatch(event.value)
                if (
                    token is None
                    or after_merge
                    or event.tag is not None
                    or not event.implicit[0]
                    or event.anchor is not None
                ):
                    return None
                if is_key:
                    key_holes.append(int(token.group(1)))
            if isinstance(event, yaml.AliasEvent) and is_key:
                return None
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([isinstance(event, yaml.MappingStartEvent), 0, None])
    if documents != 1:
        return None
    try:
        ((_, _, value),) = parse_documents(text)
        skeleton = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (YamlError, ValueError):
        return None
    parts = _QUOTED_TOKEN.split(skeleton)
    keys = frozenset(_keys(value, set())) if key_holes else frozenset()
    return _Skeleton(parts[0::2], [int(n) for n in parts[1::2]], key_holes, keys)


def _keys(value: Any, into: set[str]) -> set[str]:
    """Every literal mapping key anywhere in `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not _TOKEN.fullmatch(key):
                into.add(key)
            _keys(item, into)
    elif isinstance(value, list):
        for item in value:
            _keys(item, into)
    return into


def _fill(skeleton: _Skeleton, slots: list[str]) -> Any:
    """The tenant's values from its skeleton, or _MISSING if only the real text can tell."""
    if skeleton.key_holes:
        texts = [slots[hole] for hole in skeleton.key_holes]
        if any(text[0] != '"' or len(text) > MAX_KEY for text in texts):
            return _MISSING
        keys = {orjson.loads(text) for text in texts}
        if len(keys) != len(texts) or not keys.isdisjoint(skeleton.literal_keys):
            return _MISSING
    literals = skeleton.literals
    buf = [literals[0]]
    for hole, literal in zip(skeleton.holes, literals[1:], strict=True):
        buf.append(slots[hole])
        buf.append(literal)
    text = "".join(buf)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers beyond 64 bits, lone surrogates: rare, exact either way
        return json.loads(text)


class _RenderError(Exception):
    def __init__(self, code: str, message: str, line: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.line = line


def _evaluate(compiled: _Compiled, context: dict[str, Any]) -> Any:
    """The tenant's values as the template writes them (one mapping), or _RenderError."""
    template = compiled.template
    assert template is not None
    slots: list[str] = []
    if compiled.fast:
        _STATE.slots = slots
    try:
        text = template.render(context)
    except Exception as exc:  # anything a template raises is the template's problem, with its line
        raise _template_error(exc, compiled.filename) from exc
    finally:
        _STATE.slots = None
    if compiled.fast:
        skeleton = compiled.skeletons.get(text, _MISSING)
        if skeleton is _MISSING:
            skeleton = _skeleton(text)
            if len(compiled.skeletons) < _MAX_SKELETONS:
                compiled.skeletons[text] = skeleton
        if skeleton is not None:
            values = _fill(skeleton, slots)
            if values is not _MISSING:
                return values
        text = _TOKEN.sub(lambda m: slots[int(m.group(1))], text)  # the real text: exact, see above
    try:
        documents = list(parse_documents(text))
    except YamlError as exc:
        lines = text.splitlines()
        shown = lines[exc.line - 1].strip() if 0 < exc.line <= len(lines) else ""
        raise _RenderError(
            "render.yaml",
            f"the rendered values are not valid YAML: {exc} (line {exc.line} of the output: {shown[:120]!r})",
            None,
        ) from exc
    if len(documents) != 1:
        raise _RenderError(
            "render.yaml", f"the rendered values must be one YAML document, got {len(documents)}", None
        )
    return documents[0][2]


def _template_error(exc: Exception, filename: str) -> _RenderError:
    line = None
    tb = exc.__traceback__
    while tb is not None:  # Jinja rewrites tracebacks so template frames carry template line numbers
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, UndefinedError):
        return _RenderError("render.undefined", exc.message or str(exc), line)
    if isinstance(exc, SecurityError):
        return _RenderError("render.sandbox", f"not allowed in templates: {exc}", line)
    return _RenderError("render.error", f"{type(exc).__name__}: {exc}", line)


# ------------------------------------------------------------------------- what vfleet itself decides

_RBAC = "rbac.authorization.k8s.io"
NODE_TYPE_PROPERTY = "vcluster.com/node-type"
SLEEPING_ANNOTATION = "vfleet.dev/sleeping"


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overlay` into `base` (in place): mappings merge, anything else in `overlay` wins."""
    for key, value in overlay.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge(current, value)
        else:
            base[key] = value
    return base


def tenant_overlay(fleet: Fleet, tenant: ResolvedTenant) -> dict[str, Any]:
    """The chart values that follow from the tenant spec itself, not from the template."""
    spec = tenant.spec.spec
    overlay: dict[str, Any] = {"policies": {"podSecurityStandard": tenant.pod_security}}
    sleep = tenant.sleep
    if sleep is not None:
        auto: dict[str, Any] = {}
        if sleep.afterInactivity is not None:
            auto["afterInactivity"] = sleep.afterInactivity.text
        if sleep.schedule is not None:
            auto["schedule"] = sleep.schedule
        if sleep.wakeup is not None:
            auto["wakeup"] = {"schedule": sleep.wakeup}
        if sleep.timezone is not None:
            auto["timezone"] = sleep.timezone
        if auto:
            overlay["sleep"] = {"auto": auto}
        if sleep.sleeping:
            overlay["controlPlane"] = {
                "statefulSet": {
                    "highAvailability": {"replicas": 0},
                    "annotations": {SLEEPING_ANNOTATION: "true"},
                }
            }
    deletion: dict[str, Any] = {}
    if tenant.auto_delete is not None and tenant.auto_delete.afterInactivity is not None:
        deletion["auto"] = {"afterInactivity": tenant.auto_delete.afterInactivity.text}
    if spec.protect:
        deletion["prevent"] = True
    if deletion:
        overlay["deletion"] = deletion
    if spec.privateNodes:
        overlay["privateNodes"] = {"enabled": True, "autoNodes": _auto_nodes(fleet, tenant)}
    return overlay


def _auto_nodes(fleet: Fleet, tenant: ResolvedTenant) -> list[dict[str, Any]]:
    """Pools grouped by provider — and by node-type properties, which autoNodes holds per group."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for pool in sorted(tenant.spec.spec.privateNodes, key=lambda p: p.name):
        node_type = fleet.node_type(pool.provider, pool.nodeType)
        properties = dict(sorted(node_type.properties.items())) if node_type is not None else {}
        group = groups.setdefault(
            (pool.provider, json.dumps(properties)),
            {"provider": pool.provider, "properties": properties, "static": []},
        )
        static: dict[str, Any] = {
            "name": pool.name,
            "quantity": pool.quantity,
            "nodeTypeSelector": [{"property": NODE_TYPE_PROPERTY, "value": pool.nodeType}],
        }
        if pool.taints:
            static["taints"] = [t.model_dump(exclude_none=True) for t in pool.taints]
        group["static"].append(static)
    return [groups[key] for key in sorted(groups)]


def access_manifests(fleet: Fleet, tenant: ResolvedTenant) -> str | None:
    """One ClusterRoleBinding per cluster role of the tenant's access rules, as multi-document YAML."""
    by_role: dict[str, set[tuple[str, str]]] = {}
    for rule in tenant.spec.spec.access:
        members = by_role.setdefault(rule.clusterRole, set())
        members.update(("User", user) for user in rule.users)
        members.update(("Group", group) for group in rule.groups)
        for name in rule.teams:
            team = fleet.teams[name].spec.spec
            members.update(("User", user) for user in team.members)
            members.update(("Group", group) for group in team.groups)
    documents = []
    for role in sorted(by_role):
        documents.append(
            to_yaml(
                {
                    "apiVersion": f"{_RBAC}/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {
                        "name": f"vfleet-access-{role}",
                        "labels": {"app.kubernetes.io/managed-by": naming.MANAGED_BY},
                    },
                    "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": role},
                    "subjects": [
                        {"apiGroup": _RBAC, "kind": kind, "name": name}
                        for kind, name in sorted(by_role[role])
                    ],
                }
            )
        )
    return "---\n".join(documents) if documents else None


def _add_manifests(values: dict[str, Any], manifests: str) -> None:
    """vfleet's manifests go after any the template deploys itself, never instead of them."""
    merge(values, {"experimental": {"deploy": {"vcluster": {}}}})
    deploy = values["experimental"]["deploy"]["vcluster"]
    existing = deploy.get("manifests")
    if isinstance(existing, str) and existing.strip():
        manifests = existing.rstrip("\n") + "\n---\n" + manifests
    deploy["manifests"] = manifests


# ------------------------------------------------------------------------------------------- the stage


@dataclass
class _Version:
    """What every tenant of one template version shares: the compiled file, the validator."""

    path: str  # templates/<name>/<values>
    compiled: _Compiled | None  # None: the file is unusable (reported once)
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
        "owner": tenant.spec.spec.owner,
        "labels": tenant.spec.metadata.labels,
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
            values = _evaluate(compiled, _context(tenant, cluster, params))
        except _RenderError as exc:
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
        if tenant.spec.spec.access:
            manifests = self._access(tenant)
            if manifests is not None:
                _add_manifests(values, manifests)
        if version.validator is not None:
            problems = version.validator.errors(values)
            if problems:
                where = self.fleet.location(tenant.doc)
                self.findings.extend(
                    error("values.schema", f"{problem} (values rendered from {version.path})", where, subject)
                    for problem in problems
                )
                return None
        text, digest = yaml_and_hash(values)
        return RenderedTenant(tenant.key, values, text, digest, cluster, tenant.template_version.chartVersion)

    def _access(self, tenant: ResolvedTenant) -> str | None:
        """Access manifests, built once per distinct set of access rules (teams are fleet-wide)."""
        key = tuple(
            (rule.clusterRole, tuple(rule.users), tuple(rule.teams), tuple(rule.groups))
            for rule in tenant.spec.spec.access
        )
        if key not in self.manifests:
            self.manifests[key] = access_manifests(self.fleet, tenant)
        return self.manifests[key]

    def _prepare(self, tenant: ResolvedTenant) -> _Version:
        """The compiled values file and the schema validator of a template version; problems reported once."""
        fleet = self.fleet
        item = fleet.templates[tenant.template]
        index = next(i for i, v in enumerate(item.spec.spec.versions) if v.version == tenant.version)
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
        return _Version(path, _compile(source, git_blob_id(data)), validator)

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
