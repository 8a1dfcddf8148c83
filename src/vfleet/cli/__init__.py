"""The `vfleet` command: a thin layer over the library.

Each command parses its options, calls one library function, renders the result (table or JSON) and
maps it to an exit code. Exit codes: 0 clean, 1 denied (policy or guard), 2 broken input or a tool
that is missing, 3 changes/drift found (plan, drift).
"""

from __future__ import annotations

import sys

import typer

from vfleet.cli import core
from vfleet.cli.output import console
from vfleet.errors import VfleetError

app = typer.Typer(
    name="vfleet",
    help="GitOps compiler for fleets of vCluster tenant clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
core.register(app)


def _register_optional() -> None:
    """Sub-apps of other stages; each is a module of its own so the CLI stays a table of contents."""
    from vfleet.cli import extra

    extra.register(app)


_register_optional()


def main() -> None:
    try:
        app()
    except VfleetError as exc:
        console(stderr=True).print(f"[bold red]error:[/] {exc}")
        sys.exit(exc.exit_code)
