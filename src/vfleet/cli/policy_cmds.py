"""`vfleet check` and `vfleet policy test|impact|input`: parse, call `vfleet.policy`, render, exit code.

Exit codes: 0 clean, 1 denied (check) or failing tests (policy test), 2 broken input, or no verdict at
all (OPA missing or unreachable, a policy that does not compile, an evaluation error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vfleet import api, policy
from vfleet.cli.options import NoCacheOpt, PathArg, output_option
from vfleet.cli.output import console, emit_json, fail, print_findings, show
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Findings
from vfleet.report import Format
from vfleet.report.policy import TestListing

RevOpt = Annotated[str | None, typer.Option("--rev", help="check this Git revision instead of the work tree")]
OpaUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--opa-url",
        envvar=policy.URL_ENV,
        show_envvar=True,
        help="use this OPA server (policies are pushed under a private root and removed after) "
        "instead of starting a local one",
    ),
]
CheckNoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="do not reuse parsed documents or policy verdicts from earlier runs")
]

LiveOpt = Annotated[
    bool,
    typer.Option("--live", help="also dry-run every changed object on its connected cluster (server-side, "
                 "dryRun=All): rejections exit 1, an unreachable cluster exits 2"),
]
LiveBaseOpt = Annotated[
    str | None,
    typer.Option("--live-base", help="with --live: only the clusters whose desired state differs from this "
                 "revision's (e.g. the pull request's base)"),
]

policy_app = typer.Typer(help="Policy tests and policy-change review.", no_args_is_help=True)


def check_command(
    path: PathArg = Path("."),
    rev: RevOpt = None,
    output: Annotated[Format, output_option("check")] = Format.table,
    opa_url: OpaUrlOpt = None,
    no_cache: CheckNoCacheOpt = False,
    live: LiveOpt = False,
    live_base: LiveBaseOpt = None,
) -> None:
    """Compile the fleet and check it against policies/. Exit 0 clean, 1 denied, 2 broken input or policy."""
    try:
        report = api.check(path, rev, opa_url=opa_url, no_cache=no_cache, live=live, live_base=live_base)
    except VfleetError as exc:
        fail(exc, output)
    show("check", output, report)
    raise typer.Exit(report.exit_code)


@policy_app.command("test")
def test_command(
    path: PathArg = Path("."),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing tests and every rule's tests")] = False,
    output: Annotated[Format, output_option("policy-test")] = Format.table,
) -> None:
    """Run the policies' unit tests (`opa test policies/`) and report coverage per rule.

    Exit 0 when every test passes and every rule has a passing allow and deny test and all its lines
    ran; 1 otherwise; 2 when the tests cannot run (OPA missing, policies that do not compile).
    """
    try:
        report = api.policy_test(path)
    except VfleetError as exc:
        fail(exc, output)
    show("policy-test", output, TestListing(report, verbose))
    raise typer.Exit(report.exit_code)


@policy_app.command("impact")
def impact_command(
    base: Annotated[
        str, typer.Option("--base", help="the revision whose policies/ are the baseline (e.g. main)")
    ],
    path: PathArg = Path("."),
    head: Annotated[
        str | None, typer.Option("--head", help="the fleet and policies to compare (default: the work tree)")
    ] = None,
    output: Annotated[Format, output_option("policy-impact")] = Format.table,
    opa_url: OpaUrlOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """What a policy change does to the fleet: base and head policies on the same (head) fleet.

    Lists every subject whose verdict changes: new denies, cleared denies, new warns, cleared warns.
    Exit 0 (the report informs; `vfleet check` is the gate), 2 when either verdict cannot be computed.
    """
    try:
        report = api.policy_impact(path, base, head, opa_url=opa_url, no_cache=no_cache)
    except VfleetError as exc:
        fail(exc, output)
    show("policy-impact", output, report)
    raise typer.Exit(report.exit_code)


@policy_app.command("input")
def input_command(path: PathArg = Path("."), rev: RevOpt = None, no_cache: NoCacheOpt = False) -> None:
    """Print the policy input document of the fleet (JSON), e.g. for `opa eval -I` while writing a policy."""
    try:
        result = api.policy_input(path, rev, no_cache=no_cache)
    except VfleetError as exc:
        fail(exc)
    errors = result.compiled.findings.errors
    if errors:
        print_findings(Findings.of(errors), console(stderr=True), "policy input (partial)",
                       hint="vfleet compile --output json")
    emit_json(result.document)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """What the lead's CLI adds: `vfleet check` and the `vfleet policy` group."""
    app.command("check")(check_command)
    app.add_typer(policy_app, name="policy")


__all__ = ["check_command", "policy_app", "register"]
