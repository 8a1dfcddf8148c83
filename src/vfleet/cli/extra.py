"""Sub-apps contributed by later stages (policy, dev clusters, plan, apply, live).

Each stage's CLI module owns a `register(app)`; this file only lists them, one line each, so the
stages can grow independently.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from vfleet.cli import dev_cmds, policy_cmds

    policy_cmds.register(app)
    from vfleet.cli import status_cmds; status_cmds.register(app)  # noqa: E702, I001
    app.add_typer(dev_cmds.dev_app, name="dev")
    from vfleet.cli import live_cmds; live_cmds.register(app)  # noqa: E702, I001
    from vfleet.cli import apply_cmds; apply_cmds.register(app)  # noqa: E702, I001
    from vfleet.cli import plan_cmds; plan_cmds.register(app)  # noqa: E702, I001
    from vfleet.cli import access_cmds; access_cmds.register(app)  # noqa: E702, I001
    from vfleet.cli import lifecycle_cmds; lifecycle_cmds.register(app)  # noqa: E702, I001
    from vfleet.cli import reach_cmds; reach_cmds.register(app)  # noqa: E702, I001
