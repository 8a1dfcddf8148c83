"""Access reports: `vfleet show platform` (who may do what on the connected clusters), `vfleet codeowners`
and `vfleet kubeconfig` (its table output is the kubeconfig itself, ready to save)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from vfleet.api import CodeownersResult, KubeconfigResult
from vfleet.compile import Compiled
from vfleet.core.findings import Findings
from vfleet.desired import access
from vfleet.report import write_json, write_text
from vfleet.report.findings import print_findings


def platform_info(compiled: Compiled) -> dict[str, Any]:
    """Platform roles per connected cluster (users and groups), each project's read-only host view."""
    fleet = compiled.fleet
    clusters = {
        name: {role: {"users": sorted(n for k, n in held if k == "User"),
                      "groups": sorted(n for k, n in held if k == "Group")}
               for role, held in access.platform_subjects(fleet, name).items()}
        for name in fleet.clusters
    }
    projects: dict[str, dict[str, list[str]]] = {
        name: {"hostView": sorted(item.manifest.spec.hostAccess.view),
               "hostViewSubjects": sorted(f"{k}:{n}" for k, n in access.host_view_subjects(fleet, name))}
        for name, item in fleet.projects.items()
    }
    source = f"{fleet.platform.doc.file}:{fleet.platform.doc.line}" if fleet.platform else None
    return {"platform": source, "clusters": clusters, "projects": projects}


def platform_json(compiled: Compiled, out: Console) -> None:
    write_json(platform_info(compiled) | {"findings": [f.to_json() for f in compiled.fleet.findings]}, out)


def platform_table(compiled: Compiled, out: Console) -> None:
    info = platform_info(compiled)
    source = info["platform"]
    out.print(f"platform roles ({source or 'no Platform document: nobody has access to connected clusters'})",
              markup=False)
    for name, roles in info["clusters"].items():
        out.print(f"  cluster {name}", markup=False)
        for role, held in roles.items():
            who = [*(f"group {g}" for g in held["groups"]), *(f"user {u}" for u in held["users"])]
            out.print(f"    {role:<9} {', '.join(who)} ({access.platform_role_name(role)})", markup=False)
        if not roles:
            out.print("    (nobody)", markup=False)
    out.print("project members on connected clusters (tenant access is inside each tenant cluster)", markup=False)
    for name, item in info["projects"].items():
        view = item["hostView"]
        what = f"read-only host view for {', '.join(view)}" if view else "nothing"
        out.print(f"  project {name}: {what}", markup=False)
    if compiled.fleet.findings:
        print_findings(Findings.of(compiled.fleet.findings), out, "show platform")


def codeowners_json(result: CodeownersResult, out: Console) -> None:
    write_json({"path": result.path, "written": result.written, "findings": [f.to_json() for f in result.findings],
                "exitCode": result.exit_code}, out)


def codeowners_table(result: CodeownersResult, out: Console) -> None:
    if not result.checked and not result.findings.errors:
        out.print(f"{result.path} {'written' if result.written else 'is up to date'}", markup=False)
    if result.findings:
        print_findings(result.findings, out, "codeowners")


def kubeconfig_json(result: KubeconfigResult, out: Console) -> None:
    write_json({"kubeconfig": result.config, "live": result.live, "tenants": [
        {"tenant": t.key, "source": t.source, "cluster": t.cluster, "exposure": t.exposure, "server": t.server,
         "roles": t.roles} for t in result.targets]}, out)


def kubeconfig_table(result: KubeconfigResult, out: Console) -> None:
    write_text(result.text, out)
