"""The policy gate: the resolved fleet checked against Rego policies by a real OPA server.

input     Fleet + params + placement + rendered values -> one policy input document
policyset the policies/ folder as loaded, its data document, and PolicyError
server    an OPA server with a policy set loaded: local processes (local), or a shared one
client    the OPA client the lanes talk through
evaluate  one request for the whole fleet -> verdicts -> Findings (file:line of each subject)
gate      the commands as library calls: check, impact
opatest   `opa test policies/`: each test's outcome, and coverage per rule

The names below are imported when first used: the OPA client pulls in an HTTP stack (~50 ms) that a
command which only names `URL_ENV` (`vfleet plan --no-policy`) never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vfleet.policy.evaluate import Evaluation, Verdict
    from vfleet.policy.gate import (
        Change,
        CheckReport,
        ImpactReport,
        VerdictChange,
        check,
        impact,
        input_for,
        policy_findings,
    )
    from vfleet.policy.input import PolicyInput, build
    from vfleet.policy.opatest import Coverage, RuleCoverage, TestReport, TestResult, run_tests
    from vfleet.policy.policyset import PolicyError, PolicySet
    from vfleet.policy.server import PolicyServer, serve

URL_ENV = "VFLEET_OPA_URL"  # an OPA server to use instead of starting one (vfleet.policy.server)

_HOMES = {
    "Evaluation": "evaluate", "Verdict": "evaluate",
    "Change": "gate", "CheckReport": "gate", "ImpactReport": "gate", "VerdictChange": "gate", "check": "gate",
    "impact": "gate", "input_for": "gate", "policy_findings": "gate",
    "PolicyInput": "input", "build": "input",
    "Coverage": "opatest", "RuleCoverage": "opatest", "TestReport": "opatest", "TestResult": "opatest",
    "run_tests": "opatest",
    "PolicyError": "policyset", "PolicySet": "policyset",
    "PolicyServer": "server", "serve": "server",
}

__all__ = [
    "URL_ENV",
    "Change",
    "CheckReport",
    "Coverage",
    "Evaluation",
    "ImpactReport",
    "PolicyError",
    "PolicyInput",
    "PolicyServer",
    "PolicySet",
    "RuleCoverage",
    "TestReport",
    "TestResult",
    "Verdict",
    "VerdictChange",
    "build",
    "check",
    "impact",
    "input_for",
    "policy_findings",
    "run_tests",
    "serve",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vfleet.policy.{home}"), name)
    globals()[name] = value
    return value
