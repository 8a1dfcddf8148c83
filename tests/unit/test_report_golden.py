"""One golden file per entry of the report registry (`vfleet.report.ENTRIES`): every (what, format) a
command can print is pinned byte for byte, tables included (rendered at 100 columns, no colour).

The results are built by hand with one of each thing a renderer shows (a refusal, an orphan, a folded
reason ...), except those of the compile commands, which come from compiling fleetkit's small fleet.
`VFLEET_UPDATE_GOLDEN=1` rewrites the files; review the diff as you would a change of the output.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from fleetkit import write_fleet
from plankit import fixed_plan
from vfleet import api, report
from vfleet.apply.decide import Operation, Result, StackResult
from vfleet.apply.orchestrate import Report as ApplyReport
from vfleet.apply.project import StackFiles
from vfleet.apply.records import Record
from vfleet.apply.shards import Shard
from vfleet.compile import Compiled
from vfleet.core.findings import Finding, Findings, Location, Severity
from vfleet.lifecycle.decide import Action
from vfleet.lifecycle.propose import Proposal
from vfleet.lifecycle.run import ClusterResult, TenantResult
from vfleet.lifecycle.run import Report as LifecycleReport
from vfleet.live.drift import Change, Drift, DriftReport, FieldChange
from vfleet.live.status import ClusterStatus, Deployed, FleetStatus, Phase, TenantStatus
from vfleet.plan.changes import GuardHit
from vfleet.plan.vanished import Reason, Vanished
from vfleet.policy import Change as VerdictKind
from vfleet.policy.gate import CheckReport, ImpactReport, VerdictChange
from vfleet.policy.opatest import Coverage, RuleCoverage, TestReport, TestResult, Uncovered
from vfleet.reach import Target
from vfleet.report import Format
from vfleet.report.policy import TestListing

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "report"
EXTENSION = {Format.table: "txt", Format.json: "json", Format.markdown: "md", Format.html: "html"}

WARN = Finding(Severity.WARN, "policy.dev-sleep", "dev tenant never sleeps",
               Location("fleet/projects/alpha/tenants/web.yaml", 3, "spec.sleep"), "tenant:alpha/web")
UNREADABLE = Finding(Severity.ERROR, "live.unreachable", "cluster us-1: connection refused (https://127.0.0.1:1)",
                     Location("fleet/clusters/us-1.yaml", 1), "cluster:us-1")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    root = write_fleet(tmp_path_factory.mktemp("fleet"))
    api.place(root, no_cache=True)  # the lock records every tenant: the compile reports show a clean fleet
    return api.validate(root, no_cache=True)


def drift() -> DriftReport:
    where = Location("fleet/projects/alpha/tenants/web.yaml", 1)
    return DriftReport((
        Drift("eu-1", Change.CHANGED, "v1", "ResourceQuota", "vc-alpha-web", "vfleet-quota", "alpha/web", where,
              (FieldChange("spec.hard.pods", "changed", "50", "20"),
               FieldChange('metadata.labels["vfleet.dev/tenant"]', "added", None, "web"))),
        Drift("eu-1", Change.MISSING, "v1", "Namespace", None, "vc-alpha-api", "alpha/api", where),
        Drift("eu-1", Change.ORPHAN, "rbac.authorization.k8s.io/v1", "RoleBinding", "vc-alpha-web", "debug|all",
              "alpha/web", where),
    ), Findings.of([UNREADABLE]), ("eu-1", "us-1"), requests=7, dry_runs=2)


def status() -> FleetStatus:
    def tenant(name: str, phase: Phase, **kw: Any) -> TenantStatus:
        fields: dict[str, Any] = dict(
            key=f"alpha/{name}", project="alpha", name=name, cluster="eu-1", namespace=f"vc-alpha-{name}",
            in_fleet=True, template="basic", template_version="1.2.0", owner="alice", protect=False, sleep="",
            auto_delete="", desired_chart="0.35.3", desired_hash="ab" * 32, deployed=None, phase=phase, reason="",
            replicas=None, ready=None, last_apply=None)
        return TenantStatus(**(fields | kw))

    deployed = Deployed(3, "deployed", "0.35.2", "cd" * 32, "2026-11-30T10:00:00Z")
    tenants = (
        tenant("web", Phase.RUNNING, deployed=deployed, values_match=False, replicas=1, ready=1,
               sleep="after 2h idle", last_activity="2026-12-01T09:00:00Z", protect=True,
               last_apply={"result": "applied", "ended": "2026-11-30T10:00:05Z", "commit": "b" * 40}),
        tenant("batch", Phase.SLEEPING, deployed=replace(deployed, chart_version="0.35.3", values_hash="ab" * 32),
               values_match=True, spec_sleeping=False),
        tenant("api", Phase.FAILED, reason="helm: " + "upgrade failed: timed out waiting for the condition " * 6),
        tenant("new", Phase.NOT_DEPLOYED, owner=None, auto_delete="after 30d idle"),
    )
    clusters = (
        ClusterStatus("eu-1", True, "v1.35.4", 4, 3, 10, (), 9, 0.12,
                      {"result": "applied", "ended": "2026-11-30T10:00:05Z"}),
        ClusterStatus("us-1", False, None, 0, 0, None, ("connection refused",), 1, 0.01, None),
    )
    return FleetStatus("b" * 40, "2026-12-01T12:00:00Z", clusters, tenants, Findings.of([UNREADABLE]), 0.25)


def apply_report() -> ApplyReport:
    results = (
        StackResult("canary", 0, Result.APPLIED, {"create": 3, "update": 1, "same": 20}, "", ("eu-1/v1/Namespace/x",),
                    "2026-12-01T10:00:00Z", "2026-12-01T10:00:20Z", "targeted: 4 of 24 resources"),
        StackResult("eu-1", 1, Result.FAILED, {"update": 1}, "error: " + "the server rejected the update " * 20),
        StackResult("us-1", 1, Result.REFUSED, message="guard.max-deletes: would delete 12 of 20 tenants"),
        StackResult("us-2", 2, Result.NOT_STARTED, message="an earlier wave failed"),
        StackResult("ap-1", 2, Result.SKIPPED, message="desired state unchanged since the last successful apply"),
    )
    refusals = {"us-1": (Finding(Severity.ERROR, "guard.max-deletes", "would delete 12 of 20 tenants", None,
                                 "cluster:us-1"),)}
    vanished = (Vanished("eu-1", "alpha/old", Reason.DELETED, "deleted in Git", "fleet/projects/alpha/tenants/old.yaml",
                         False),)
    return ApplyReport(Operation.UP, results, Findings.of([WARN]), refusals, ("gone-1",), vanished, Shard(1, 2))


def history() -> tuple[Record, ...]:
    return (
        Record("eu-1", "up", "applied", "2026-12-01T10:00:00.123456+00:00", "2026-12-01T10:00:20+00:00", "b" * 40,
               True, "ci", "ab" * 32, 1, {"create": 2, "same": 9}, "", (), None, "targeted"),
        Record("us-1", "preview", "failed", "2026-11-30T09:00:00+00:00", "2026-11-30T09:00:03+00:00", None, False,
               "alice", None, 1, {}, "error: [x] " + "no such host " * 10),
    )


def lifecycle() -> LifecycleReport:
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    tenants = (
        TenantResult("alpha/web", "eu-1", "vc-alpha-web", "awake", Action.SLEEP, "idle for 2h10m (after 2h)",
                     ("scale statefulset/web to 0",), ("scale statefulset/web to 0", "annotate namespace")),
        TenantResult("alpha/api", "eu-1", "vc-alpha-api", "asleep", Action.WAKE, "cron 0 8 * * 1-5", (),
                     ("scale statefulset/api to 1",), error="patch refused: forbidden"),
        TenantResult("alpha/batch", "eu-1", "vc-alpha-batch", "awake", Action.NONE, "active 5m ago"),
    )
    clusters = (ClusterResult("eu-1", True, 12, 0.31, ()), ClusterResult("us-1", False, 1, 0.01, ("unreachable",)))
    proposals = (Proposal("alpha/old", "eu-1", ("idle for 31d (after 30d)",), False),
                 Proposal("alpha/keep", "eu-1", ("idle for 40d (after 30d)",), True),
                 Proposal("beta/x", "us-1", ("expired 2026-11-01",), False, "guard.max-deletes"))
    hits = (GuardHit("guard.max-deletes", "us-1", "would delete 1 of 1 tenants", "cluster:us-1", False),)
    files: dict[str, bytes | None] = {"fleet/projects/alpha/tenants/old.yaml": None}
    return LifecycleReport(now, False, "b" * 40, clusters, tenants, proposals, hits, "vfleet/lifecycle",
                           "c" * 40, files, Findings.of([UNREADABLE]), 0.4)


def policy_test() -> TestListing:
    results = (TestResult("data.vfleet.test_owner_allows_members", "policies/owner_test.rego", 4, True),
               TestResult("data.vfleet.test_owner_denies_strangers", "policies/owner_test.rego", 12, False,
                          "expected deny, got none"))
    coverage = Coverage(87.5, (RuleCoverage("owner", ("test_owner_allows_members",), ()),),
                        (Uncovered("policies/owner.rego", 7, 9),), (Uncovered("policies/lib.rego", 3, 3),))
    return TestListing(TestReport(results, Findings(), "", coverage), verbose=True)


def impact() -> ImpactReport:
    where = Location("fleet/projects/alpha/tenants/web.yaml", 2, "spec.owner")
    return ImpactReport("main", "work tree", (
        VerdictChange("tenant:alpha/web", "owner", VerdictKind.NEW_DENY, "owner mallory is not a member", where),
        VerdictChange("tenant:alpha/api", "sleep", VerdictKind.CLEARED_WARN, "dev tenant never sleeps", None),
    ), Findings())


def kubeconfig() -> api.KubeconfigResult:
    target = Target("alpha/web", "fleet/projects/alpha/tenants/web.yaml:1", "eu-1", "ingress",
                    "https://web.alpha.example.com", None, {"admin": {"groups": ["alpha-devs"], "users": []}})
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "alpha/web", "cluster": {
        "server": target.server}}], "contexts": [], "users": []}
    return api.KubeconfigResult(config, "apiVersion: v1\nkind: Config\n", (target,), False, Findings(),
                                ("note: not checked",))


# what -> its result (some need the compiled fleet)
RESULTS: dict[str, Callable[[Compiled], Any]] = {
    "validate": lambda c: c,
    "compile": lambda c: api.CompileResult(c, (Path("build/eu-1.json"), Path("build/us-1.json")), Path("build")),
    "place": lambda c: api.PlaceResult(c, True),
    "tenant": lambda c: api.TenantView(c, sorted(c.fleet.tenants)[0], Findings.of([WARN])),
    "check": lambda c: CheckReport(c, Findings.of([WARN]), (), {"compile": 0.5, "policy": 0.25}, 3, 1),
    "policy-test": lambda c: policy_test(),
    "policy-impact": lambda c: impact(),
    "plan": lambda c: fixed_plan(),
    "drift": lambda c: drift(),
    "status": lambda c: status(),
    "apply": lambda c: apply_report(),
    "history": lambda c: history(),
    "stacks": lambda c: StackFiles(Findings.of([WARN]), {"stacks/Pulumi.eu-1.yaml": "x"}, ("gone-1",)),
    "lifecycle": lambda c: lifecycle(),
    "platform": lambda c: c,
    "codeowners": lambda c: api.CodeownersResult(".github/CODEOWNERS", True, False, Findings.of([WARN])),
    "kubeconfig": lambda c: kubeconfig(),
}


def test_every_report_has_a_result_here() -> None:
    assert sorted({what for what, _ in report.ENTRIES}) == sorted(RESULTS)


def rendered(what: str, fmt: Format, result: Any) -> str:
    buffer = io.StringIO()
    out = Console(file=buffer, width=100, color_system=None, force_terminal=False, highlight=False, soft_wrap=False)
    report.render(what, fmt, result, out)
    return buffer.getvalue()


@pytest.mark.parametrize(("what", "fmt"), list(report.ENTRIES), ids=[f"{w}-{f}" for w, f in report.ENTRIES])
def test_golden(what: str, fmt: Format, compiled: Compiled) -> None:
    text = rendered(what, fmt, RESULTS[what](compiled))
    golden = GOLDEN / f"{what}.{EXTENSION[fmt]}"
    if os.environ.get("VFLEET_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"{golden} is missing (VFLEET_UPDATE_GOLDEN=1 writes it)"
    assert text == golden.read_text(encoding="utf-8"), f"{golden} differs (VFLEET_UPDATE_GOLDEN=1 rewrites it)"


def test_a_format_a_report_does_not_have_is_refused() -> None:
    with pytest.raises(report.UnknownReport, match="status has no markdown report"):
        report.renderer("status", Format.markdown)
    with pytest.raises(report.UnknownReport, match="no report named"):
        report.formats("nothing")
