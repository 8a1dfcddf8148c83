"""Commands of the compiler core: validate, compile, place, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from vfleet import api
from vfleet import compile as compiler
from vfleet.cli.options import NoCacheOpt, OutputOpt, PathArg
from vfleet.cli.output import Output, console, emit_json, fail, print_findings
from vfleet.errors import VfleetError
from vfleet.findings import Findings

RevOpt = Annotated[str | None, typer.Option("--rev", help="compile this Git revision instead of the work tree")]


def _summary(compiled: compiler.Compiled) -> dict[str, Any]:
    return {
        "revision": compiled.tree.revision,
        "clusters": len(compiled.fleet.clusters),
        "projects": len(compiled.fleet.projects),
        "templates": len(compiled.fleet.templates),
        "tenants": len(compiled.fleet.tenants),
        "resources": sum(len(s.resources) for s in compiled.desired.values()),
    }


def _report(findings: Findings, output: Output, summary: str, extra: dict[str, Any] | None = None) -> None:
    if output is Output.json:
        emit_json({**(extra or {}), "findings": [f.to_json() for f in findings], "exitCode": findings.exit_code})
    else:
        print_findings(findings, console(), summary)


def validate(path: PathArg = Path("."), rev: RevOpt = None, output: OutputOpt = Output.table,
             no_cache: NoCacheOpt = False) -> None:
    """Validate specs, references, parameters, placement and rendered values. Exit 0 valid, 2 broken."""
    compiled = api.validate(path, rev, no_cache=no_cache)
    _report(compiled.findings, output, "validate", _summary(compiled))
    raise typer.Exit(compiled.findings.exit_code)


def compile_cmd(
    path: PathArg = Path("."),
    out: Annotated[Path, typer.Option("--out", help="output directory (replaced atomically)")] = Path("build"),
    rev: RevOpt = None,
    output: OutputOpt = Output.table,
    no_cache: NoCacheOpt = False,
) -> None:
    """Compile the fleet: one desired-state file per cluster and each tenant's vcluster.yaml."""
    result = api.compile(path, rev, out=out, no_cache=no_cache)
    compiled, written = result.compiled, result.written
    summary = _summary(compiled) | {"out": str(out), "files": len(written),
                                    "hashes": {c: s.hash for c, s in sorted(compiled.desired.items())}}
    if output is Output.json:
        _report(compiled.findings, output, "compile", summary)
    else:
        print_findings(compiled.findings, console(), "compile")
        if compiled.ok:
            console().print(f"wrote {len(written)} files to {out} ({summary['clusters']} clusters, "
                            f"{summary['tenants']} tenants, {summary['resources']} resources)")
        else:
            console().print("nothing written")
    raise typer.Exit(compiled.findings.exit_code)


def place_cmd(path: PathArg = Path("."), output: OutputOpt = Output.table, no_cache: NoCacheOpt = False) -> None:
    """Place new tenants (sticky for placed ones) and write fleet/placement.lock."""
    placed = api.place(path, no_cache=no_cache)
    compiled, changed = placed.compiled, placed.changed
    extra = {"changed": changed, "stale": list(compiled.placement.stale), "placements": compiled.placement.clusters}
    if output is Output.json:
        _report(compiled.findings, output, "place", extra)
    else:
        print_findings(compiled.findings, console(), "place")
        if compiled.findings.errors:
            console().print("placement.lock not written")
        elif changed:
            console().print(f"placement.lock updated: {len(compiled.placement.stale)} tenant(s) placed or moved")
            for key in compiled.placement.stale:
                console().print(f"  {key} -> {compiled.placement.clusters[key]}")
        else:
            console().print("placement.lock is up to date")
    raise typer.Exit(compiled.findings.exit_code)


show_app = typer.Typer(help="Show resolved specs and what vfleet computes from them.", no_args_is_help=True)


@show_app.command("tenant")
def show_tenant(
    key: Annotated[str, typer.Argument(help="<project>/<tenant>")],
    path: Annotated[Path, typer.Option("--path", help="the fleet repository")] = Path("."),
    rev: RevOpt = None,
    output: Annotated[Output, typer.Option("--output", "-o")] = Output.table,
) -> None:
    """The tenant's resolved spec and its computed vcluster.yaml, as the Platform shows before deploying."""
    compiled = compiler.compile_path(path, rev, no_cache=False, check_lock=False)
    tenant = compiled.fleet.tenants.get(key)
    if tenant is None:
        known = [k for k in compiled.fleet.tenants if k.split("/")[-1] == key.split("/")[-1]]
        hint = f" (did you mean {', '.join(known)}?)" if known else ""
        fail(VfleetError(f"no tenant {key!r}{hint}"))
    params = compiled.params.tenants.get(key)
    rendered = compiled.rendered.tenants.get(key)
    resources = params.resources if params else None
    info: dict[str, Any] = {
        "tenant": key,
        "source": f"{tenant.doc.file}:{tenant.doc.line}",
        "project": tenant.project,
        "namespace": tenant.namespace,
        "owner": tenant.spec.spec.owner,
        "cluster": compiled.placement.clusters.get(key),
        "template": {"name": tenant.template, "version": tenant.version,
                     "chartVersion": tenant.template_version.chartVersion},
        "parameters": params.values if params else None,
        "resources": None if resources is None else {
            "cpu": str(resources.cpu) if resources.cpu else None,
            "memory": str(resources.memory) if resources.memory else None,
            "storage": str(resources.storage) if resources.storage else None,
            "gpus": resources.gpus,
        },
        "sleep": tenant.sleep.model_dump(mode="json", exclude_defaults=True) if tenant.sleep else None,
        "autoDelete": tenant.auto_delete.model_dump(mode="json", exclude_defaults=True) if tenant.auto_delete else None,
        "protect": tenant.spec.spec.protect,
        "podSecurity": tenant.pod_security,
        "valuesHash": rendered.hash if rendered else None,
    }
    mine = Findings.of(f for f in compiled.findings if f.subject == f"tenant:{key}")
    if output is Output.json:
        emit_json(info | {"values": rendered.values if rendered else None,
                          "findings": [f.to_json() for f in mine]})
    else:
        out = console()
        out.print(yaml.safe_dump(info, sort_keys=False, default_flow_style=False).rstrip(), markup=False)
        out.print("--- vcluster.yaml")
        out.print(rendered.yaml.rstrip() if rendered else "(not rendered: see the findings)", markup=False)
        if mine:
            print_findings(mine, out, key)
    raise typer.Exit(mine.exit_code)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("compile")(compile_cmd)
    app.command("place")(place_cmd)
    app.add_typer(show_app, name="show")
