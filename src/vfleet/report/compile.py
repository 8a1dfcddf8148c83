"""Reports of the compile commands: `vfleet validate` (a `Compiled`), `compile`, `place`, `show tenant`.

Each JSON report is the fleet's counts, the command's own fields, every finding and `exitCode`; each
table is the findings (folded) and a line saying what was written.
"""

from __future__ import annotations

from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from vfleet.api import CompileResult, PlaceResult, TenantView
from vfleet.compile import Compiled
from vfleet.core.findings import Findings
from vfleet.report import write_json
from vfleet.report.findings import print_findings


def counts(compiled: Compiled) -> dict[str, Any]:
    return {
        "revision": compiled.tree.revision,
        "clusters": len(compiled.fleet.clusters),
        "projects": len(compiled.fleet.projects),
        "templates": len(compiled.fleet.templates),
        "tenants": len(compiled.fleet.tenants),
        "resources": sum(len(s.resources) for s in compiled.desired.values()),
    }


def _with_findings(fields: dict[str, Any], findings: Findings) -> dict[str, Any]:
    return fields | {"findings": [f.to_json() for f in findings], "exitCode": findings.exit_code}


def validate_json(compiled: Compiled, out: Console) -> None:
    write_json(_with_findings(counts(compiled), compiled.findings), out)


def validate_table(compiled: Compiled, out: Console) -> None:
    print_findings(compiled.findings, out, "validate")


def compile_json(result: CompileResult, out: Console) -> None:
    compiled = result.compiled
    fields = counts(compiled) | {"out": str(result.out), "files": len(result.written),
                                 "hashes": {c: s.hash for c, s in sorted(compiled.desired.items())}}
    write_json(_with_findings(fields, compiled.findings), out)


def compile_table(result: CompileResult, out: Console) -> None:
    compiled = result.compiled
    print_findings(compiled.findings, out, "compile")
    if compiled.ok:
        c = counts(compiled)
        out.print(f"wrote {len(result.written)} files to {escape(str(result.out))} ({c['clusters']} clusters, "
                  f"{c['tenants']} tenants, {c['resources']} resources)")
    else:
        out.print("nothing written")


def place_json(result: PlaceResult, out: Console) -> None:
    placement = result.compiled.placement
    fields = {"changed": result.changed, "stale": list(placement.stale), "placements": placement.clusters}
    write_json(_with_findings(fields, result.compiled.findings), out)


def place_table(result: PlaceResult, out: Console) -> None:
    compiled = result.compiled
    print_findings(compiled.findings, out, "place")
    if compiled.findings.errors:
        out.print("placement.lock not written")
    elif result.changed:
        out.print(f"placement.lock updated: {len(compiled.placement.stale)} tenant(s) placed or moved")
        for key in compiled.placement.stale:
            out.print(f"  {escape(key)} -> {escape(compiled.placement.clusters[key])}")
    else:
        out.print("placement.lock is up to date")


def tenant_info(view: TenantView) -> dict[str, Any]:
    """The tenant as resolved: source, placement, template, parameters, resources, lifecycle, values hash."""
    compiled, key = view.compiled, view.key
    tenant = compiled.fleet.tenants[key]
    params = compiled.params.tenants.get(key)
    rendered = compiled.rendered.tenants.get(key)
    resources = params.resources if params else None
    return {
        "tenant": key,
        "source": f"{tenant.doc.file}:{tenant.doc.line}",
        "project": tenant.project,
        "namespace": tenant.namespace,
        "owner": tenant.manifest.spec.owner,
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
        "protect": tenant.manifest.spec.protect,
        "podSecurity": tenant.pod_security,
        "valuesHash": rendered.hash if rendered else None,
    }


def tenant_json(view: TenantView, out: Console) -> None:
    rendered = view.compiled.rendered.tenants.get(view.key)
    write_json(tenant_info(view) | {"values": rendered.values if rendered else None,
                                    "findings": [f.to_json() for f in view.findings]}, out)


def tenant_table(view: TenantView, out: Console) -> None:
    """The resolved tenant as YAML, then its vcluster.yaml as vfleet renders it, then its findings."""
    rendered = view.compiled.rendered.tenants.get(view.key)
    out.print(yaml.safe_dump(tenant_info(view), sort_keys=False, default_flow_style=False).rstrip(), markup=False)
    out.print("--- vcluster.yaml")
    out.print(rendered.yaml.rstrip() if rendered else "(not rendered: see the findings)", markup=False)
    if view.findings:
        print_findings(view.findings, out, view.key)
