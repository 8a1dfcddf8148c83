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

from vfleet.findings import Finding, Findings, Severity, error
from vfleet.policy import partition
from vfleet.policy.input import PolicyInput
from vfleet.policy.server import QUERY_RULE, ROOT, Engine, PolicyError
from vfleet.yamldoc import FieldPath

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
    timings: Mapping[str, float] = field(default_factory=dict)  # "serialise", "request" (seconds)
    parts: int = 1  # requests the input was cut into


def evaluate(engine: Engine, policy_input: PolicyInput, *, metrics: bool = False) -> Evaluation:
    """Evaluate the whole fleet. Raises `PolicyError` when OPA cannot answer."""
    return answer(request(engine, policy_input, metrics=metrics), policy_input)


@dataclass(frozen=True)
class Answer:
    """OPA's response body to the fleet query (the parts' merged), and what getting it took."""

    body: Mapping[str, Any]
    timings: Mapping[str, float]  # "serialise", "request" (seconds)
    parts: int = 1


def request(engine: Engine, policy_input: PolicyInput, *, metrics: bool = False) -> Answer:
    """Serialise the input and send it; no reading of the answer (safe on a worker thread)."""
    started = time.perf_counter()
    cut = partition.mode(engine.setting(partition.SETTING))
    if not isinstance(cut, partition.Partition):
        raise PolicyError("policy.config", f"policy configuration (data.{ROOT}.config): {cut}")
    bodies = partition.bodies(policy_input.document, cut)
    try:
        answers = engine.query_all(bodies, lanes=partition.lanes(), metrics=metrics)
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
                      opa.parts)


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
