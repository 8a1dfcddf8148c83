"""Policy in the plan: the head's findings, each marked new / existing / resolved against the base.

Each side is judged by its own `policies/` (what the base reports today, what the head will report), with
the real OPA of `vfleet.policy`. The policy gate fails closed: an evaluation that gives no verdict on the
head is an ERROR (the plan exits 2). The base is only the reference for marking: when it cannot be judged
(no `policies/` yet, or it does not compile), every head finding is new and the plan says why.

Verdicts are cached per side content key (the key covers `policies/`), so a base judged once — by an
earlier plan whose head it was — is not judged again; a side judged for the first time reuses the
verdicts of its unchanged projects (vfleet.policy.verdicts).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import orjson

from vfleet import compile as compiler
from vfleet.core import caches
from vfleet.core.findings import Finding, Findings, Severity
from vfleet.load import POLICIES_DIR
from vfleet.plan.changes import PolicyFinding, PolicyResult, PolicyStatus
from vfleet.plan.index import Cache, Index, finding_from_json
from vfleet.plan.sources import Source

_KIND = "policy"


def judge(root: Path, source: Source, cache: Cache | None, *, opa_url: str | None,
          env: Mapping[str, str] = os.environ) -> Findings:
    """The policy findings of one side (ERROR findings when no verdict could be given)."""
    if cache is not None:
        data = cache.get(source.key, _KIND)
        if data is not None:
            return Findings.of(finding_from_json(f) for f in orjson.loads(data))
    from vfleet.policy import policy_findings
    from vfleet.policy.verdicts import VerdictCache

    compiled = compiler.compile_fleet(root, source.rev, cache=compiler.parse_cache(root, env), env=env)
    if not compiled.ok:
        return Findings.of(compiled.findings.errors)
    # A head one tenant away from a base judged before: OPA is asked about that tenant's project only.
    verdicts = VerdictCache.at(caches.cache_dir(env)) if cache is not None else None
    found = policy_findings(compiled, compiled.tree, opa_url=opa_url, env=env, verdicts=verdicts).findings
    if cache is not None and not found.errors:
        cache.put(source.key, orjson.dumps([f.to_json() for f in found]), _KIND)
    return found


def _identity(f: Finding) -> tuple[str, str, str]:
    return (f.severity.value, f.code, f.subject or "")


def evaluate(root: Path, base: Source, head: Source, head_index: Index, base_index: Index,
             cache: Cache | None, *, opa_url: str | None, env: Mapping[str, str] = os.environ) -> PolicyResult:
    after = judge(root, head, cache, opa_url=opa_url, env=env)
    if after.errors:
        return PolicyResult(True, (), Findings.of(after.errors), "the policy gate gave no verdict on the head")
    note = ""
    if not any(p.startswith(POLICIES_DIR + "/") for p in base.entries):
        before: Findings = Findings()
        note = f"the base has no {POLICIES_DIR}/: every finding is new"
    else:
        before = judge(root, base, cache, opa_url=opa_url, env=env)
        if before.errors:
            note = "the base could not be judged (" + before.errors[0].message.split("\n")[0][:200] + \
                "): every finding is new"
            before = Findings()
    known = Counter(_identity(f) for f in before)
    marked: list[PolicyFinding] = []
    for f in after:
        key = _identity(f)
        status = PolicyStatus.EXISTING if known[key] > 0 else PolicyStatus.NEW
        if known[key] > 0:
            known[key] -= 1
        marked.append(PolicyFinding(f, status, _cluster(f, head_index)))
    for f in before:
        key = _identity(f)
        if known[key] > 0:
            known[key] -= 1
            marked.append(PolicyFinding(f, PolicyStatus.RESOLVED, _cluster(f, base_index)))
    order = {PolicyStatus.NEW: 0, PolicyStatus.EXISTING: 1, PolicyStatus.RESOLVED: 2}
    marked.sort(key=lambda p: (p.finding.severity is not Severity.DENY, order[p.status], p.finding.sort_key()))
    return PolicyResult(True, tuple(marked), Findings(), note)


def _cluster(f: Finding, index: Index) -> str | None:
    subject = f.subject or ""
    if subject.startswith("tenant:"):
        t = index.tenants.get(subject.removeprefix("tenant:"))
        return t.cluster if t else None
    if subject.startswith("cluster:"):
        return subject.removeprefix("cluster:")
    return None
