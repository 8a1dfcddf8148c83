"""`vfleet apply`, `preview`, `destroy`, `history`, `stacks sync|check`: thin commands over `vfleet.api`.

Each parses its options, calls its `vfleet.api` function, shows progress
per stack while the engine runs (rich, on stderr) and a summary (or `--output json`), and maps the
outcome to an exit code: 0 applied or unchanged, 1 failed / refused / not started / denied, 2 broken
input, a missing engine or a missing passphrase, 3 (preview) changes found.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from vfleet import api
from vfleet.apply import orchestrate, prechecks, shards
from vfleet.apply.decide import Operation, Schedule, StackResult, Target
from vfleet.cli.options import PathArg, output_option
from vfleet.cli.output import console, fail, print_findings, show
from vfleet.core.errors import VfleetError
from vfleet.core.findings import Finding
from vfleet.report import Format
from vfleet.report.apply import STYLE
from vfleet.report.findings import print_all

ApplyOutputOpt = Annotated[Format, output_option("apply")]
HistoryOutputOpt = Annotated[Format, output_option("history")]
StacksOutputOpt = Annotated[Format, output_option("stacks")]

ClusterOpt = Annotated[list[str] | None, typer.Option("--cluster", "-c", help="only these stacks (repeatable)")]
WaveOpt = Annotated[int | None, typer.Option("--wave", help="only the clusters of this rollout wave")]
ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", metavar="I/N", help="only runner I of N's share of each wave's stacks (CI runners in "
                 "parallel; docs/apply.md)"),
]
ParallelOpt = Annotated[int, typer.Option("--parallel", "-p", min=1, help="stacks run at once within a wave")]
OverrideOpt = Annotated[
    str | None,
    typer.Option("--override-guard", metavar="REASON", help="let overridable deletion guards pass; recorded"),
]
SecretsOpt = Annotated[
    str | None, typer.Option("--secrets-provider", help="Pulumi secrets provider for new stacks (default: passphrase)")
]
FullOpt = Annotated[
    bool,
    typer.Option(
        "--full", help="let the engine diff every resource of each stack, not only what changed since its last apply"
    ),
]


def _execute(
    path: Path,
    options: orchestrate.Options,
    output: Format,
    secrets_provider: str | None,
    yes: bool,
    full: bool = False,
) -> None:
    tabular = output is Format.table
    display = _Display(enabled=tabular and sys.stderr.isatty(), show=tabular)
    confirm = None if yes or options.operation is Operation.PREVIEW else _confirm(options, display)
    try:
        with display:
            report = api.apply(path, options, secrets_provider=secrets_provider, full=full, observer=display,
                               confirm=confirm)
    except (prechecks.Broken, prechecks.Refused) as exc:
        fail(exc, output, exc.findings, "apply")
    except VfleetError as exc:
        fail(exc, output)
    show("apply", output, report)
    raise typer.Exit(report.exit_code)


def _shard(text: str | None, output: Format) -> shards.Shard | None:
    try:
        return shards.Shard.parse(text) if text is not None else None
    except shards.ShardError as exc:
        fail(exc, output)


def _confirm(options: orchestrate.Options, display: _Display) -> orchestrate.Confirm:
    def ask(schedule: Schedule, refusals: Mapping[str, tuple[Finding, ...]]) -> bool:
        runs = [t.cluster for t in schedule.to_run if t.cluster not in refusals]
        if not runs:
            return True  # nothing will reach the engine: the refusals are reported, no question to ask
        if not sys.stdin.isatty():
            raise VfleetError(
                f"{options.operation.value} of {', '.join(runs)} needs --yes when not run from a "
                "terminal (nothing was run)"
            )
        with display.paused():
            return typer.confirm(f"{options.operation.value} {len(runs)} stack(s): {', '.join(runs)}?")

    return ask


def apply(
    path: PathArg = Path("."),
    cluster: ClusterOpt = None,
    parallel: ParallelOpt = 4,
    wave: WaveOpt = None,
    shard: ShardOpt = None,
    override_guard: OverrideOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask before applying")] = False,
    adopt: Annotated[
        bool,
        typer.Option("--adopt", help="import desired objects that already exist on a cluster (listed in the output)"),
    ] = False,
    full: FullOpt = False,
    override_wave_order: Annotated[
        str | None,
        typer.Option(
            "--override-wave-order",
            metavar="REASON",
            help="run a cluster before an earlier rollout wave has applied this commit; recorded",
        ),
    ] = None,
    secrets_provider: SecretsOpt = None,
    output: ApplyOutputOpt = Format.table,
) -> None:
    """Compile, gate (policy, deletion guards, wave order) and apply every changed stack with the Pulumi engine."""
    if override_wave_order is not None and not override_wave_order.strip():
        fail(VfleetError("--override-wave-order needs a reason (nothing was run)"), output)
    options = orchestrate.Options(
        Operation.UP,
        tuple(cluster or ()),
        wave,
        parallel,
        override_guard,
        adopt,
        wave_override=override_wave_order,
        shard=_shard(shard, output),
    )
    _execute(path, options, output, secrets_provider, yes, full)


def preview(
    path: PathArg = Path("."),
    cluster: ClusterOpt = None,
    parallel: ParallelOpt = 4,
    wave: WaveOpt = None,
    shard: ShardOpt = None,
    all_stacks: Annotated[
        bool, typer.Option("--all", help="preview unchanged stacks too (finds drift in the engine's state)")
    ] = False,
    full: FullOpt = False,
    secrets_provider: SecretsOpt = None,
    output: ApplyOutputOpt = Format.table,
) -> None:
    """The engine's diff of every changed stack against its state (`vfleet plan` is the Git diff)."""
    options = orchestrate.Options(Operation.PREVIEW, tuple(cluster or ()), wave, parallel, force=all_stacks,
                                  shard=_shard(shard, output))
    _execute(path, options, output, secrets_provider, True, full or all_stacks)


def destroy(
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="the stack to destroy")],
    path: PathArg = Path("."),
    confirm: Annotated[
        str | None,
        typer.Option("--confirm", metavar="CLUSTER", help="the cluster's name again: the explicit confirmation"),
    ] = None,
    override_guard: OverrideOpt = None,
    secrets_provider: SecretsOpt = None,
    output: ApplyOutputOpt = Format.table,
) -> None:
    """Delete everything a stack manages on its cluster: only with `--confirm <cluster>` and the guards."""
    if confirm != cluster:
        if confirm is not None or not sys.stdin.isatty():
            fail(
                VfleetError(f"destroying stack {cluster} needs --confirm {cluster} (nothing was run)"),
                output,
            )
        typed = typer.prompt(f"type the cluster name ({cluster}) to destroy everything its stack manages")
        if typed != cluster:
            fail(orchestrate.Cancelled("not confirmed: nothing was run"), output)
    options = orchestrate.Options(Operation.DESTROY, (cluster,), None, 1, override_guard)
    _execute(path, options, output, secrets_provider, True)


def history(
    path: PathArg = Path("."),
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="only this stack")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="newest N records")] = 50,
    output: HistoryOutputOpt = Format.table,
) -> None:
    """The per-stack run records kept in the state directory, newest first."""
    try:
        found = api.history(path, cluster, limit)
    except VfleetError as exc:
        fail(exc, output)
    show("history", output, found)
    raise typer.Exit(0)


stacks_app = typer.Typer(help="The Pulumi project files: one stack file per connected cluster.", no_args_is_help=True)


@stacks_app.command("sync")
def stacks_sync(path: PathArg = Path(".")) -> None:
    """Write Pulumi.yaml and every missing or stale stacks/Pulumi.<cluster>.yaml."""
    written, after = api.stacks_sync(path)
    print_findings(after.findings, console(), "stacks", hint="vfleet stacks check --output json")
    console().print("\n".join(f"wrote {p}" for p in written) or "stack files are up to date")
    raise typer.Exit(after.findings.exit_code)


@stacks_app.command("check")
def stacks_check(path: PathArg = Path("."), output: StacksOutputOpt = Format.table) -> None:
    """Verify the project and stack files (missing, stale, credentials, stacks without a cluster)."""
    try:
        result = api.stacks_check(path)
    except VfleetError as exc:
        fail(exc, output)
    show("stacks", output, result)
    raise typer.Exit(result.findings.exit_code)


class _Display:
    """Progress per stack (resources done / total) on stderr while the engine runs; thread-safe."""

    def __init__(self, enabled: bool, show: bool = True) -> None:
        self.enabled = enabled
        self.show = show  # say notices (on stderr) even without a progress display; not for --output json
        self.lock = threading.Lock()
        self.tasks: dict[str, TaskID] = {}
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[what]}"),
            console=console(stderr=True),
            transient=False,
            disable=not enabled,
        )

    def __enter__(self) -> _Display:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def paused(self) -> _Paused:
        return _Paused(self.bar)

    def started(self, target: Target, total: int) -> None:
        with self.lock:
            self.tasks[target.cluster] = self.bar.add_task(target.cluster, total=total, what="starting")

    def progress(self, cluster: str, done: int, total: int, what: str) -> None:
        with self.lock:
            task = self.tasks.get(cluster)
        if task is not None:
            self.bar.update(task, completed=done, total=total, what=escape(what[:60]))

    def finished(self, result: StackResult) -> None:
        with self.lock:
            task = self.tasks.get(result.cluster)
        if task is not None:
            self.bar.update(task, what=f"[{STYLE[result.result]}]{result.result.value}[/]")

    def notice(self, findings: Sequence[Finding]) -> None:
        if self.show:
            with self.paused():
                print_all(console(stderr=True), findings)


class _Paused:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __enter__(self) -> None:
        self.progress.stop()

    def __exit__(self, *exc: object) -> None:
        self.progress.start()


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("preview")(preview)
    app.command("destroy")(destroy)
    app.command("history")(history)
    app.add_typer(stacks_app, name="stacks")
