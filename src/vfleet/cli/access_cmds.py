"""`vfleet codeowners` and `vfleet show platform`: who may change what, and who may do what where."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vfleet import access, owners
from vfleet import compile as compiler
from vfleet.cli.core import RevOpt, show_app
from vfleet.cli.options import OutputOpt, PathArg
from vfleet.cli.output import Output, console, emit_json, print_findings
from vfleet.findings import Findings
from vfleet.tree import open_tree


def codeowners(
    path: PathArg = Path("."),
    forge: Annotated[str | None, typer.Option("--forge", help="github or gitlab (default: codeowners: in "
                                              "vfleet.yaml, else github)")] = None,
    check: Annotated[bool, typer.Option("--check", help="only compare with the committed file (exit 2: stale)")]
    = False,
    output: OutputOpt = Output.table,
) -> None:
    """Write the forge's CODEOWNERS from projects, teams and platform roles (docs/access.md)."""
    compiled = compiler.compile_path(path, check_lock=False)
    root = compiled.root
    settings, problems = owners.read_settings(open_tree(root))
    if forge is not None:
        if forge not in owners.PATHS:
            console(stderr=True).print(f"[bold red]error:[/] --forge must be one of {', '.join(owners.PATHS)}")
            raise typer.Exit(2)
        chosen: owners.Forge = "github" if forge == "github" else "gitlab"
        settings = owners.Settings(chosen, owners.PATHS[chosen])
    settings = settings or owners.Settings("github", owners.PATHS["github"])
    found = Findings.of([*compiled.fleet.findings, *problems])
    if found.errors:
        _done(found, output, "codeowners", {"path": settings.path, "written": False})
    if check:
        stale = Findings.of(owners.check(compiled.fleet, open_tree(root), settings))
        _done(Findings.of([*found, *stale]), output, "codeowners", {"path": settings.path, "written": False})
    target = root / settings.path
    text = owners.render(owners.rules(compiled.fleet))
    changed = not target.is_file() or target.read_text(encoding="utf-8") != text
    if changed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if output is Output.table:
        console().print(f"{settings.path} {'written' if changed else 'is up to date'}")
    _done(found, output, "codeowners", {"path": settings.path, "written": changed})


def _done(found: Findings, output: Output, summary: str, extra: dict[str, Any]) -> None:
    if output is Output.json:
        emit_json({**extra, "findings": [f.to_json() for f in found], "exitCode": found.exit_code})
    elif found:
        print_findings(found, console(), summary)
    raise typer.Exit(found.exit_code)


def show_platform(
    path: Annotated[Path, typer.Option("--path", help="the fleet repository")] = Path("."),
    rev: RevOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Platform roles per connected cluster, and each project's host access: who can do what where."""
    compiled = compiler.compile_path(path, rev, check_lock=False)
    fleet = compiled.fleet
    clusters = {
        name: {role: {"users": sorted(n for k, n in held if k == "User"),
                      "groups": sorted(n for k, n in held if k == "Group")}
               for role, held in access.platform_subjects(fleet, name).items()}
        for name in fleet.clusters
    }
    projects: dict[str, dict[str, list[str]]] = {
        name: {"hostView": sorted(item.spec.spec.hostAccess.view),
               "hostViewSubjects": sorted(f"{k}:{n}" for k, n in access.host_view_subjects(fleet, name))}
        for name, item in fleet.projects.items()
    }
    source = f"{fleet.platform.doc.file}:{fleet.platform.doc.line}" if fleet.platform else None
    info = {"platform": source, "clusters": clusters, "projects": projects}
    if output is Output.json:
        emit_json(info | {"findings": [f.to_json() for f in fleet.findings]})
        raise typer.Exit(Findings.of(fleet.findings).exit_code)
    out = console()
    out.print(f"platform roles ({source or 'no Platform document: nobody has access to connected clusters'})",
              markup=False)
    for name, roles in clusters.items():
        out.print(f"  cluster {name}", markup=False)
        for role, held in roles.items():
            who = [*(f"group {g}" for g in held["groups"]), *(f"user {u}" for u in held["users"])]
            out.print(f"    {role:<9} {', '.join(who)} ({access.platform_role_name(role)})", markup=False)
        if not roles:
            out.print("    (nobody)", markup=False)
    out.print("project members on connected clusters (tenant access is inside each tenant cluster)", markup=False)
    for name, item in projects.items():
        view = item["hostView"]
        what = f"read-only host view for {', '.join(view)}" if view else "nothing"
        out.print(f"  project {name}: {what}", markup=False)
    if fleet.findings:
        print_findings(Findings.of(fleet.findings), out, "show platform")
    raise typer.Exit(Findings.of(fleet.findings).exit_code)


def register(app: typer.Typer) -> None:
    app.command("codeowners")(codeowners)
    show_app.command("platform")(show_platform)
