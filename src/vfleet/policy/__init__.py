"""The policy gate: the resolved fleet checked against Rego policies by a real OPA server.

input     Fleet + params + placement + rendered values -> one policy input document
server    an OPA server with a policy set loaded (started locally, or a shared one)
evaluate  one request for the whole fleet -> verdicts -> Findings (file:line of each subject)
gate      the commands as library calls: check, impact
opatest   `opa test policies/`: each test's outcome, and coverage per rule
"""

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
from vfleet.policy.server import URL_ENV, Engine, PolicyError, PolicySet, serve

__all__ = [
    "URL_ENV",
    "Change",
    "CheckReport",
    "Coverage",
    "Engine",
    "Evaluation",
    "ImpactReport",
    "PolicyError",
    "PolicyInput",
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
