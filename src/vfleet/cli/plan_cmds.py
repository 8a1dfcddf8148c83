"""`vfleet plan`: parse, call `vfleet.plan.plan`, render (table / json / markdown / matrix), exit code.

Exit codes: 0 no changes, 3 changes and all clear, 1 refused by a deletion guard or denied by policy,
2 broken input (the head does not compile, a bad revision, no policy verdict). docs/plan.md has details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet import api
from vfleet.cli.options import PathArg, output_option
from vfleet.cli.output import emit_json, fail, show
from vfleet.core.errors import VfleetError
from vfleet.plan import Options
from vfleet.policy import URL_ENV
from vfleet.report import Format, render_to
from vfleet.report.plan_json import matrix as plan_matrix


def plan_cmd(
    path: PathArg = Path("."),
    base: Annotated[str, typer.Option("--base", help="the revision to compare against (a PR's base)")] = "",
    head: Annotated[str | None, typer.Option("--head", help="the revision to plan (default: the work tree)")]
    = None,
    output: Annotated[Format, output_option("plan")] = Format.table,
    matrix: Annotated[bool, typer.Option("--matrix", help="print only the affected stacks as a CI matrix "
                                          "(JSON: {\"include\": [{\"cluster\": ...}]})")] = False,
    shard_count: Annotated[int | None, typer.Option("--shards", min=1, help="with --matrix: also `shards`, per "
                                                    "changed wave at most N runners of `vfleet apply --wave W "
                                                    "--shard I/N`")] = None,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="also write the JSON report here")] = None,
    markdown_out: Annotated[Path | None, typer.Option("--markdown-out", help="also write the Markdown report "
                                                      "here")] = None,
    override_guard: Annotated[str | None, typer.Option("--override-guard", metavar="REASON",
                                                       help="let overridable deletion guards pass; the reason "
                                                       "is recorded in the plan")] = None,
    max_deletes: Annotated[int | None, typer.Option("--max-deletes", min=0, help="guard: most tenants a "
                                                    "cluster may lose (default: vfleet.yaml of the base, "
                                                    "else 10)")] = None,
    max_delete_share: Annotated[float | None, typer.Option("--max-delete-share", min=0.0, max=1.0,
                                                           help="guard: largest share of a cluster's tenants "
                                                           "it may lose (default: vfleet.yaml of the base, else "
                                                           "0.25)")] = None,
    no_policy: Annotated[bool, typer.Option("--no-policy", help="do not evaluate policy (recorded in the "
                                            "plan; `vfleet check` must then gate the change)")] = False,
    opa_url: Annotated[str | None, typer.Option("--opa-url", envvar=URL_ENV, help="use this OPA server instead "
                                                "of starting a local one")] = None,
    full: Annotated[bool, typer.Option("--full", help="compile both revisions whole instead of only what "
                                       "the change can affect")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="neither read nor write the plan cache")] = False,
) -> None:
    """Plan a change: compile base and head from Git, diff per connected cluster, guard, judge by policy."""
    if not base:
        fail(VfleetError("--base REV is required (e.g. origin/main)"), output)
    if override_guard is not None and not override_guard.strip():
        fail(VfleetError("--override-guard needs a reason, e.g. "
                         "--override-guard 'decommissioning eu-2, ticket OPS-123'"), output)
    if shard_count is not None and not matrix:
        fail(VfleetError("--shards N goes with --matrix"), output)
    options = Options(override=override_guard.strip() if override_guard else None, max_deletes=max_deletes,
                      max_delete_share=max_delete_share, policy=not no_policy, opa_url=opa_url,
                      incremental=not full, cache=not no_cache)
    result = api.plan(path, base, head, options)
    if json_out is not None:
        render_to(json_out, "plan", Format.json, result)
    if markdown_out is not None:
        render_to(markdown_out, "plan", Format.markdown, result)
    if matrix:
        emit_json(plan_matrix(result, shard_count))
    else:
        show("plan", output, result)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
