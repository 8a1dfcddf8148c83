"""The chart values schema registry: which values.schema.json checks a chart version's values.

Upstream schemas are never copied into the repository (they are not ours, and a copy goes stale
silently). They are looked up, in this order of precedence:

1. a template version's own `schema:` (a path relative to the repository root, or absolute);
2. the directories in `VFLEET_CHART_SCHEMAS` (os.pathsep-separated), if it is set;
3. the directories in `chartSchemas:` of `vfleet.yaml` at the repository root.

Each directory holds `vcluster-chart-<version>/values.schema.json`. Without an exact match, the highest
patch of the same major.minor is used: a patch release does not change the values contract. Relative
directories are relative to the repository root.

jsonschema-rs is used because the pure-Python validator costs ~1 ms per tenant (see MEASURED.md), and a
validator is compiled once per schema file for the life of the process.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
from pydantic import ValidationError

from vfleet import specs
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding, Location, error
from vfleet.core.yamldoc import YamlError, format_path, locate, parse_documents
from vfleet.repo.tree import Tree, TreeError

CONFIG_FILE = "vfleet.yaml"
ENV_VAR = "VFLEET_CHART_SCHEMAS"
SCHEMA_FILE = "values.schema.json"
DIR_PREFIX = "vcluster-chart-"

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


class SchemaError(VfleetError):
    """No usable values schema for a chart version; the message says where it looked and what to do."""


class SchemaMissing(SchemaError):
    pass


class SchemaInvalid(SchemaError):
    pass


def json_path(path: Sequence[str | int]) -> str:
    """['statefulSet', 'annotations', 'a.b/c', 0] -> 'statefulSet.annotations["a.b/c"][0]'; [] -> '(root)'
    (`yamldoc.format_path`, naming the root of a values document)."""
    return format_path(path) or "(root)"


class ValuesValidator:
    """One compiled values.schema.json; `errors(values)` lists what is wrong, one line per bad value."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.schema: Any = json.loads(path.read_text(encoding="utf-8"))
            self._validator = jsonschema_rs.validator_for(self.schema)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SchemaInvalid(f"{path}: not a usable JSON Schema ({exc}); replace it with the chart's own "
                                f"values.schema.json") from exc

    def errors(self, values: Any) -> list[str]:
        if self._validator.is_valid(values):  # the fast path: no error objects built for valid values
            return []
        messages: list[str] = []
        for err in self._validator.iter_errors(values):
            messages.extend(self._describe(err))
        return sorted(set(messages))

    def _describe(self, err: jsonschema_rs.ValidationError) -> list[str]:
        where = list(err.instance_path)
        kind = err.kind
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
            allowed = self._allowed(err.schema_path)
            return [f"{json_path([*where, key])}: additional property not allowed{self._hint(key, allowed)}"
                    for key in kind.unexpected]
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            return [f"{json_path([*where, str(kind.property)])}: required property is missing"]
        return [f"{json_path(where)}: {err.message}"]

    def _allowed(self, schema_path: Sequence[str | int]) -> list[str]:
        node: Any = self.schema
        try:
            for step in schema_path[:-1]:
                node = node[step]
        except (KeyError, IndexError, TypeError):
            return []
        props = node.get("properties") if isinstance(node, dict) else None
        return sorted(props) if isinstance(props, dict) else []

    @staticmethod
    def _hint(key: str, allowed: list[str]) -> str:
        if not allowed:
            return ""
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
        shown = ", ".join(allowed[:25]) + (", ..." if len(allowed) > 25 else "")
        return f" (allowed: {shown})"


# Compiled validators for the life of the process, by file identity: base and head of a plan, and every
# template version on the same chart, share one.
_VALIDATORS: dict[tuple[str, int, int], ValuesValidator] = {}


def load_validator(path: Path) -> ValuesValidator:
    try:
        stat = path.stat()
    except OSError as exc:
        raise SchemaMissing(f"{path}: {exc.strerror or exc}") from exc
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    validator = _VALIDATORS.get(key)
    if validator is None:
        if len(_VALIDATORS) >= 64:  # a long-lived process (the library) whose schema files keep changing
            _VALIDATORS.clear()
        validator = _VALIDATORS[key] = ValuesValidator(path)
    return validator


def _version_key(name: str) -> tuple[int, int, int, int, str] | None:
    match = _VERSION.match(name)
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


@dataclass(frozen=True)
class SchemaRegistry:
    """Where values schemas are searched for, and the validators found there."""

    root: Path
    dirs: tuple[Path, ...]
    origin: str  # where `dirs` came from, for messages
    findings: tuple[Finding, ...] = ()  # problems with vfleet.yaml itself

    @staticmethod
    def from_repo(root: Path, env: Mapping[str, str], tree: Tree | None = None) -> SchemaRegistry:
        """The registry configured by `VFLEET_CHART_SCHEMAS` in `env`, else by `vfleet.yaml`.

        `vfleet.yaml` is read from `tree` when given (a Git revision compiles with its own settings),
        else from `<root>`; relative directories are resolved against `root` either way.
        """
        root = root.resolve()
        override = env.get(ENV_VAR)
        if override is not None and override.strip():
            dirs = tuple(_dir(root, d) for d in override.split(os.pathsep) if d.strip())
            return SchemaRegistry(root, dirs, f"the environment variable {ENV_VAR}")
        try:
            raw = tree.read(CONFIG_FILE) if tree is not None else (root / CONFIG_FILE).read_bytes()
        except (FileNotFoundError, IsADirectoryError, TreeError):
            return SchemaRegistry(root, (), f"nowhere ({ENV_VAR} is not set and there is no {CONFIG_FILE})")
        entries, findings = _read_config(raw.decode("utf-8-sig", errors="replace"))
        return SchemaRegistry(root, tuple(_dir(root, d) for d in entries), f"chartSchemas in {CONFIG_FILE}",
                              tuple(findings))

    def find(self, chart_version: str, schema: str | None = None) -> Path:
        """The schema file for `chart_version`, or the template version's own `schema`; else SchemaMissing."""
        if schema is not None:
            path = _dir(self.root, schema)
            if not path.is_file():
                raise SchemaMissing(f"the template version's schema {schema!r} ({path}) does not exist; "
                                    f"fix the path (relative to the repository root, or absolute) or drop "
                                    f"'schema' to use the registered schema of chart {chart_version}")
            return path
        for base in self.dirs:
            exact = base / f"{DIR_PREFIX}{chart_version}" / SCHEMA_FILE
            if exact.is_file():
                return exact
        fallback = self._same_minor(chart_version)
        if fallback is not None:
            return fallback
        raise SchemaMissing(self._missing(chart_version))

    def _same_minor(self, chart_version: str) -> Path | None:
        wanted = _version_key(chart_version)
        if wanted is None:
            return None
        best: tuple[tuple[int, int, int, int, str], Path] | None = None
        for base in self.dirs:
            if not base.is_dir():
                continue
            for child in sorted(base.iterdir()):
                if not child.name.startswith(DIR_PREFIX):
                    continue
                key = _version_key(child.name.removeprefix(DIR_PREFIX))
                if key is None or key[:2] != wanted[:2] or not (child / SCHEMA_FILE).is_file():
                    continue
                if best is None or key > best[0]:  # the first directory wins a tie
                    best = (key, child / SCHEMA_FILE)
        return best[1] if best else None

    def _missing(self, chart_version: str) -> str:
        name = f"{DIR_PREFIX}{chart_version}/{SCHEMA_FILE}"
        minor = ".".join(chart_version.split(".")[:2])
        searched = ", ".join(str(d) for d in self.dirs) or "no directories"
        return (f"no values schema for vcluster chart {chart_version}: looked for {name} (or any "
                f"{DIR_PREFIX}{minor}.*) in {searched}; the directories come from {self.origin}. Fix: put "
                f"the chart's values.schema.json (chart/values.schema.json of vcluster v{chart_version}) at "
                f"<dir>/{name}, with <dir> listed in chartSchemas of {CONFIG_FILE} or in {ENV_VAR}, or set "
                f"'schema:' on the template version")

    def validator(self, chart_version: str, schema: str | None = None) -> ValuesValidator:
        return load_validator(self.find(chart_version, schema))

    def validate(self, chart_version: str, values: Any, schema: str | None = None) -> list[str]:
        """Human-readable schema errors of `values` ('path.to.key: what is wrong'); [] when valid."""
        return self.validator(chart_version, schema).errors(values)


def _dir(root: Path, entry: str) -> Path:
    path = Path(entry.strip()).expanduser()
    return path if path.is_absolute() else root / path


def _read_config(text: str) -> tuple[list[str], list[Finding]]:
    try:
        documents = list(parse_documents(text))
    except YamlError as exc:
        return [], [error("config.invalid", str(exc), Location(CONFIG_FILE, exc.line))]
    if not documents:
        return [], []
    _, line, data = documents[0]
    if not isinstance(data, dict):
        return [], [error("config.invalid", f"{CONFIG_FILE} must be a mapping", Location(CONFIG_FILE, line))]
    entries = data.get("chartSchemas", [])
    if not isinstance(entries, list) or not all(isinstance(e, str) and e.strip() for e in entries):
        where = Location(CONFIG_FILE, locate(text, 1, 0, ("chartSchemas",)), "chartSchemas")
        return [], [error("config.invalid", "chartSchemas must be a list of directory paths (relative to the "
                          "repository root, or absolute)", where)]
    return list(entries), []


# ------------------------------------------------------------------ vfleet.yaml: identity (and argocd)


@dataclass(frozen=True)
class FleetSettings:
    """The fleet-wide settings of vfleet.yaml beyond chart schemas, validated (None: not configured)."""

    identity: specs.Identity | None = None
    argocd: specs.ArgoCDSettings | None = None
    findings: tuple[Finding, ...] = ()
    text: str = field(default="", repr=False)  # vfleet.yaml, to point later findings at a line
    first_line: int = 1

    def where(self, path: Sequence[str | int]) -> Location:
        """The file:line (and field) of `path` in vfleet.yaml."""
        return Location(CONFIG_FILE, locate(self.text, self.first_line, 0, path) if self.text else None,
                        json_path(path))


# key in vfleet.yaml -> the spec model that validates it
_SECTIONS: dict[str, type[specs.Strict]] = {"identity": specs.Identity, "argocd": specs.ArgoCDSettings}


def read_settings(tree: Tree) -> FleetSettings:
    """`identity:` and `argocd:` of the tree's vfleet.yaml, each section validated like a spec: every problem a finding
    at its file:line (a broken file is reported by the chart schema reader, not twice)."""
    try:
        text = tree.read(CONFIG_FILE).decode("utf-8-sig", errors="replace")
        documents = list(parse_documents(text))
    except (FileNotFoundError, IsADirectoryError, TreeError, YamlError, OSError):
        return FleetSettings()
    data = documents[0][2] if documents else None
    if not isinstance(data, dict):
        return FleetSettings()
    found: dict[str, Any] = {}
    findings: list[Finding] = []
    for key, model in _SECTIONS.items():
        if key not in data:
            continue
        try:
            found[key] = model.model_validate(data[key])
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = (key, *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
                if err["type"] == "extra_forbidden":
                    message = f"unknown field {loc[-1]!r}"
                    if "secret" in str(loc[-1]).lower():
                        message += " (vfleet.yaml holds no secret: kubeconfigs get their token from the exec plugin)"
                elif err["type"] == "missing":
                    message = f"required field {loc[-1]!r} is missing"
                else:
                    message = str(err["msg"]).removeprefix("Value error, ")
                index, first, _ = documents[0]
                where = Location(CONFIG_FILE, locate(text, first, index, loc), json_path(loc))
                findings.append(error("config.invalid", f"{key}: {message}", where))
    identity, argocd = found.get("identity"), found.get("argocd")
    return FleetSettings(identity if isinstance(identity, specs.Identity) else None,
                         argocd if isinstance(argocd, specs.ArgoCDSettings) else None, tuple(findings), text,
                         documents[0][1])
