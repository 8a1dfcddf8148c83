"""What every spec shares: the strict base model, names, labels and label selectors, version patterns."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

API_VERSION = "vfleet.dev/v1alpha1"

# RFC 1123 label: what Kubernetes requires of namespace, release and most object names.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Label keys/values as Kubernetes accepts them (prefix/name, 63-character name, value may be empty).
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
# A tenant pins a template version exactly ("1.2.0") or by major ("1.x") or major.minor ("1.2.x").
VERSION_REF = re.compile(r"^(0|[1-9]\d*)\.(x|(0|[1-9]\d*)\.x)$")


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def dns_label(value: str, what: str = "name", max_len: int = 63) -> str:
    if len(value) > max_len or not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid {what}: lower-case letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {max_len} characters"
        )
    return value


Name = Annotated[str, Field(min_length=1, max_length=63)]


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1]
        if len(name) > 63 or not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(f"label {key}={value!r}: value is not a valid Kubernetes label value")
    return labels


class Metadata(Strict):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return dns_label(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value)


class LabelSelectorRequirement(Strict):
    """One `matchExpressions` entry, with Kubernetes' semantics (NotIn also matches an absent key)."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty 'values' list")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no 'values'")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        return (self.key in labels) == (self.operator == "Exists")

    def __str__(self) -> str:
        if self.operator in ("In", "NotIn"):
            return f"{self.key} {self.operator.lower()} ({', '.join(self.values)})"
        return self.key if self.operator == "Exists" else f"!{self.key}"


class LabelSelector(Strict):
    """A Kubernetes label selector: every matchLabels entry and every matchExpressions requirement holds."""

    matchLabels: dict[str, str] = Field(default_factory=dict)
    matchExpressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.unmet(labels)

    def unmet(self, labels: Mapping[str, str]) -> list[str]:
        """The requirements `labels` do not meet, written as kubectl writes selectors (for messages)."""
        unmet = [f"{k}={v}" for k, v in self.matchLabels.items() if labels.get(k) != v]
        return unmet + [str(e) for e in self.matchExpressions if not e.matches(labels)]

    def __hash__(self) -> int:  # frozen, but its dict and list fields are not hashable themselves
        return hash((tuple(sorted(self.matchLabels.items())),
                     tuple((e.key, e.operator, tuple(e.values)) for e in self.matchExpressions)))
