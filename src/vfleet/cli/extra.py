"""Sub-apps contributed by later stages (policy, dev clusters, plan, apply, live)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
