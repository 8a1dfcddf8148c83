"""Template: versioned values files, typed parameters, resources."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vfleet.specs.base import SEMVER, Strict
from vfleet.specs.expose import Expose

ParameterType = Literal["string", "int", "number", "bool", "enum", "quantity", "duration"]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names the renderer provides to every template; a parameter may not shadow them.
BUILTIN_NAMES = frozenset({"project", "tenant", "cluster", "namespace", "owner", "params", "labels"})


class Parameter(Strict):
    name: str
    type: ParameterType
    description: str | None = None
    default: Any = None
    required: bool = False
    min: float | str | None = Field(None, description="number, or quantity/duration text for those types")
    max: float | str | None = None
    regex: str | None = None
    options: list[str | int | float | bool] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _IDENT.match(value) or value in BUILTIN_NAMES:
            raise ValueError(
                f"{value!r} is not a parameter name: letters, digits and '_', not starting with a digit, "
                f"and not one of {sorted(BUILTIN_NAMES)}"
            )
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Parameter:
        if self.type == "enum" and not self.options:
            raise ValueError("an 'enum' parameter needs 'options'")
        if self.options is not None and self.type != "enum":  # never checked there: refused, not ignored
            raise ValueError(f"'options' apply to 'enum' parameters only; make {self.name!r} an 'enum'")
        if self.regex is not None and self.type != "string":
            raise ValueError("'regex' applies to 'string' parameters only")
        if (self.min is not None or self.max is not None) and self.type in {"string", "bool", "enum"}:
            raise ValueError(f"'min'/'max' do not apply to '{self.type}' parameters")
        if self.required and self.default is not None:
            raise ValueError("a 'required' parameter cannot have a 'default'")
        return self


class TemplateResources(Strict):
    """The tenant's size: each a literal quantity or the name of a parameter that holds it."""

    cpu: str | None = None
    memory: str | None = None
    storage: str | None = None
    gpus: int | str | None = None


class TemplateVersion(Strict):
    version: str
    chartVersion: str
    values: str = Field(description="the Jinja2 vcluster.yaml template, a file in the template's folder")
    parameters: list[Parameter] = Field(default_factory=list)
    resources: TemplateResources = Field(default_factory=TemplateResources)
    schema_: str | None = Field(
        None,
        alias="schema",
        description="path of the chart's values.schema.json; default: the one registered for chartVersion",
    )
    deprecated: bool = False
    expose: Expose | None = Field(None, description="how the tenant's API server is reached (docs/access.md)")

    @field_validator("version", "chartVersion")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version (e.g. '1.2.0')")
        return value

    @model_validator(mode="after")
    def _unique_parameters(self) -> TemplateVersion:
        seen: set[str] = set()
        for p in self.parameters:
            if p.name in seen:
                raise ValueError(f"parameter {p.name!r} is declared twice")
            seen.add(p.name)
        port = self.expose.nodePort.port if self.expose and self.expose.nodePort else None
        if isinstance(port, str):
            param = next((p for p in self.parameters if p.name == port), None)
            if param is None or param.type != "int":
                raise ValueError(f"expose.nodePort.port {port!r} names no 'int' parameter of this version; "
                                 f"declare one or give the port number")
        return self


class TemplateSpec(Strict):
    displayName: str | None = None
    description: str | None = None
    versions: list[TemplateVersion] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_versions(self) -> TemplateSpec:
        seen: set[str] = set()
        for v in self.versions:
            if v.version in seen:
                raise ValueError(f"version {v.version!r} is declared twice")
            seen.add(v.version)
        return self
