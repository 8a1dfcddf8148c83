"""A real headless Chromium (Debian's package), driven over the DevTools protocol, for page tests.

No browser automation library is needed: Chromium speaks the DevTools protocol over a WebSocket, and
`websocket-client` comes with the `kubernetes` package. A missing Chromium FAILS the tests that need it
(never a skip); `make test` installs it where it is missing.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websocket

CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
_START_TIMEOUT_S = 30.0


def chromium() -> str:
    """The browser binary: $VFLEET_CHROMIUM, else the first of CANDIDATES on PATH; fails when none is."""
    found = os.environ.get("VFLEET_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
    if not found:
        pytest.fail(
            "no headless Chromium found (tried $VFLEET_CHROMIUM and " + ", ".join(CANDIDATES) + "); "
            "install Debian's: apt-get install chromium-headless-shell (make test does)",
            pytrace=False,
        )
    return found


class Browser:
    """One headless Chromium with one page; `with Browser() as b: b.open(url); b.eval('1+1')`."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="vfleet-chromium-"))
        self.process = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "--window-size=1400,1000", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        try:
            port = self._port()
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/json/list", timeout=10
            ) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                                  suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.process.returncode}")
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port in time")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; events that arrive meanwhile are kept in `events`."""
        call = next(self._ids)
        self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result") or {})
            self.events.append(message)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (scripts of the page have run by then)."""
        self.send("Page.enable")
        self.send("Network.enable")
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, "the page did not finish loading"
            self.events.append(json.loads(self.ws.recv()))

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self) -> list[str]:
        """URLs of every request the page made since it was opened (the page itself included)."""
        sent = [e for e in self.events if e.get("method") == "Network.requestWillBeSent"]
        return [e["params"]["request"]["url"] for e in sent]

    def screenshot(self, path: Path) -> Path:
        height = self.eval("document.documentElement.scrollHeight") or 1000
        self.send("Emulation.setDeviceMetricsOverride", width=1400, height=min(int(height), 4000),
                  deviceScaleFactor=1, mobile=False)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
