"""Helpers of the policy tier that tests import (fixtures stay in tests/policy/conftest.py, which is never
imported by name: two conftest modules would shadow each other on sys.path)."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import typer
from typer.testing import CliRunner

from vfleet.cli import policy_cmds

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
FIXTURES = REPO / "tests" / "fixtures" / "policy"
CONTRACTS = (REPO / ".." / "shared" / "contracts").resolve()


def fleet_with_policies(fixture: str, dest: Path, policies: Path = POLICIES) -> Path:
    """A copy of tests/fixtures/policy/<fixture> with the repository's policies/ next to it."""
    shutil.copytree(FIXTURES / fixture, dest, dirs_exist_ok=True)
    shutil.copytree(policies, dest / "policies", dirs_exist_ok=True)
    return dest


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return orjson.loads(self.stdout)


def vfleet(*args: str) -> Run:
    """Run the policy commands as the `vfleet` CLI wires them (`policy_cmds.register`)."""
    app = typer.Typer()
    policy_cmds.register(app)
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there
