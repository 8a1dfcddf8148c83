"""The checks every apply passes before any resource is registered: policy (fail closed) and deletion guards.

Both are injected wherever they are used (`Gate`, `Guard`), so the Pulumi program and the orchestration are
tested here with stand-ins, and run with the real ones by default:

- `policy_gate` evaluates the repository's own `policies/` with OPA. A deny refuses (exit 1); a policy
  that does not compile, an OPA that cannot be reached or started, a missing `policies/` folder are
  errors (exit 2). Never a pass.
- `deletion_guard` compares what a stack last applied with what it is about to apply: the plan's guard
  function (`vfleet.plan.guards.check_cluster`, same signature as `Guard`), so plan and apply refuse the
  same changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from vfleet import compile as compiler
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding, Findings, Location, error
from vfleet.desired import DesiredState
from vfleet.load import POLICIES_DIR
from vfleet.repo.tree import Tree

Gate = Callable[[compiler.Compiled], Findings]

OVERRIDE_ENV = "VFLEET_OVERRIDE_GUARD"  # the reason given with --override-guard, for a bare `pulumi up`


class Guard(Protocol):
    """A deletion guard for one stack: DENY findings for every guard the change trips.

    `base` is what the stack last applied (None: nothing known), `head` what it is about to apply (None:
    the cluster is being removed or destroyed). `override` is the reason an operator gave to let the
    overridable guards pass; guards that cannot be overridden (deleting a protected tenant) still deny.
    """

    def __call__(
        self, cluster: str, base: DesiredState | None, head: DesiredState | None, *, override: str | None
    ) -> Sequence[Finding]: ...


class Refused(VfleetError):
    """Policy or a deletion guard refused the change (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, findings: Findings) -> None:
        super().__init__(message)
        self.findings = findings


class Broken(VfleetError):
    """The fleet does not compile, or the policy gate could not give a verdict (exit 2)."""

    def __init__(self, message: str, findings: Findings) -> None:
        super().__init__(message)
        self.findings = findings


def policy_gate(compiled: compiler.Compiled, env: Mapping[str, str] = os.environ) -> Findings:
    """The policy verdicts on a compiled fleet as findings; evaluation failures are ERROR findings."""
    from vfleet.policy import gate as policy

    # The policies of the tree that was compiled (the work tree, or the revision being applied).
    return policy.policy_findings(compiled, compiled.tree, env=env).findings


def enforce(compiled: compiler.Compiled, gate: Gate) -> Findings:
    """Raise unless the fleet compiles and the gate lets it through; the findings (warnings) otherwise."""
    if not compiled.ok:
        raise Broken(_summary("the fleet does not compile", compiled.findings.errors), compiled.findings)
    try:
        found = gate(compiled)
    except VfleetError as exc:  # a gate that raises instead of reporting still fails closed
        found = Findings.of([error("policy.error", str(exc), Location(POLICIES_DIR))])
    if found.errors:
        raise Broken(_summary("the policy gate could not give a verdict (fail closed)", found.errors), found)
    if found.denies:
        raise Refused(_summary("refused by policy", found.denies), found)
    return found


def _summary(what: str, findings: Sequence[Finding]) -> str:
    shown = "; ".join(f"{f.location or f.subject or ''}: {f.message}".lstrip(": ") for f in findings[:5])
    more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
    return f"{what}: {shown}{more}"


def deletion_guard(tree: Tree | None = None) -> Guard:
    """The plan's deletion guards: one implementation for plan and apply.

    With the limits of `guards:` in the applied tree's vfleet.yaml (a plan reads them from its base
    revision, so a change cannot loosen its own guards at review; by the time it is applied that setting
    has been reviewed), or the defaults without a tree.
    """
    from vfleet.plan import guards

    config = guards.read_config(tree)[0] if tree is not None else guards.GuardConfig()
    return guards.configured(config)
