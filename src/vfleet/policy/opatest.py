"""`vfleet policy test`: the policies' unit tests (`opa test policies/`), and how well they cover the rules.

Two runs of the pinned OPA: `opa test --format=json` for each test's outcome, then `opa test --coverage`
for the lines of every module the tests executed. Coverage is judged per rule, the way reviewers
think about it: every rule id must have at least one passing test that shows it allowing and one that
shows it denying. Tests say which by their name, `test_<rule>_allows…` / `test_<rule>_denies…` (the
rule id with '-' written '_'; docs/policy-input.md), and every line of the modules that define rules
(`violation contains …`) must have run. The rule ids are those `policies/` knows: the keys of the
configured severities (data.vfleet.config.severity) and every literal id passed to `lib.violation`.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vfleet import toolchain
from vfleet.core.findings import Findings, Location, error
from vfleet.load import POLICIES_DIR
from vfleet.policy.policyset import PolicyError, PolicySet
from vfleet.policy.policyset import data_document as policy_data
from vfleet.repo.tree import open_tree

_RULE_ID = re.compile(r'lib\.violation\(\s*"([^"]+)"')
_DEFINES_RULES = re.compile(r"^violation\s+contains\b", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class TestResult:
    __test__ = False  # not a pytest test class, despite the name

    name: str  # data.<package>.<test>
    file: str
    line: int
    passed: bool
    error: str | None = None
    seconds: float = 0.0

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    """The passing tests that show one rule allowing and denying."""

    rule: str
    allows: tuple[str, ...]
    denies: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return bool(self.allows and self.denies)


@dataclass(frozen=True, slots=True)
class Uncovered:
    """Lines of a policy module that no test executed."""

    file: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.file}:{self.start}" + (f"-{self.end}" if self.end != self.start else "")


@dataclass(frozen=True)
class Coverage:
    percent: float  # of all policy lines (tests included), as `opa test --coverage` counts them
    rules: tuple[RuleCoverage, ...]
    uncovered: tuple[Uncovered, ...]  # in modules that define rules: these fail the run
    uncovered_elsewhere: tuple[Uncovered, ...]  # helpers (lib.rego, main.rego): reported only

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.rules) and not self.uncovered


@dataclass(frozen=True)
class TestReport:
    __test__ = False

    results: tuple[TestResult, ...]
    findings: Findings  # ERROR when the tests could not run (OPA missing, policies do not compile)
    output: str = ""  # OPA's own text, for --verbose and for errors
    coverage: Coverage | None = None  # None when the tests did not all pass

    @property
    def failed(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def exit_code(self) -> int:
        if self.findings.errors:
            return 2
        if self.failed or not self.results:
            return 1
        return 0 if self.coverage is not None and self.coverage.complete else 1


def run_tests(root: Path, *, timeout: float = 600.0) -> TestReport:
    """`opa test <root>/policies` with the pinned OPA: each test's outcome with its file:line, and coverage."""
    directory = root / POLICIES_DIR
    if not directory.is_dir():
        return TestReport((), Findings.of([error("policy.missing", f"{directory}: no policies to test")]))
    try:
        opa = toolchain.binary("opa")
    except toolchain.ToolMissing as exc:
        return TestReport((), Findings.of([error("policy.opa-missing", f"cannot run the policy tests: {exc}")]))
    try:
        done = _opa_test(opa, root, timeout)
        raw = _json(done.stdout)
        if not isinstance(raw, list):
            text = (done.stderr or done.stdout).decode(errors="replace").strip()
            failed = error("policy.compile", "the policies do not compile, so no test ran "
                           f"(`opa test {POLICIES_DIR}` exit {done.returncode}):\n{text}", Location(POLICIES_DIR))
            return TestReport((), Findings.of([failed]), text)
        results = tuple(sorted((_test_result(r) for r in raw), key=lambda r: (r.file, r.line)))
        coverage = None
        if results and all(r.passed for r in results):
            coverage = _coverage(_json(_opa_test(opa, root, timeout, "--coverage").stdout), results, root)
    except PolicyError as exc:
        return TestReport((), Findings.of([error(exc.code, str(exc), Location(POLICIES_DIR))]))
    return TestReport(results, Findings(), done.stderr.decode(errors="replace"), coverage)


def _opa_test(opa: Path, root: Path, timeout: float, *extra: str) -> subprocess.CompletedProcess[bytes]:
    command = [str(opa), "test", "--format=json", *extra, POLICIES_DIR]
    try:
        return subprocess.run(command, cwd=root, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PolicyError("policy.test", f"`{' '.join(command)}` failed to run: {exc}") from exc


def _json(stdout: bytes) -> Any:
    try:
        return orjson.loads(stdout) if stdout.strip() else None
    except orjson.JSONDecodeError:
        return None


def _test_result(raw: dict[str, Any]) -> TestResult:
    loc = raw.get("location") or {}
    failure = raw.get("error")
    message = None
    if failure is not None:
        message = failure.get("message", str(failure)) if isinstance(failure, dict) else str(failure)
    return TestResult(
        name=f"{raw.get('package', '')}.{raw.get('name', '')}",
        file=str(loc.get("file", "")),
        line=int(loc.get("row", 0)),
        passed=not raw.get("fail") and failure is None,
        error=message,
        seconds=float(raw.get("duration", 0)) / 1e9,
    )


# -------------------------------------------------------------------------------------------- coverage


def _coverage(report: Any, results: tuple[TestResult, ...], root: Path) -> Coverage:
    if not isinstance(report, dict) or not isinstance(report.get("files"), dict):
        raise PolicyError("policy.test", "`opa test --coverage` gave no coverage report")
    policies = PolicySet.from_tree(open_tree(root))
    rule_modules = {f"{POLICIES_DIR}/{path}" for path, text in policies.modules.items() if _DEFINES_RULES.search(text)}
    uncovered: list[Uncovered] = []
    elsewhere: list[Uncovered] = []
    for file, lines in sorted(report["files"].items()):
        if file.endswith("_test.rego"):
            continue
        for span in lines.get("not_covered") or []:
            gap = Uncovered(file, int(span["start"]["row"]), int(span["end"]["row"]))
            (uncovered if file in rule_modules else elsewhere).append(gap)
    names = [r.short_name for r in results if r.passed]
    rules = []
    for rule in sorted(_rule_ids(policies)):
        prefix = "test_" + rule.replace("-", "_") + "_"
        rules.append(RuleCoverage(
            rule,
            tuple(n for n in names if _named(n, prefix, "allows")),
            tuple(n for n in names if _named(n, prefix, "denies")),
        ))
    return Coverage(float(report.get("coverage", 0.0)), tuple(rules), _merged(uncovered), _merged(elsewhere))


def _named(test: str, prefix: str, verb: str) -> bool:
    rest = test.removeprefix(prefix)
    return rest != test and (rest == verb or rest.startswith(verb + "_"))


def _rule_ids(policies: PolicySet) -> set[str]:
    config = policy_data(policies).get("config", {})
    severity = config.get("severity", {}) if isinstance(config, dict) else {}
    ids = set(severity) if isinstance(severity, dict) else set()
    for text in policies.modules.values():
        ids.update(_RULE_ID.findall(text))
    return ids


def _merged(gaps: list[Uncovered]) -> tuple[Uncovered, ...]:
    """OPA reports spans per expression; adjacent lines of one file read better as one range."""
    out: list[Uncovered] = []
    for gap in sorted(gaps, key=lambda g: (g.file, g.start)):
        if out and out[-1].file == gap.file and gap.start <= out[-1].end + 1:
            out[-1] = Uncovered(gap.file, out[-1].start, max(out[-1].end, gap.end))
        else:
            out.append(gap)
    return tuple(out)
