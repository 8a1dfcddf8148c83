"""One diagnostic type for the whole pipeline.

Loading errors, schema errors, cross-reference errors, render errors and policy results are all a
`Finding`: a severity, a stable code, a message, and where it comes from (file, line, field) and what
it is about (the subject: a tenant, project, cluster ...). A collection of findings knows its own exit
code, so the CLI never decides that on its own.

Reports fold repeated findings (`fold`): a rule that fails for 5,000 tenants shows its first few and a
count, in the terminal and in Markdown alike; JSON always carries every finding in full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar


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
    # Machine-readable particulars behind the message (JSON data, never mutated), e.g. every candidate
    # cluster of a place.no-cluster with its reason, which the message only summarises. Not part of a
    # finding's identity: the message already says what it is about.
    details: Mapping[str, object] = field(default_factory=dict, compare=False)

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
        data: dict[str, object] = {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "field": loc.field if loc else None,
            "subject": self.subject,
        }
        if self.details:  # only findings that have some: every other finding's JSON stays as it was
            data["details"] = dict(self.details)
        return data

    def kind(self) -> str:
        """What reports fold by: severity and code, as `error place.no-cluster`."""
        return f"{self.severity.value} {self.code}"


def error(code: str, message: str, location: Location | None = None, subject: str | None = None,
          details: Mapping[str, object] | None = None) -> Finding:
    return Finding(Severity.ERROR, code, message, location, subject, details or {})


# ------------------------------------------------------------------------------------------- folding

FOLD_SHOWN = 5  # findings of one kind a report prints in full; the rest are one counted line
JSON_HINT = "--output json"  # what a command that prints findings has, and its JSON lists them all

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Folded:
    """Stands in a report for the findings of one kind left out after its first FOLD_SHOWN."""

    kind: str  # "error place.no-cluster"; a plan's policy list adds the status: "new deny policy.x"
    count: int
    hint: str = JSON_HINT  # where the full list is: a command without --output names one that has it

    def __str__(self) -> str:
        return f"... and {self.count:,} more {self.kind} (full list: {self.hint})"


def fold(items: Sequence[T], kind: Callable[[T], str], shown: int = FOLD_SHOWN) -> list[T | Folded]:
    """`items` in their order, but of each kind with more than `shown` only the first `shown`, followed
    right after the last of them by one `Folded` counting the rest. The one grouping every report uses
    (terminal, Markdown), so they fold alike; with the sorted input of `Findings`, deterministic."""
    totals: dict[str, int] = {}
    kinds = [kind(item) for item in items]
    for k in kinds:
        totals[k] = totals.get(k, 0) + 1
    seen: dict[str, int] = {}
    out: list[T | Folded] = []
    for item, k in zip(items, kinds, strict=True):
        n = seen[k] = seen.get(k, 0) + 1
        if n <= shown:
            out.append(item)
            if n == shown and totals[k] > shown:
                out.append(Folded(k, totals[k] - shown))
    return out


def left_out(entries: Sequence[object]) -> int:
    """How many items `entries` (a slice of what `fold` returned) stand for."""
    return sum(e.count if isinstance(e, Folded) else 1 for e in entries)


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
