"""Fixtures of the policy tier: a real OPA (never mocked), fixture fleets copied next to the policies.

A missing OPA binary FAILS these tests (never a skip): build it with `python -m vfleet.toolchain build opa`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from policykit import CONTRACTS, closed_port
from vfleet import toolchain


@pytest.fixture(scope="session")
def opa() -> Path:
    try:
        return toolchain.binary("opa")
    except toolchain.ToolMissing as missing:
        pytest.fail(f"the policy tier needs OPA: {missing}", pytrace=False)


@pytest.fixture(autouse=True)
def policy_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Chart schemas from the shared contracts, caches in the test's own dir, no shared OPA by accident."""
    monkeypatch.setenv("VFLEET_CHART_SCHEMAS", str(CONTRACTS))
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("VFLEET_OPA_URL", "VFLEET_OPA_TOKEN", "VFLEET_OPA_BIN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def shared_opa(opa: Path, tmp_path: Path) -> Iterator[str]:
    """A separately started, empty OPA server: what a shared policy service looks like to vfleet."""
    port = closed_port()
    log = (tmp_path / "shared-opa.log").open("wb")
    process = subprocess.Popen(
        [str(opa), "run", "--server", "--addr", f"127.0.0.1:{port}", "--skip-version-check", "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "shared OPA did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
