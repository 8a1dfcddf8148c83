"""The one root error of vfleet.

Stages report bad *input* as `Finding`s (all of them at once); exceptions are for conditions that stop
the pipeline as a whole — a tool that is missing, a server that cannot be reached. The CLI maps each
error class to an exit code in one place.
"""

from __future__ import annotations


class VfleetError(Exception):
    """Root of every error vfleet raises on purpose. The message says what, where and how to fix it."""

    exit_code: int = 2
