"""Evaluate the policies against the fleet, and turn OPA's answer into `Finding`s.

One request for the whole fleet, or, when the policies declare it (vfleet.policy.partition), parts of
whole projects evaluated side by side and their answers merged.

The query is `data.vfleet.main` with the whole fleet as input (policies/main.rego): its `deny` and
`warn` sets hold entries `{rule, subject, message, field}`; `excepted` the violations a per-project
exception let through; `errors` mistakes in the policy configuration and unreadable rule results.
Each entry becomes a finding `policy.<rule>` at the file:line of its subject's spec (of `field` inside
it, when the rule names one).

Anything unexpected in the answer is an error finding, never a pass: an undefined `main`, an entry
without a subject, a subject vfleet does not know.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vfleet.core.findings import Finding, Findings, Severity, error
from vfleet.core.yamldoc import FieldPath
from vfleet.policy import partition
from vfleet.policy import verdicts as kept_verdicts
from vfleet.policy.input import PolicyInput
from vfleet.policy.policyset import ROOT, PolicyError
from vfleet.policy.server import QUERY_RULE, PolicyServer
from vfleet.policy.verdicts import VerdictCache

_SETS: tuple[tuple[str, Severity], ...] = (
    ("deny", Severity.DENY),
    ("warn", Severity.WARN),
    ("excepted", Severity.INFO),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One policy result: which rule said what about which subject, and how severe it is."""

    rule: str
    subject: str
    message: str
    severity: Severity  # DENY, WARN, or INFO for an excepted violation
    field: FieldPath = ()
    reason: str | None = None  # why an exception applies (excepted verdicts only)


@dataclass(frozen=True)
class Evaluation:
    verdicts: tuple[Verdict, ...]
    findings: Findings  # the verdicts as findings, plus errors about the answer itself
    seconds: float = 0.0  # wall time of serialising the input and of the request
    metrics: Mapping[str, Any] = field(default_factory=dict)  # OPA's own timers, when asked for
    timings: Mapping[str, float] = field(default_factory=dict)  # "serialise", "request", "cache" (seconds)
    parts: int = 1  # requests the input was cut into
    reused: int = 0  # projects answered by verdicts kept from an earlier run (vfleet.policy.verdicts)


def evaluate(
    engine: PolicyServer, policy_input: PolicyInput, *, metrics: bool = False, cache: VerdictCache | None = None
) -> Evaluation:
    """Evaluate the whole fleet. Raises `PolicyError` when OPA cannot answer."""
    return answer(request(engine, policy_input, metrics=metrics, cache=cache), policy_input)


@dataclass(frozen=True)
class Answer:
    """OPA's response body to the fleet query (the parts' merged), and what getting it took."""

    body: Mapping[str, Any]
    timings: Mapping[str, float]  # "serialise", "request", and "cache" when verdicts were kept (seconds)
    parts: int = 1  # requests sent
    reused: int = 0  # projects (or, for one request, the whole fleet) answered by verdicts kept from before


def request(
    engine: PolicyServer, policy_input: PolicyInput, *, metrics: bool = False, cache: VerdictCache | None = None
) -> Answer:
    """Serialise the input and send it; no reading of the answer (safe on a worker thread).

    With `cache`, verdicts of units whose input is unchanged are reused and only the others are sent
    (vfleet.policy.verdicts); the answer is the same as without it.
    """
    cut = partition.mode(engine.setting(partition.SETTING))
    if not isinstance(cut, partition.Partition):
        raise PolicyError("policy.config", f"policy configuration (data.{ROOT}.config): {cut}")
    if cache is None or not engine.fingerprint:
        return _send(engine, policy_input.document, cut, metrics)
    started = time.perf_counter()
    units = kept_verdicts.Units.of(policy_input.document, cut)
    store = cache.read(engine.fingerprint, units)
    kept = {name: store.projects[digest] for name, digest in units.projects.items() if digest in store.projects}
    if store.shared is not None and len(kept) == len(units.projects):  # nothing changed that a verdict reads
        body = {"result": kept_verdicts.result_of([store.shared, *kept.values()])}
        return Answer(body, {"cache": time.perf_counter() - started}, 0, max(1, len(kept)))
    asked = [name for name in units.projects if name not in kept]
    document = kept_verdicts.subset(policy_input.document, asked) if kept else policy_input.document
    looked_up = time.perf_counter() - started
    fresh = _send(engine, document, cut, metrics)
    started = time.perf_counter()
    body = dict(fresh.body)
    result = body.get("result")
    by_unit = kept_verdicts.split(result, units) if isinstance(result, dict) else None
    if by_unit is not None:
        shared, of_project = by_unit
        store.shared = shared
        for name in asked:
            store.projects[units.projects[name]] = of_project.get(name, {})
        cache.write(engine.fingerprint, units, store)
        if kept:
            body["result"] = kept_verdicts.result_of([shared, *of_project.values(), *kept.values()])
    elif kept:  # an answer that is not clean is reported as it came, with the rest of the fleet asked too
        return _send(engine, policy_input.document, cut, metrics)
    timings = {**fresh.timings, "cache": looked_up + time.perf_counter() - started}
    return Answer(body, timings, fresh.parts, len(kept))


def _send(engine: PolicyServer, document: Mapping[str, Any], cut: partition.Partition, metrics: bool) -> Answer:
    started = time.perf_counter()
    lanes = partition.lanes()
    bodies = partition.bodies(document, cut, lanes=lanes if engine.more is not None else 1)
    try:
        answers = engine.query_all(bodies, lanes=lanes, metrics=metrics)
    except partition.BodyError as exc:  # a value the input builder failed to convert
        raise PolicyError("policy.input", f"the policy input cannot be serialised as JSON: {exc}") from exc
    sent = time.perf_counter() - started
    return Answer(partition.merge(answers), {"serialise": bodies.seconds, "request": sent - bodies.seconds},
                  len(bodies))


def answer(opa: Answer, policy_input: PolicyInput) -> Evaluation:
    """OPA's answer -> verdicts and findings at the file:line of each subject."""
    verdicts, problems = parse(opa.body, policy_input)
    findings = [_finding(v, policy_input) for v in verdicts] + problems
    seconds = sum(opa.timings.values())
    return Evaluation(tuple(verdicts), Findings.of(findings), seconds, opa.body.get("metrics") or {}, opa.timings,
                      opa.parts, opa.reused)


def parse(body: Mapping[str, Any], policy_input: PolicyInput) -> tuple[list[Verdict], list[Finding]]:
    """OPA's response body -> verdicts, and error findings for everything that is not a clean answer."""
    result = body.get("result")
    if not isinstance(result, dict):
        raise PolicyError(
            "policy.missing",
            f"data.{ROOT}.{QUERY_RULE} is undefined: the policies define no package {ROOT}.{QUERY_RULE} with "
            f"deny/warn sets. Keep policies/main.rego of the guardrail library (see docs/policy-input.md).",
        )
    problems = [_problem(entry) for entry in _entries(result.get("errors", []))]
    verdicts: list[Verdict] = []
    for name, severity in _SETS:
        entries = result.get(name, [])
        if not isinstance(entries, list):
            problems.append(
                error("policy.result", f"data.{ROOT}.{QUERY_RULE}.{name} is not a set of entries")
            )
            continue
        for entry in entries:
            verdict = _verdict(entry, severity)
            if verdict is None:
                problems.append(
                    error(
                        "policy.result",
                        f"malformed {name} entry {entry!r}: every entry needs "
                        "string 'rule', 'subject' and 'message' (and optionally a 'field' path)",
                    )
                )
            elif verdict.subject not in policy_input.sources:
                problems.append(
                    error(
                        "policy.result",
                        f"rule {verdict.rule!r} names an unknown subject "
                        f"{verdict.subject!r}; subjects are spelled as in the input ('subject')",
                    )
                )
            else:
                verdicts.append(verdict)
    verdicts.sort(key=lambda v: (v.subject, v.rule, v.severity, v.message))
    return verdicts, problems


def _entries(values: Any) -> Iterable[Any]:
    return values if isinstance(values, list) else [values]


def _problem(entry: Any) -> Finding:
    """An entry of main's `errors`: {kind: config | result, message}."""
    kind = entry.get("kind") if isinstance(entry, dict) else None
    message = entry.get("message") if isinstance(entry, dict) else None
    if kind == "config":
        return error("policy.config", f"policy configuration (data.{ROOT}.config): {message}")
    return error("policy.result", str(message if message is not None else entry))


def _verdict(entry: Any, severity: Severity) -> Verdict | None:
    if not isinstance(entry, dict):
        return None
    rule, subject, message = entry.get("rule"), entry.get("subject"), entry.get("message")
    path = entry.get("field") or []
    if not (isinstance(rule, str) and rule and isinstance(subject, str) and isinstance(message, str)):
        return None
    if not isinstance(path, list) or not all(
        isinstance(p, str | int) and not isinstance(p, bool) for p in path
    ):
        return None
    reason = entry.get("reason") if severity is Severity.INFO else None
    return Verdict(rule, subject, message, severity, tuple(path), str(reason) if reason is not None else None)


def _finding(verdict: Verdict, policy_input: PolicyInput) -> Finding:
    message = verdict.message
    if verdict.severity is Severity.INFO:
        message = f"{message} (excepted: {verdict.reason or 'no reason given'})"
    location = policy_input.location(verdict.subject, verdict.field)
    return Finding(verdict.severity, f"policy.{verdict.rule}", message, location, verdict.subject)
