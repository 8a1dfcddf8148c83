"""The policy input in parts, evaluated side by side: what keeps the policy step linear in the fleet.

One request for a 100,000-tenant fleet is ~150 MB of JSON. OPA turns it into Rego values at ~5 MB/s
once its heap is large (a quarter of a minute before any rule runs), and evaluates it slower than the
same tenants in smaller requests. So, when the policies allow it, the input is cut into parts of about
`TENANTS_PER_PART` tenants, each evaluated on its own, one part at a time per OPA process, with as many
processes as cores (docs/performance.md has the figures behind these choices). A fleet too small to fill
a part per process is still cut into one part per process, down to `MIN_TENANTS_PER_PART`: at 1,000
tenants two halves on two processes answered in 55 ms where the whole took 103 ms.

What a rule sees then (docs/policy-input.md): every cluster, template, node provider, team and the
platform, as before; projects in groups, each project with all of its tenants. Rules about one tenant,
one project and its tenants, or one cluster through the `usage` vfleet sums over the whole fleet give
the same verdicts as with the whole fleet. A rule that compares tenants of different projects, or
counts tenants itself instead of reading `usage`, would not: such policies keep the one request, which
is the default. The shipped guardrail library declares that it is partitionable, in policies/data.yaml:

    vfleet: {config: {inputPartition: project}}

Verdicts of the parts are merged: the same verdict from several parts (a cluster's, seen in each) once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, overload

import orjson

SETTING = "inputPartition"  # data.vfleet.config.inputPartition
TENANTS_PER_PART = 1250  # what a process with a 256 MiB heap ceiling takes in its stride (local._go_runtime)
MIN_TENANTS_PER_PART = 250  # smaller parts than this are not worth a process of their own
MAX_LANES = 4


class Partition(StrEnum):
    FLEET = "fleet"  # one request holding the whole fleet (the default)
    PROJECT = "project"  # parts of whole projects, each with all of its tenants


def mode(value: Any) -> Partition | str:
    """The configured partition, or the message of a finding when the setting makes no sense."""
    if value is None:
        return Partition.FLEET
    if isinstance(value, str) and value in {p.value for p in Partition}:
        return Partition(value)
    return (f"inputPartition is {value!r}; expected {Partition.PROJECT.value!r} (rules read one project "
            f"and its tenants at a time) or {Partition.FLEET.value!r} (one request for the whole fleet)")


def lanes() -> int:
    """OPA processes to evaluate parts on: one per core, at most MAX_LANES."""
    return max(1, min(os.cpu_count() or 1, MAX_LANES))


def lanes_to_start(setting: Any) -> int:
    """OPA processes worth starting up front for policies whose partition setting is `setting`."""
    return lanes() if mode(setting) is Partition.PROJECT else 1


def part_size(tenants: int, per_part: int, lanes: int = 1) -> int:
    """Tenants per part: at most `per_part`, and small enough for one part per lane when each still
    holds `MIN_TENANTS_PER_PART`."""
    parts = max(-(-tenants // per_part), min(lanes, tenants // MIN_TENANTS_PER_PART), 1)
    return max(1, -(-tenants // parts))


class BodyError(ValueError):
    """A part of the input that cannot be serialised as JSON (a value the input builder failed to convert)."""


class Bodies(Sequence[bytes]):
    """The request bodies (`{"input": ...}` as JSON), each serialised only when it is sent.

    All at once they were ~150 MB more at the check's peak at 100,000 tenants, held while the first
    parts were still being evaluated. Thread-safe: lanes serialise their own parts.
    """

    def __init__(self, parts: Sequence[Mapping[str, Any]]) -> None:
        self._parts = parts
        self._lock = threading.Lock()
        self.seconds = 0.0  # spent serialising, summed over every body served so far

    def __len__(self) -> int:
        return len(self._parts)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        started = time.perf_counter()
        try:
            body = orjson.dumps({"input": self._parts[index]})
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise BodyError(str(exc)) from exc
        with self._lock:
            self.seconds += time.perf_counter() - started
        return body


def bodies(
    document: Mapping[str, Any], partition: Partition, per_part: int | None = None, *, lanes: int = 1
) -> Bodies:
    """The request bodies for `document`, cut as `partition` says (serialised when each is read), and in at
    least one part per lane when the fleet is big enough.

    A part takes whole projects until it holds `per_part` tenants or more: about `per_part`, more by up to
    a project less one (at 100,000 tenants in projects of 1,000, parts of 2,000 for a `per_part` of 1,250).
    """
    tenants: Mapping[str, Any] = document.get("tenants") or {}
    per_part = part_size(len(tenants), per_part or TENANTS_PER_PART, lanes)
    if partition is Partition.FLEET or len(tenants) <= per_part:
        return Bodies([document])
    of_project: dict[str, list[str]] = {name: [] for name in document.get("projects") or {}}
    for key, tenant in tenants.items():
        of_project.setdefault(tenant["project"], []).append(key)
    groups: list[list[str]] = [[]]
    size = 0
    for project in sorted(of_project):  # whole projects, in a stable order, until a part is full
        if size >= per_part:
            groups.append([])
            size = 0
        groups[-1].append(project)
        size += len(of_project[project])
    shared = {key: value for key, value in document.items() if key not in ("projects", "tenants")}
    projects: Mapping[str, Any] = document.get("projects") or {}
    parts: list[Mapping[str, Any]] = []
    for group in groups:  # shallow: a part's values are the document's own
        part = dict(shared)
        part["projects"] = {name: projects[name] for name in group if name in projects}
        part["tenants"] = {key: tenants[key] for name in group for key in of_project[name]}
        parts.append(part)
    return Bodies(parts)


def merge(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One response body from the parts': every set of the result united (each entry once), metrics summed.

    A part whose result is not an object is returned as it is: `evaluate.parse` refuses it.
    """
    if len(answers) == 1:
        return dict(answers[0])
    result: dict[str, Any] = {}
    seen: dict[str, set[bytes]] = {}
    metrics: dict[str, float] = {}
    for answer in answers:
        part = answer.get("result")
        if not isinstance(part, dict):
            return dict(answer)
        for name, value in part.items():
            if not isinstance(value, list):
                result.setdefault(name, value)  # a set is a list in JSON; anything else: the first part's
                continue
            into = result.setdefault(name, [])
            if not isinstance(into, list):
                continue
            known = seen.setdefault(name, set())
            for entry in value:
                key = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
                if key not in known:
                    known.add(key)
                    into.append(entry)
        for name, amount in (answer.get("metrics") or {}).items():
            if isinstance(amount, int | float):
                metrics[name] = metrics.get(name, 0) + amount
    body: dict[str, Any] = {"result": result}
    if metrics:
        body["metrics"] = metrics
    return body
