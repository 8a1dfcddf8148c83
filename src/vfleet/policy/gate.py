"""The policy gate as library calls, one per command: `check`, `impact` (and `opatest.run_tests`).

Each returns data (findings, changes, test results) and never prints. Every way the gate can fail to
give a verdict — OPA missing, unreachable, a policy that does not compile, an evaluation error — ends
up as an ERROR finding (exit 2), never as a pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from vfleet import compile as compiler
from vfleet import load, owners
from vfleet.core.findings import Finding, Findings, Location, Severity, error
from vfleet.load import POLICIES_DIR, ParseCache
from vfleet.model import Fleet
from vfleet.params import ResolvedParams
from vfleet.place import Placement
from vfleet.policy import evaluate as evaluation
from vfleet.policy import input as policy_input
from vfleet.policy import partition
from vfleet.policy.policyset import PolicyError, PolicySet
from vfleet.policy.server import PolicyServer, serve
from vfleet.policy.verdicts import VerdictCache
from vfleet.render import Rendered
from vfleet.repo.tree import Tree, TreeError, open_tree


def input_for(compiled: compiler.Compiled) -> policy_input.PolicyInput:
    """The policy input of a compiled fleet."""
    return policy_input.build(
        compiled.fleet,
        compiled.params,
        compiled.placement.clusters,
        compiled.rendered.tenants,
        revision=compiled.tree.revision,
    )


# --------------------------------------------------------------------------------------------- check


@dataclass(frozen=True)
class CheckReport:
    """`vfleet check`: the compile's findings and the policy verdicts, in one collection."""

    compiled: compiler.Compiled | None
    findings: Findings
    verdicts: tuple[evaluation.Verdict, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    requests: int = 0  # sent to OPA
    reused: int = 0  # projects answered by verdicts kept from earlier runs (vfleet.policy.verdicts)

    @property
    def exit_code(self) -> int:
        return self.findings.exit_code


def check(
    root: Path,
    rev: str | None = None,
    *,
    opa_url: str | None = None,
    cache: ParseCache | None = None,
    env: Mapping[str, str] = os.environ,
    verdicts: VerdictCache | None = None,
) -> CheckReport:
    """Compile the fleet at `root` (or Git revision `rev`) and evaluate its own policies/ against it.

    `verdicts`: verdicts kept from earlier runs, reused for the projects whose input is unchanged.

    Work overlaps on two threads (OPA is a separate process, so it gets a core of its own): the OPA
    server starts and compiles policies/ while the fleet compiles, and the one policy request goes out
    as soon as the fleet is rendered, so OPA parses and evaluates it while the compile's last stage
    (desired) still runs here. Findings are made from the answer back on this thread.
    """
    started = time.perf_counter()
    tree = open_tree(root, rev)
    timings: dict[str, float] = {}
    # Read here, not on the worker: a Git tree reads blobs through one `git cat-file` process, which
    # must not be shared between threads (the compile reads the same tree meanwhile).
    policies = _policies(tree)
    sent: list[tuple[policy_input.PolicyInput, Future[evaluation.Answer]]] = []
    # Leaving the block: first the pool (waits for a start or a request still under way), then the
    # stack (stops the server) — also when the compile raises.
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=2, thread_name_prefix="vfleet-opa") as pool:
        starting = pool.submit(_start_engine, stack, policies, opa_url, env, load.tenant_files(tree))

        def send(fleet: Fleet, resolved: ResolvedParams, placement: Placement, rendered: Rendered) -> None:
            built = time.perf_counter()
            document = policy_input.build(fleet, resolved, placement.clusters, rendered.tenants,
                                          revision=tree.revision)
            timings["policy-input"] = time.perf_counter() - built
            sent.append((document, pool.submit(_request, starting, document, verdicts)))

        compiled = compiler.compile_fleet(root, rev, cache=cache, env=env, tree=tree, on_rendered=send)
        timings["compile"] = time.perf_counter() - started - timings.get("policy-input", 0.0)
        if not sent:  # a compile that never got to render: ask now
            send(compiled.fleet, compiled.params, compiled.placement, compiled.rendered)
        document, pending = sent[0]
        waited = time.perf_counter()
        try:
            result = evaluation.answer(pending.result(), document)
        except PolicyError as exc:
            result = _failed(exc)
        timings["policy-wait"] = time.perf_counter() - waited  # what the compile's last stage did not hide
        timings["policy-eval"] = result.seconds  # serialising the input + the one request
        timings.update({f"policy-{name}": seconds for name, seconds in result.timings.items()})
    # Who may change what: the committed CODEOWNERS must be what the specs give (vfleet.owners).
    settings, config_findings = owners.read_settings(tree)
    ownership = [*config_findings, *owners.check(compiled.fleet, tree, settings)]
    return CheckReport(compiled, Findings.of([*compiled.findings, *ownership, *result.findings]), result.verdicts,
                       timings, result.parts, result.reused)


def _start_engine(
    stack: ExitStack, policies: PolicySet | PolicyError, opa_url: str | None, env: Mapping[str, str],
    tenants: int,
) -> PolicyServer:
    if isinstance(policies, PolicyError):
        raise policies
    lanes = partition.lanes_to_start(policies.config(partition.SETTING))
    return stack.enter_context(serve(policies, url=opa_url, env=env, lanes=lanes, tenants=tenants))


def _request(
    starting: Future[PolicyServer], document: policy_input.PolicyInput, verdicts: VerdictCache | None
) -> evaluation.Answer:
    return evaluation.request(starting.result(), document, cache=verdicts)


def policy_findings(
    compiled: compiler.Compiled,
    policies_from: Tree,
    *,
    document: policy_input.PolicyInput | None = None,
    opa_url: str | None = None,
    env: Mapping[str, str] = os.environ,
    timings: dict[str, float] | None = None,
    engine: PolicyServer | None = None,
    verdicts: VerdictCache | None = None,
) -> evaluation.Evaluation:
    """Evaluate the policies of `policies_from` against a compiled fleet; failures become ERROR findings.

    `engine`: a server that already has those policies loaded (else one is started and stopped here).
    `verdicts`: verdicts kept from earlier runs, reused for the projects whose input is unchanged.
    """
    timings = timings if timings is not None else {}
    try:
        with ExitStack() as stack:
            if engine is None:
                started = time.perf_counter()
                policies = PolicySet.from_tree(policies_from)
                lanes = partition.lanes_to_start(policies.config(partition.SETTING))
                engine = stack.enter_context(serve(policies, url=opa_url, env=env, lanes=lanes,
                                                   tenants=len(compiled.fleet.tenants)))
                timings["policy-server"] = time.perf_counter() - started
            if document is None:
                started = time.perf_counter()
                document = input_for(compiled)
                timings["policy-input"] = time.perf_counter() - started
            result = evaluation.evaluate(engine, document, cache=verdicts)
        timings["policy-eval"] = result.seconds  # serialising the input + the one request
        timings.update({f"policy-{name}": seconds for name, seconds in result.timings.items()})
        return result
    except PolicyError as exc:
        return _failed(exc)


def _failed(exc: PolicyError) -> evaluation.Evaluation:
    return evaluation.Evaluation((), Findings.of([error(exc.code, str(exc), Location(POLICIES_DIR))]))


# -------------------------------------------------------------------------------------------- impact


class Change(StrEnum):
    NEW_DENY = "new-deny"
    CLEARED_DENY = "cleared-deny"
    NEW_WARN = "new-warn"
    CLEARED_WARN = "cleared-warn"


@dataclass(frozen=True, slots=True)
class VerdictChange:
    """A subject whose verdict under one rule differs between the base and the head policies."""

    subject: str
    rule: str
    change: Change
    message: str  # the head's message (for a cleared verdict: the base's)
    location: Location | None

    def to_json(self) -> dict[str, Any]:
        loc = self.location
        return {
            "subject": self.subject,
            "rule": self.rule,
            "change": self.change.value,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
        }


@dataclass(frozen=True)
class ImpactReport:
    base: str  # where the base policies came from
    head: str
    changes: tuple[VerdictChange, ...]
    findings: Findings  # compile errors of the fleet, and errors evaluating either policy set

    @property
    def exit_code(self) -> int:
        """2 when either verdict could not be computed; otherwise 0 (an impact report only informs)."""
        return 2 if self.findings.errors else 0

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes if c.change is change)


def impact(
    root: Path,
    base: str,
    head: str | None = None,
    *,
    opa_url: str | None = None,
    cache: ParseCache | None = None,
    env: Mapping[str, str] = os.environ,
) -> ImpactReport:
    """Evaluate the base revision's policies and the head's policies against the SAME (head) fleet.

    `head` None means the work tree. Every (subject, rule) whose deny/warn verdict differs is listed.
    """
    compiled = compiler.compile_fleet(root, head, cache=cache, env=env)
    base_label = f"{POLICIES_DIR}/ of revision {base}"
    head_label = f"{POLICIES_DIR}/ of {compiled.tree.label}"
    try:
        base_tree = open_tree(compiled.root, base)
    except TreeError as exc:
        failed = error("policy.base", f"cannot read the base revision: {exc}", Location(POLICIES_DIR))
        return ImpactReport(base_label, head_label, (), Findings.of([*compiled.findings.errors, failed]))
    base_label = f"{POLICIES_DIR}/ of {base_tree.label}"
    document = input_for(compiled)
    # Both policy sets are read here (Git trees are read on one thread only), then served and asked
    # side by side: two OPA processes, one per core. Findings are made back on this thread.
    base_policies = _policies(base_tree) if base_tree.files(POLICIES_DIR) else None
    head_policies = _policies(compiled.tree)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="vfleet-opa") as pool:
        asked = [pool.submit(_ask, p, document, opa_url, env) if p is not None else None
                 for p in (base_policies, head_policies)]
        # The base without policies/ (the change introduces them): every verdict of the head is new.
        before, after = (_evaluation(a, document) if a is not None else evaluation.Evaluation((), Findings())
                         for a in asked)
    errors = [_labelled(f, "base") for f in before.findings.errors]
    errors += [_labelled(f, "head") for f in after.findings.errors]
    changes = () if errors else diff(before.verdicts, after.verdicts, document)
    return ImpactReport(base_label, head_label, changes, Findings.of([*compiled.findings.errors, *errors]))


def _policies(tree: Tree) -> PolicySet | PolicyError:
    try:
        return PolicySet.from_tree(tree)
    except PolicyError as exc:
        return exc


def _ask(
    policies: PolicySet | PolicyError, document: policy_input.PolicyInput, opa_url: str | None,
    env: Mapping[str, str],
) -> evaluation.Answer:
    if isinstance(policies, PolicyError):
        raise policies
    with serve(policies, url=opa_url, env=env) as engine:
        return evaluation.request(engine, document)


def _evaluation(asked: Future[evaluation.Answer], document: policy_input.PolicyInput) -> evaluation.Evaluation:
    try:
        return evaluation.answer(asked.result(), document)
    except PolicyError as exc:
        return _failed(exc)


def _labelled(finding: Finding, which: str) -> Finding:
    return Finding(
        finding.severity,
        finding.code,
        f"{which} policies: {finding.message}",
        finding.location,
        finding.subject,
    )


_BLOCKING = {
    Severity.DENY: (Change.NEW_DENY, Change.CLEARED_DENY),
    Severity.WARN: (Change.NEW_WARN, Change.CLEARED_WARN),
}


def diff(
    base: tuple[evaluation.Verdict, ...],
    head: tuple[evaluation.Verdict, ...],
    where: policy_input.PolicyInput,
) -> tuple[VerdictChange, ...]:
    """Verdicts keyed by (subject, rule, severity); a message that only changes wording is no change."""
    changes: list[VerdictChange] = []
    for severity, (new, cleared) in _BLOCKING.items():
        before = {(v.subject, v.rule): v for v in base if v.severity is severity}
        after = {(v.subject, v.rule): v for v in head if v.severity is severity}
        for key in sorted(after.keys() - before.keys()):
            v = after[key]
            changes.append(
                VerdictChange(v.subject, v.rule, new, v.message, where.location(v.subject, v.field))
            )
        for key in sorted(before.keys() - after.keys()):
            v = before[key]
            changes.append(
                VerdictChange(v.subject, v.rule, cleared, v.message, where.location(v.subject, v.field))
            )
    order = list(Change)
    changes.sort(key=lambda c: (c.subject, order.index(c.change), c.rule))
    return tuple(changes)
