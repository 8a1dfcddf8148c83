"""The `vfleet` command: a thin layer over the library.

Each command parses its options, calls one library function, renders the result (table or JSON) and
maps it to an exit code. Exit codes: 0 clean, 1 denied (policy or guard), 2 broken input or a tool
that is missing, 3 changes/drift found (plan, drift).

Each stage's commands are a module of their own with a `register(app)`; `COMMANDS` is the table of
contents. A run imports only the module of the command it runs: the others pull in the Kubernetes
client, HTTP stacks and the apply engine (0.23 s of imports that `vfleet plan` has no use for).
`vfleet --help`, and anything that is not a known command, gets every module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Sequence

import typer

from vfleet.cli.output import say_error
from vfleet.core.errors import VfleetError

# first word of the command line -> the module (vfleet.cli.<module>) that registers it
COMMANDS: dict[str, str] = {
    "validate": "core", "compile": "core", "place": "core", "show": "core",
    "check": "policy_cmds", "policy": "policy_cmds",
    "status": "status_cmds",
    "dev": "dev_cmds",
    "drift": "live_cmds",
    "apply": "apply_cmds", "preview": "apply_cmds", "destroy": "apply_cmds", "history": "apply_cmds",
    "stacks": "apply_cmds",
    "plan": "plan_cmds",
    "codeowners": "access_cmds",
    "lifecycle": "lifecycle_cmds",
    "kubeconfig": "reach_cmds",
}
MODULES = tuple(dict.fromkeys(COMMANDS.values()))  # in the order `vfleet --help` lists them


def build(modules: Iterable[str] = MODULES) -> typer.Typer:
    """The `vfleet` app with the commands of `modules`."""
    app = typer.Typer(
        name="vfleet",
        help="GitOps compiler for fleets of vCluster tenant clusters.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _group() -> None:  # a group even with one module registered: `vfleet plan` keeps its first word
        pass

    for name in modules:
        importlib.import_module(f"vfleet.cli.{name}").register(app)
    return app


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The modules a command line needs: its command's, or all of them (help, typos, no command)."""
    module = COMMANDS.get(argv[0]) if argv else None
    return MODULES if module is None else (module,)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole app, for tests and tools that drive the CLI in-process
        return build()
    raise AttributeError(name)


def main() -> None:
    try:
        build(modules_for(sys.argv[1:]))()
    except VfleetError as exc:
        say_error(exc)
        sys.exit(exc.exit_code)
