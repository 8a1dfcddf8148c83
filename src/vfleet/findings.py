"""One diagnostic type for the whole pipeline.

Loading errors, schema errors, cross-reference errors, render errors and policy results are all a
`Finding`: a severity, a stable code, a message, and where it comes from (file, line, field) and what
it is about (the subject: a tenant, project, cluster ...). A collection of findings knows its own exit
code, so the CLI never decides that on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # broken input: nothing may be written or applied (exit 2)
    DENY = "deny"  # valid input refused by policy or a guard (exit 1)
    WARN = "warn"  # reported, never blocking
    INFO = "info"


# Ordered from worst to mildest; used to sort reports and pick exit codes.
SEVERITY_RANK: dict[Severity, int] = {Severity.ERROR: 0, Severity.DENY: 1, Severity.WARN: 2, Severity.INFO: 3}


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the repository a finding points: a repo-relative path, a 1-based line, a field path."""

    file: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return where if not self.field else f"{where} ({self.field})"


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    code: str  # stable, machine-readable: "yaml.syntax", "schema.extra", "ref.template", "policy.<rule>" ...
    message: str
    location: Location | None = None
    subject: str | None = None  # "tenant:<project>/<name>", "project:<name>", "cluster:<name>", ...

    def sort_key(self) -> tuple[int, str, int, str, str]:
        loc = self.location
        return (
            SEVERITY_RANK[self.severity],
            loc.file if loc else "",
            (loc.line or 0) if loc else 0,
            self.code,
            self.message,
        )

    def to_json(self) -> dict[str, object]:
        loc = self.location
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "field": loc.field if loc else None,
            "subject": self.subject,
        }


def error(code: str, message: str, location: Location | None = None, subject: str | None = None) -> Finding:
    return Finding(Severity.ERROR, code, message, location, subject)


@dataclass(frozen=True, slots=True)
class Findings:
    """An ordered, de-duplicated collection of findings with the exit code it implies."""

    items: tuple[Finding, ...] = field(default_factory=tuple)

    @staticmethod
    def of(findings: Iterable[Finding]) -> Findings:
        return Findings(tuple(sorted(set(findings), key=Finding.sort_key)))

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.items if f.severity is Severity.ERROR)

    @property
    def denies(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.items if f.severity is Severity.DENY)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.items if f.severity is Severity.WARN)

    @property
    def exit_code(self) -> int:
        """2 broken input, 1 denied, 0 clean (warnings never fail a run)."""
        if self.errors:
            return 2
        if self.denies:
            return 1
        return 0
