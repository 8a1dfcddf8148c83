"""Value types users write as strings, parsed and validated rather than passed through.

Kubernetes quantities ("500m", "8Gi"), Go-style durations ("90m", "720h"), cron expressions and IANA
time zones. Each type keeps the user's original spelling (that is what lands in the chart values and
in plans, so a diff shows what the user wrote) next to its parsed value (what policy and quotas sum).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]|)$")
_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


@dataclass(frozen=True, slots=True, order=False)
class Quantity:
    """A Kubernetes resource quantity: the text as written and its value in base units."""

    text: str
    value: Decimal

    def __str__(self) -> str:
        return self.text

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value

    def __le__(self, other: Quantity) -> bool:
        return self.value <= other.value


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Quantity:
    """Parse like k8s.io/apimachinery resource.ParseQuantity; raise ValueError with what is expected."""
    match = _QUANTITY.match(text.strip())
    if not match or match.group(1) in {"", ".", "+", "-"}:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (expected e.g. '500m', '2', '8Gi', '1.5G')")
    number, suffix = match.groups()
    try:
        base = Decimal(number)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a Kubernetes quantity: bad number {number!r}") from exc
    if suffix[:1] in {"e", "E"} and suffix not in _SUFFIX:
        value = base * (Decimal(10) ** int(suffix[1:]))
    else:
        value = base * _SUFFIX[suffix]
    if value < 0:
        raise ValueError(f"{text!r}: a quantity must not be negative")
    return Quantity(text.strip(), value)


def _quantity_in(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a Kubernetes quantity such as '500m' or '8Gi', got {type(value).__name__}")
    return parse_quantity(str(value))


QuantityField = Annotated[
    Quantity,
    BeforeValidator(_quantity_in),
    PlainSerializer(lambda q: q.text, return_type=str),
    WithJsonSchema({"type": "string", "description": "Kubernetes quantity, e.g. 500m, 8Gi"}),
]

# Go's time.ParseDuration units. A duration is a sequence of <number><unit>, e.g. "1h30m".
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_DURATION_SECONDS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}


@dataclass(frozen=True, slots=True)
class Duration:
    """A Go-style duration ("90m", "720h", "1h30m"): the text as written and its length in seconds."""

    text: str
    seconds: float

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=1024)
def parse_duration(text: str) -> Duration:
    body = text.strip()
    pos = 0
    total = 0.0
    for part in _DURATION_PART.finditer(body):
        if part.start() != pos:
            break
        total += float(part.group(1)) * _DURATION_SECONDS[part.group(2)]
        pos = part.end()
    if not body or pos != len(body) or body == "0":
        if body == "0":
            return Duration(body, 0.0)
        raise ValueError(f"{text!r} is not a Go duration (expected e.g. '90m', '2h', '720h', '1h30m')")
    return Duration(body, total)


def _duration_in(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a Go duration string such as '90m' or '720h', got {type(value).__name__}")
    return parse_duration(value)


DurationField = Annotated[
    Duration,
    BeforeValidator(_duration_in),
    PlainSerializer(lambda d: d.text, return_type=str),
    WithJsonSchema({"type": "string", "description": "Go duration, e.g. 90m, 720h"}),
]


@lru_cache(maxsize=1024)
def check_cron(text: str) -> str:
    """A standard 5-field cron expression (what the vcluster sleep controller accepts)."""
    from croniter import croniter  # imported lazily: only fleets that use schedules pay for it

    fields = text.split()
    if len(fields) != 5 or not croniter.is_valid(text):
        raise ValueError(f"{text!r} is not a 5-field cron expression (expected e.g. '0 20 * * 1-5')")
    return text


def _cron_in(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a cron expression string, got {type(value).__name__}")
    return check_cron(value.strip())


CronField = Annotated[str, BeforeValidator(_cron_in)]


@lru_cache(maxsize=1024)
def check_timezone(text: str) -> str:
    if not text or text.startswith(("/", ".")) or ".." in text:
        raise ValueError(f"{text!r} is not an IANA time zone name (expected e.g. 'Europe/Berlin', 'UTC')")
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{text!r} is not an IANA time zone name (expected e.g. 'Europe/Berlin', 'UTC')") from exc
    return text


def _timezone_in(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an IANA time zone name, got {type(value).__name__}")
    return check_timezone(value)


TimezoneField = Annotated[str, BeforeValidator(_timezone_in)]
