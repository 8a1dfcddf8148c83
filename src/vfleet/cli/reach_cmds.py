"""`vfleet kubeconfig`: a kubeconfig for tenant clusters themselves, never for the connected cluster.

Exit codes: 0 written; 2 the fleet does not compile, the tenant cannot be reached (not placed, no
endpoint, no identity, not visible to the given groups; with --live: not deployed yet), or a cluster
could not be read for --live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet import api
from vfleet.cli.options import output_option
from vfleet.cli.output import console, fail, print_findings, show
from vfleet.report import Format


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
    output: Annotated[Format, output_option("kubeconfig", help="table: the kubeconfig as YAML; json: it and "
                                                                   "what each context is good for")] = Format.table,
) -> None:
    """A kubeconfig for a tenant cluster (or a project's): its endpoint, OIDC login, no secret (docs/access.md)."""
    err = console(stderr=True)
    # A kubeconfig applies nothing: problems elsewhere in the fleet do not withhold it (they are shown);
    # the asked-for tenant's own problems fail it, with its file:line (reach.target).
    try:
        result = api.kubeconfig(path, rev, tenant=tenant, project=project, user=user, groups=group or (),
                                live=live, out=out)
    except api.NoKubeconfig as exc:
        fail(exc, output, exc.findings, "kubeconfig: the fleet has problems")
    if result.findings:
        print_findings(result.findings, err, "kubeconfig: the fleet has problems")
    if output is Format.json or out is None:
        show("kubeconfig", output, result)
    for note in result.notes:
        err.print(note, markup=False)
    raise typer.Exit(0)


def register(app: typer.Typer) -> None:
    app.command("kubeconfig")(kubeconfig_cmd)
