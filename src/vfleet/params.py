"""Stage 3 — parameters: each tenant's parameters checked against its template version, typed.

A template version declares typed parameters (string, int, number, bool, enum, quantity, duration) with
bounds; a tenant may set only those, only within their bounds. Everything that depends on the template
version alone — bounds parsed, regexes compiled, defaults checked, the `resources` mapping resolved — is
compiled once per version (`_Version`), so the per-tenant work is a dictionary walk. A bad declaration
(a default outside its own bounds, `resources.cpu` naming a string parameter) is reported once, on the
Template document, not once per tenant.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vfleet.core import subjects
from vfleet.core.findings import Finding, error
from vfleet.core.units import Duration, Quantity, parse_duration, parse_quantity
from vfleet.model import Fleet, ResolvedTenant
from vfleet.specs import Parameter, TemplateVersion


@dataclass(frozen=True, slots=True)
class Resources:
    """A tenant's size: what its ResourceQuota grants and what project quotas and cluster capacity sum."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    storage: Quantity | None = None
    gpus: int = 0


@dataclass(frozen=True, slots=True)
class TenantParams:
    key: str
    # Resolved parameter values (defaults applied), JSON-ready: quantities and durations as their text.
    # Every declared parameter is present; an optional one without default and not set is None.
    values: dict[str, Any]
    resources: Resources


@dataclass(frozen=True)
class ResolvedParams:
    tenants: dict[str, TenantParams]  # by tenant key; tenants with bad parameters are absent
    findings: tuple[Finding, ...] = field(default=())


class ParamError(ValueError):
    """A value a parameter does not accept; `code` is the finding code (param.type, param.range, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_MISSING: Any = object()  # "no default": distinct from a declared `default: null`

_EXPECTED = {
    "string": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "quantity": "a Kubernetes quantity such as '500m' or '8Gi'",
    "duration": "a Go duration such as '90m' or '720h'",
}


def describe(value: Any) -> str:
    """'a string 'x'', 'an integer 3', 'null' ... for 'got ...' in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a number {value}"
    if isinstance(value, str):
        return f"a string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: float | Quantity | Duration) -> str:
    if isinstance(value, Quantity | Duration):
        return repr(value.text)
    return str(int(value)) if float(value).is_integer() else str(value)


class _Checker:
    """One declared parameter, compiled: `check(value)` returns the JSON-ready value or raises ParamError."""

    def __init__(self, decl: Parameter) -> None:
        self.decl = decl
        self.name = decl.name
        self.kind = decl.type
        self.pattern = re.compile(decl.regex) if decl.regex is not None else None
        # Bounds that do not fit the type are declaration errors: reported, then ignored.
        self.problems: list[tuple[str, str]] = []
        self.minimum = self._bound(decl.min, "min")
        self.maximum = self._bound(decl.max, "max")

    def _bound(self, raw: float | str | None, what: str) -> Any:
        """min/max as a comparable value, or None (and a recorded problem) if it does not fit the type."""
        if raw is None:
            return None
        if self.kind in {"int", "number"}:
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                self.problems.append((what, f"{what} of {self.kind} parameter {self.name!r} must be a finite "
                                      f"number, got {raw!r}"))
                return None
            return number
        text = raw if isinstance(raw, str) else _show(raw)
        try:
            return parse_quantity(text) if self.kind == "quantity" else parse_duration(text)
        except ValueError as exc:
            self.problems.append((what, f"{what} of {self.kind} parameter {self.name!r}: {exc}"))
            return None

    def check(self, value: Any) -> Any:
        kind = self.kind
        if kind == "enum":
            return self._option(value)
        if kind == "string":
            if not isinstance(value, str):
                hint = " (write it in quotes to pass it as text)" if isinstance(value, int | float) else ""
                raise self._type(value, hint)
            if self.pattern is not None and not self.pattern.fullmatch(value):
                raise ParamError("param.regex", f"parameter {self.name!r} value {value!r} does not match the "
                                 f"pattern {self.pattern.pattern!r} (the whole value must match)")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise self._type(value)
            return value
        if kind in {"int", "number"}:
            ok = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
            if isinstance(value, bool) or not ok:
                raise self._type(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ParamError("param.type", f"parameter {self.name!r} must be a finite number, "
                                 f"got {value}")
            self._range(value, value)
            return value
        if kind == "quantity":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise self._type(value)
            quantity = self._parse(parse_quantity, str(value))
            self._range(quantity, quantity)
            return quantity.text
        if not isinstance(value, str):  # duration
            raise self._type(value)
        duration = self._parse(parse_duration, value)
        self._range(duration.seconds, duration)
        return duration.text

    def _parse(self, parse: Callable[[str], Any], text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise ParamError("param.type", f"parameter {self.name!r}: {exc}") from None

    def _type(self, value: Any, hint: str = "") -> ParamError:
        return ParamError("param.type", f"parameter {self.name!r} must be {_EXPECTED[self.kind]}, "
                          f"got {describe(value)}{hint}")

    def _range(self, comparable: Any, shown: float | Quantity | Duration) -> None:
        low, high = self.minimum, self.maximum
        if isinstance(low, Duration):
            low = low.seconds
        if isinstance(high, Duration):
            high = high.seconds
        if low is not None and comparable < low:
            raise ParamError("param.range", f"parameter {self.name!r} is {_show(shown)}, below the minimum "
                             f"{_show(self.minimum)}")
        if high is not None and comparable > high:
            raise ParamError("param.range", f"parameter {self.name!r} is {_show(shown)}, above the maximum "
                             f"{_show(self.maximum)}")

    def _option(self, value: Any) -> Any:
        options = self.decl.options or []
        # bool is an int in Python: True must not match an option 1, nor 1 an option true.
        if any(value == o and isinstance(value, bool) == isinstance(o, bool) for o in options):
            return value
        shown = ", ".join(_option_text(o) for o in options)
        raise ParamError("param.option", f"parameter {self.name!r} is {describe(value)}; "
                         f"allowed options: {shown}")


def _option_text(option: object) -> str:
    if isinstance(option, str):
        return repr(option)
    return str(option).lower() if isinstance(option, bool) else str(option)


# A resource is a literal, the name of a parameter, or not set.
_QuantityRef = Quantity | str | None
_GpuRef = int | str


@dataclass(frozen=True)
class _Version:
    """A template version compiled once: checkers, checked defaults and the resources mapping."""

    label: str  # "template 'web' 1.2.0", for messages
    checkers: dict[str, _Checker]
    defaults: dict[str, Any]  # JSON-ready; _MISSING when a default is invalid (reported on the template)
    sizes: dict[str, _QuantityRef]
    gpus: _GpuRef
    valid: bool  # False when the resources mapping is broken: its tenants cannot be sized


def _compile(fleet: Fleet, tenant: ResolvedTenant, findings: list[Finding]) -> _Version:
    tv = tenant.template_version
    item = fleet.templates[tenant.template]
    index = next(i for i, v in enumerate(item.manifest.spec.versions) if v.version == tenant.version)
    subject = subjects.template(tenant.template)

    def report(code: str, message: str, path: tuple[str | int, ...]) -> None:
        location = fleet.location(item.doc, ("spec", "versions", index, *path))
        findings.append(error(code, message, location, subject))

    checkers: dict[str, _Checker] = {}
    defaults: dict[str, Any] = {}
    for j, decl in enumerate(tv.parameters):
        checker = checkers[decl.name] = _Checker(decl)
        for which, message in checker.problems:
            report("param.declaration", message, ("parameters", j, which))
        if decl.required:
            continue
        if decl.default is None:
            defaults[decl.name] = None
            continue
        try:
            defaults[decl.name] = checker.check(decl.default)
        except ParamError as exc:
            report(exc.code, f"default of {exc}", ("parameters", j, "default"))
            defaults[decl.name] = _MISSING
    sizes, gpus, valid = _resources(tv, checkers, report)
    label = f"template {tenant.template!r} {tenant.version}"
    return _Version(label, checkers, defaults, sizes, gpus, valid)


_Report = Callable[[str, str, tuple[str | int, ...]], None]


def _resources(tv: TemplateVersion, checkers: dict[str, _Checker],
               report: _Report) -> tuple[dict[str, _QuantityRef], _GpuRef, bool]:
    valid = True
    sizes: dict[str, _QuantityRef] = {}
    for what in ("cpu", "memory", "storage"):
        ref: str | None = getattr(tv.resources, what)
        if ref is None or ref in checkers:
            if ref is not None and checkers[ref].kind != "quantity":
                report("template.resources", f"resources.{what} refers to parameter {ref!r} of type "
                       f"{checkers[ref].kind}; it must name a quantity parameter", ("resources", what))
                valid = False
            sizes[what] = ref
            continue
        try:
            sizes[what] = parse_quantity(ref)
        except ValueError:
            quantities = ", ".join(sorted(n for n, c in checkers.items() if c.kind == "quantity")) or "none"
            report("template.resources", f"resources.{what} {ref!r} is neither a Kubernetes quantity "
                   f"(e.g. '2', '8Gi') nor a quantity parameter (declared: {quantities})",
                   ("resources", what))
            valid = False
    gpus: _GpuRef = 0
    raw = tv.resources.gpus
    if isinstance(raw, str) and raw not in checkers and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, int):
        if raw < 0:
            report("template.resources", f"resources.gpus must not be negative, got {raw}",
                   ("resources", "gpus"))
            valid = False
        gpus = raw
    elif isinstance(raw, str):
        if raw not in checkers or checkers[raw].kind != "int":
            ints = sorted(n for n, c in checkers.items() if c.kind == "int")
            report("template.resources", f"resources.gpus {raw!r} is neither an integer nor an int parameter "
                   f"(declared: {', '.join(ints) or 'none'})", ("resources", "gpus"))
            valid = False
        gpus = raw
    return sizes, gpus, valid


def _tenant(fleet: Fleet, tenant: ResolvedTenant, version: _Version,
            findings: list[Finding]) -> TenantParams | None:
    given: dict[str, Any] = tenant.manifest.spec.parameters
    subject = subjects.tenant(tenant.key)
    ok = version.valid

    def report(code: str, message: str, name: str) -> None:
        location = fleet.location(tenant.doc, ("spec", "parameters", name))
        findings.append(error(code, message, location, subject))

    for name in given:
        if name not in version.checkers:
            declared = ", ".join(version.checkers) or "no parameters"
            close = difflib.get_close_matches(name, list(version.checkers), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            report("param.unknown", f"unknown parameter {name!r}{hint} ({version.label} declares: "
                   f"{declared})", name)
            ok = False
    values: dict[str, Any] = {}
    for name in sorted(version.checkers):
        checker = version.checkers[name]
        if name in given:
            try:
                values[name] = checker.check(given[name])
            except ParamError as exc:
                report(exc.code, str(exc), name)
                ok = False
        elif checker.decl.required:
            about = f": {checker.decl.description}" if checker.decl.description else ""
            report("param.required", f"required parameter {name!r} of {version.label} is missing{about}",
                   name)
            ok = False
        else:
            values[name] = version.defaults[name]
            ok = ok and values[name] is not _MISSING  # the bad default is reported on the template
    if not ok:
        return None
    resources = _size(version, values)
    if resources.gpus < 0:
        report("param.range", f"parameter {version.gpus!r} sets the tenant's GPU count and must not be "
               f"negative, got {resources.gpus}", str(version.gpus))
        return None
    return TenantParams(tenant.key, values, resources)


def _size(version: _Version, values: dict[str, Any]) -> Resources:
    def quantity(ref: _QuantityRef) -> Quantity | None:
        if ref is None or isinstance(ref, Quantity):
            return ref
        text = values.get(ref)
        return None if text is None else parse_quantity(text)

    sizes = version.sizes
    gpus = version.gpus if isinstance(version.gpus, int) else values.get(version.gpus) or 0
    return Resources(quantity(sizes["cpu"]), quantity(sizes["memory"]), quantity(sizes["storage"]), gpus)


def resolve(fleet: Fleet) -> ResolvedParams:
    """Check every tenant's parameters against its template version; apply defaults; size each tenant."""
    findings: list[Finding] = []
    versions: dict[tuple[str, str], _Version] = {}
    tenants: dict[str, TenantParams] = {}
    for key in sorted(fleet.tenants):
        tenant = fleet.tenants[key]
        version = versions.get((tenant.template, tenant.version))
        if version is None:
            version = versions[tenant.template, tenant.version] = _compile(fleet, tenant, findings)
        resolved = _tenant(fleet, tenant, version, findings)
        if resolved is not None:
            tenants[key] = resolved
    return ResolvedParams(tenants, tuple(findings))
