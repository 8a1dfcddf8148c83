"""`vfleet lifecycle`: sleep and wake tenants by their schedules and inactivity; propose due deletions in Git.

Exit codes: 0 done (or, with --dry-run, decided); 1 a cluster could not be handled, a patch failed, or a
guard held proposed deletions; 2 the fleet does not compile (nothing is read or changed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from vfleet import api
from vfleet.cli.options import PathArg, output_option
from vfleet.cli.output import broken, fail, show
from vfleet.core.errors import VfleetError
from vfleet.lifecycle import propose
from vfleet.lifecycle.decide import parse_time
from vfleet.lifecycle.run import Options
from vfleet.live.connect import DEFAULT_TIMEOUT_S
from vfleet.report import Format


class BadTime(VfleetError):
    """--now is not an RFC 3339 time with an offset."""


def lifecycle_cmd(
    path: PathArg = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what would happen; change nothing")] = False,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", "-c", help="only this cluster (repeatable)")
                       ] = None,
    rev: Annotated[str, typer.Option("--rev", help="the Git revision whose specs decide (and the proposal "
                                     "branch's base)")] = "HEAD",
    work_tree: Annotated[bool, typer.Option("--work-tree", help="read the specs from the work tree instead "
                                            "(deletions can then only be printed)")] = False,
    branch: Annotated[str, typer.Option("--branch", help="the branch proposed deletions are committed on")
                      ] = propose.DEFAULT_BRANCH,
    override: Annotated[str | None, typer.Option("--override-guard", help="a reason that lets an overridable "
                                                 "deletion guard pass the proposals")] = None,
    max_deletes: Annotated[int | None, typer.Option("--max-deletes", help="guard limit (default: vfleet.yaml)")
                           ] = None,
    max_delete_share: Annotated[float | None, typer.Option("--max-delete-share", help="guard limit (0..1)")
                                ] = None,
    now: Annotated[str | None, typer.Option("--now", help="decide as of this RFC 3339 time (what-ifs, tests)")
                   ] = None,
    output: Annotated[Format, output_option("lifecycle")] = Format.table,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds per API request")] = DEFAULT_TIMEOUT_S,
) -> None:
    """Sleep and wake tenants on their schedules and inactivity; commit due deletions on a branch for review."""
    clock: datetime | None = None
    if now is not None:
        clock = parse_time(now)
        if clock is None or "T" not in now:
            fail(BadTime(f"--now {now!r}: expected an RFC 3339 time such as 2026-03-29T01:30:00Z"), output)
    options = Options(dry_run=dry_run, clusters=cluster or None, now=clock, override=override,
                      max_deletes=max_deletes, max_delete_share=max_delete_share, branch=branch, timeout_s=timeout)
    try:
        report = api.lifecycle(path, None if work_tree else rev, options)
    except api.FleetBroken as exc:
        broken(exc.findings, output, "lifecycle: the fleet does not compile, nothing was done")
    except VfleetError as exc:
        fail(exc, output)
    show("lifecycle", output, report)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("lifecycle")(lifecycle_cmd)
