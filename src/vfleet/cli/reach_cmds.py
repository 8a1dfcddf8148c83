"""`vfleet kubeconfig`: a kubeconfig for tenant clusters themselves, never for the connected cluster.

Exit codes: 0 written; 2 the fleet does not compile, the tenant cannot be reached (not placed, no
endpoint, no identity, not visible to the given groups; with --live: not deployed yet), or a cluster
could not be read for --live.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vfleet import compile as compiler
from vfleet import reach, schemas
from vfleet.cli.output import Output, console, emit_json, print_findings


def kubeconfig_cmd(
    tenant: Annotated[str | None, typer.Argument(help="<project>/<tenant>")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="every tenant of this project the "
                                                "caller may see, one context each")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="the caller's OIDC group (repeatable): "
                                                    "only tenants whose access rules or project include it")] = None,
    user: Annotated[str | None, typer.Option("--user", help="the caller's user name (as the OIDC token names it)")]
    = None,
    live: Annotated[bool, typer.Option("--live", help="check, as `vfleet status` reads it, that each tenant is "
                                       "deployed; without it the kubeconfig is what it will be reached with")]
    = False,
    out: Annotated[Path | None, typer.Option("--out", help="write the kubeconfig here (default: stdout)")] = None,
    path: Annotated[Path, typer.Option("--path", help="the fleet repository")] = Path("."),
    rev: Annotated[str | None, typer.Option("--rev", help="this Git revision's specs")] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="table: the kubeconfig as YAML; json: it and "
                                           "what each context is good for")] = Output.table,
) -> None:
    """A kubeconfig for a tenant cluster (or a project's): its endpoint, OIDC login, no secret (docs/access.md)."""
    err = console(stderr=True)
    if (tenant is None) == (project is None):
        err.print("[bold red]error:[/] name one tenant (<project>/<tenant>) or give --project, not both")
        raise typer.Exit(2)
    compiled = compiler.compile_path(path, rev, check_lock=False)
    # A kubeconfig applies nothing: problems elsewhere in the fleet do not withhold it (they are shown);
    # the asked-for tenant's own problems fail it, with its file:line (reach.target).
    if compiled.findings.errors:
        print_findings(compiled.findings, err, "kubeconfig: the fleet has problems")
    who = reach.caller(user, group or ())
    if project is not None:
        targets = reach.project_targets(compiled, project, who)
    else:
        assert tenant is not None
        targets = [reach.tenant_target(compiled, tenant, who)]
    if live:
        _check_deployed(compiled, targets)
    config = reach.kubeconfig(targets, schemas.read_settings(compiled.tree).identity)
    text = reach.to_yaml(config)
    if out is not None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # no secret inside, kept private anyway
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    if output is Output.json:
        emit_json({"kubeconfig": config, "live": live, "tenants": [
            {"tenant": t.key, "source": t.source, "cluster": t.cluster, "exposure": t.exposure, "server": t.server,
             "roles": t.roles} for t in targets]})
    elif out is None:
        typer.echo(text, nl=False)
    for t in targets:
        if not t.roles:
            err.print(f"warning: {t.key}: no access rule binds the given groups/users; the kubeconfig logs in, "
                      f"the tenant grants nothing", markup=False)
    if not live:
        err.print("note: not checked against the clusters; each tenant is reachable with this once deployed "
                  "(--live checks)", markup=False)
    elif out is not None:
        err.print(f"wrote {out} ({len(targets)} context(s))", markup=False)
    raise typer.Exit(0)


def _check_deployed(compiled: compiler.Compiled, targets: list[reach.Target]) -> None:
    from vfleet.live.status import fleet_status

    status = fleet_status(compiled, sorted({t.cluster for t in targets}), activity=False)
    rows = {row.key: row for row in status.tenants}
    problems = []
    for t in targets:
        row = rows.get(t.key)
        problem = reach.deployed_problem(str(row.phase) if row else "unknown", row.reason if row else "", t)
        if problem:
            problems.append(problem)
    if problems:
        raise reach.ReachError("; ".join(problems))


def register(app: typer.Typer) -> None:
    app.command("kubeconfig")(kubeconfig_cmd)
