"""Real Git histories of small fleets for the plan tests: write, place, commit, plan."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import git

from fleetkit import write_fleet
from vfleet import compile as compiler
from vfleet import place
from vfleet.plan import Options, Plan, plan


def tenant(name: str, *, cluster: str | None = "eu-1", cpu: str = "2", protect: bool = False,
           extra: str = "") -> str:
    """A tenant document of project alpha (template `shared` from the project's default)."""
    where = f"  cluster: {cluster}\n" if cluster else ""
    return (
        "apiVersion: vfleet.dev/v1alpha1\nkind: Tenant\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  owner: alice\n{where}  parameters: {{cpu: \"{cpu}\"}}\n  protect: {str(protect).lower()}\n"
        + extra
    )


class History:
    """A Git repository holding a fleet; every `commit()` places new tenants first (like `vfleet place`)."""

    def __init__(self, root: Path, files: Mapping[str, str | None] | None = None) -> None:
        self.root = root
        self.repo = git.Repo.init(root)
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "plan tests")
            config.set_value("user", "email", "plan@example.invalid")
        write_fleet(root, files)
        self.env = {"VFLEET_CACHE_DIR": str(root.parent / f"{root.name}-cache")}

    def write(self, rel: str, text: str | None) -> None:
        path = self.root / rel
        if text is None:
            path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    def place(self) -> None:
        compiled = compiler.compile_fleet(self.root, check_lock=False, env=self.env)
        assert not compiled.findings.errors, [f"{f.location}: {f.message}" for f in compiled.findings.errors]
        place.write_lock(self.root, compiled.placement)

    def commit(self, message: str = "change", *, place_first: bool = True) -> str:
        # Staged first, as a person would `git rm` a tenant before `vfleet place`: a file Git tracks that
        # the work tree lacks is an error of the work tree's compile (vfleet.load.layout).
        self.repo.git.add("-A")
        if place_first:
            self.place()
        self.repo.git.add("-A")
        self.repo.git.commit("-q", "--allow-empty", "-m", message)
        return self.repo.head.commit.hexsha

    def plan(self, base: str, head: str | None = None, **options: Any) -> Plan:
        options.setdefault("policy", False)
        return plan(self.root, base, head, Options(env=self.env, **options))


def resources(p: Plan, cluster: str) -> list[tuple[str, str, str]]:
    """(op, kind, name) of a cluster's resource changes, in plan order."""
    found = [c for c in p.clusters if c.cluster == cluster]
    return [(r.op.value, r.kind, r.name) for r in (found[0].resources if found else ())]


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON plan without what legitimately differs between an incremental and a full plan."""
    return {k: v for k, v in data.items() if k not in {"method", "timings", "fullCompileReason"}}


def fixed_plan() -> Plan:
    """A hand-built plan with one of everything (no Git: the commits and keys are fixed)."""
    from vfleet.core.findings import Finding, Findings, Location, Severity
    from vfleet.plan import (
        Aspect,
        ClusterPlan,
        FieldChange,
        GuardHit,
        Op,
        Plan,
        PolicyFinding,
        PolicyResult,
        PolicyStatus,
        ResourceChange,
        Side,
        TenantChange,
        TenantOp,
    )

    rid = "eu-1/{}/{}/vc-alpha-{}/{}"
    diff = ("--- base/vcluster.yaml", "+++ head/vcluster.yaml", "@@ -1,2 +1,2 @@", " controlPlane:",
            "-  version: 0.35.3 ```", "+  version: 0.36.0 ```")
    eu = ClusterPlan("eu-1", "changed", (
        ResourceChange(Op.DELETE, "eu-1/v1/Namespace/_/vc-alpha-old", "eu-1", "v1", "Namespace", None,
                       "vc-alpha-old", "alpha/old", True),
        ResourceChange(Op.CREATE, "eu-1/v1/Namespace/_/vc-alpha-new", "eu-1", "v1", "Namespace", None,
                       "vc-alpha-new", "alpha/new", False),
        ResourceChange(Op.UPDATE, rid.format("vfleet.dev/v1alpha1", "HelmRelease", "web", "web"), "eu-1",
                       "vfleet.dev/v1alpha1", "HelmRelease", "vc-alpha-web", "web", "alpha/web", False, None,
                       (FieldChange("spec.version", "changed", "0.35.3", "0.36.0"),), diff),
    ), (
        TenantChange("alpha/old", TenantOp.DELETE, "eu-1", "eu-1", None),
        TenantChange("alpha/new", TenantOp.CREATE, "eu-1", None, "eu-1"),
        TenantChange("alpha/web", TenantOp.UPDATE, "eu-1", "eu-1", "eu-1",
                     (Aspect("chart", "0.35.3", "0.36.0", "chart upgrade 0.35.3 -> 0.36.0"),)),
    ), (GuardHit("guard.protected", "eu-1", "tenant alpha/old is protected", "tenant:alpha/old", False),), 1)
    deny = Finding(Severity.DENY, "policy.owner-member", "owner mallory is not a member",
                   Location("fleet/projects/alpha/tenants/new.yaml", 6, "spec.owner"), "tenant:alpha/new")
    warn = Finding(Severity.WARN, "policy.dev-sleep", "dev tenant never sleeps", None, "tenant:alpha/web")
    policy = PolicyResult(True, (PolicyFinding(deny, PolicyStatus.NEW, "eu-1"),
                                 PolicyFinding(warn, PolicyStatus.RESOLVED, "eu-1")), Findings(), "")
    base = Side("main", "a" * 40, "commit aaaaaaaaaaaa", "k1")
    head = Side("HEAD", "b" * 40, "commit bbbbbbbbbbbb", "k2")
    limits = {"maxDeletes": 10, "maxDeleteShare": 0.25}
    from vfleet.owners import Approval

    approvals = (Approval("alpha", ("alice@example.com", "@org/platform"),
                          ("fleet/projects/alpha/tenants/new.yaml", "fleet/projects/alpha/tenants/old.yaml")),
                 Approval(None, ("@org/platform",), ("templates/shared/values.yaml.j2",)))
    return Plan(base, head, (eu,), Findings(), policy, None, "incremental", (), {}, limits, "", {"eu-1": 0},
                approvals)
