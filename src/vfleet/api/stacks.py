"""The library calls of the commands that run the Pulumi engine and keep its files: apply, preview,
destroy, history, stacks sync / check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vfleet.api.fleet import PathLike

if TYPE_CHECKING:
    from vfleet.apply.orchestrate import Confirm, Observer, Options, Report, Runner
    from vfleet.apply.preflight import BackendHashes
    from vfleet.apply.project import StackFiles
    from vfleet.apply.records import Record


def apply(
    path: PathLike = ".",
    options: Options | None = None,
    *,
    secrets_provider: str | None = None,
    full: bool = False,
    observer: Observer | None = None,
    confirm: Confirm | None = None,
) -> Report:
    """`vfleet apply`: compile, gate (policy, deletion guards, wave order) and apply every changed stack.

    `options` selects stacks, waves, a shard and the overrides; its operation is the caller's (UP by
    default; `preview` and `destroy` set theirs). `confirm` is asked once before any stack reaches the
    engine; without it nothing is asked. Raises `prechecks.Broken` (the fleet or a stack file is broken)
    or `prechecks.Refused` (a gate refused everything) with their findings, and `VfleetError` for a
    missing engine or passphrase."""
    from vfleet import compile as compiler
    from vfleet.apply import orchestrate, records

    compiled = compiler.compile_path(Path(path))
    root = compiled.root
    state = records.state_dir(root)
    return orchestrate.run(
        compiled,
        options or orchestrate.Options(),
        runner=lambda: make_runner(root, state, secrets_provider, full),
        backend_hashes=_backend_hashes(root, state, secrets_provider),
        records=records.open_records(root),
        observer=observer,
        confirm=confirm,
    )


def preview(
    path: PathLike = ".", options: Options | None = None, *, secrets_provider: str | None = None, full: bool = False,
    observer: Observer | None = None,
) -> Report:
    """`vfleet preview`: the engine's diff of every changed stack against its state; applies nothing."""
    from vfleet.apply import orchestrate
    from vfleet.apply.decide import Operation

    options = replace(options or orchestrate.Options(), operation=Operation.PREVIEW)
    return apply(path, options, secrets_provider=secrets_provider, full=full, observer=observer)


def destroy(
    path: PathLike, cluster: str, *, override_guard: str | None = None, secrets_provider: str | None = None,
    observer: Observer | None = None,
) -> Report:
    """`vfleet destroy --cluster C --confirm C`: delete everything one stack manages. The caller has
    confirmed; the deletion guards still apply (`override_guard` is the recorded reason to pass them)."""
    from vfleet.apply import orchestrate
    from vfleet.apply.decide import Operation

    options = orchestrate.Options(Operation.DESTROY, (cluster,), None, 1, override_guard)
    return apply(path, options, secrets_provider=secrets_provider, observer=observer)


def history(path: PathLike = ".", cluster: str | None = None, limit: int | None = 50) -> list[Record]:
    """`vfleet history`: the run records kept in the state directory, newest first."""
    from vfleet import compile as compiler
    from vfleet.apply import records

    return records.open_records(compiler.find_root(Path(path))).history(cluster, limit)


def stacks_sync(path: PathLike = ".") -> tuple[list[str], StackFiles]:
    """`vfleet stacks sync`: write Pulumi.yaml and every missing or stale stack file; the repo-relative
    paths written and the files checked again after writing."""
    from vfleet.apply import project

    root, clusters = _cluster_files(Path(path))
    written = project.sync(root, clusters)
    return written, project.verify(root, clusters)


def stacks_check(path: PathLike = ".") -> StackFiles:
    """`vfleet stacks check`: the project and stack files against what vfleet writes (missing, stale,
    credentials, stacks without a cluster)."""
    from vfleet.apply import project

    root, clusters = _cluster_files(Path(path))
    return project.verify(root, clusters)


def _cluster_files(path: Path) -> tuple[Path, dict[str, str]]:
    """The root and each cluster's spec file; the lock is not checked (stack files do not depend on it)."""
    from vfleet import compile as compiler

    compiled = compiler.compile_path(path, check_lock=False)
    return compiled.root, {name: item.doc.file for name, item in compiled.fleet.clusters.items()}


def make_runner(root: Path, state: Path, secrets_provider: str | None, full: bool) -> Runner:
    """The real engine; checked (pulumi, plugin, passphrase) only when some stack is about to run.
    Imported here: the Pulumi SDK costs a second of start-up that no other command should pay."""
    from vfleet.apply import engine, runner

    return runner.PulumiRunner(engine.configure(root, state, secrets_provider=secrets_provider), full=full)


def _backend_hashes(root: Path, state: Path, secrets_provider: str | None) -> BackendHashes:
    """Earlier waves' applied hashes from the backend, asked only when the records do not know them."""

    def lookup(clusters: Sequence[str]) -> Mapping[str, str | None]:
        from vfleet.apply import engine, runner

        config = engine.configure(root, state, secrets_provider=secrets_provider)
        return runner.backend_hashes(config, root)(clusters)

    return lookup
