"""The fleet dashboard: a `FleetStatus` -> one self-contained static HTML file.

Everything is inside the file (CSS, JavaScript, the data as JSON), so it can be attached to a CI run,
mailed, or opened from disk on an air-gapped machine, and it makes no network request when opened
(a Content-Security-Policy in the page forbids any). The page builds its table from the embedded JSON
with `textContent` only, so nothing from a spec or a cluster can turn into markup there.

The data sits in a `<script type="application/json">` element. Inside it the HTML parser looks for
nothing but `</script` (and `<!--`), so every `<`, `>` and `&` in the JSON is written as a `\\u` escape:
a tenant name, a reason or a Helm message containing `</script><script>...` stays a string.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
from rich.console import Console

from vfleet.live.status_types import FleetStatus
from vfleet.report import write_text

PLACEHOLDER = "/*VFLEET_DATA*/"
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(data: Any) -> str:
    """JSON that is safe as the content of a `<script>` element (and equal to `data` when parsed)."""
    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
    for raw, escaped in _ESCAPES.items():
        if raw in text:  # these characters only occur inside JSON strings, where \\u escapes are exact
            text = text.replace(raw, escaped)
    return text


def template() -> str:
    return (resources.files("vfleet") / "data" / "dashboard.html").read_text(encoding="utf-8")


def render(status: FleetStatus) -> str:
    """The dashboard HTML of `status`."""
    page = template()
    head, sep, tail = page.partition(PLACEHOLDER)
    assert sep, "the dashboard template lost its data placeholder"
    return head + script_json(status.to_json()) + tail


def write(status: FleetStatus, out: Console) -> None:
    write_text(render(status), out)
