"""Every report vfleet writes, in one registry: (what, format) -> a renderer `render(result, out)`.

`what` names a command's result (`plan`: a `vfleet.plan.Plan`, `status`: a `FleetStatus` ...); `Format`
is how it is written. Every renderer has the same signature, `render(result, out: rich.Console) -> None`:
tables print through `out` (rich markup, colour as rich detects it), JSON, Markdown and HTML write their
text to `out.file`, so a command, a `--json-out FILE` and a golden test all call the same entry.

The table names each renderer by module path and is imported on use: the drift and status renderers
need types whose modules pull in the Kubernetes client, which `vfleet plan` must not pay for.
tests/unit/test_report_golden.py holds one golden file per entry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console


class Format(StrEnum):
    table = "table"  # for people at a terminal
    json = "json"  # for machines: a stable schema per report
    markdown = "markdown"  # a pull-request or issue comment
    html = "html"  # a self-contained page (the status dashboard)


Renderer = Callable[[Any, Console], None]

# (what, format) -> "module:function" under vfleet.report; `formats(what)` lists them in this order
ENTRIES: dict[tuple[str, Format], str] = {
    ("validate", Format.table): "compile:validate_table",
    ("validate", Format.json): "compile:validate_json",
    ("compile", Format.table): "compile:compile_table",
    ("compile", Format.json): "compile:compile_json",
    ("place", Format.table): "compile:place_table",
    ("place", Format.json): "compile:place_json",
    ("tenant", Format.table): "compile:tenant_table",
    ("tenant", Format.json): "compile:tenant_json",
    ("check", Format.table): "policy:check_table",
    ("check", Format.json): "policy:check_json",
    ("policy-test", Format.table): "policy:test_table",
    ("policy-test", Format.json): "policy:test_json",
    ("policy-impact", Format.table): "policy:impact_table",
    ("policy-impact", Format.json): "policy:impact_json",
    ("plan", Format.table): "plan_table:render",
    ("plan", Format.json): "plan_json:render",
    ("plan", Format.markdown): "plan_markdown:write",
    ("drift", Format.table): "drift:table",
    ("drift", Format.json): "drift:json",
    ("drift", Format.markdown): "drift:markdown",
    ("status", Format.table): "status:table",
    ("status", Format.json): "status:json",
    ("status", Format.html): "dashboard:write",
    ("apply", Format.table): "apply:table",
    ("apply", Format.json): "apply:json",
    ("history", Format.table): "apply:history_table",
    ("history", Format.json): "apply:history_json",
    ("stacks", Format.table): "apply:stacks_table",
    ("stacks", Format.json): "apply:stacks_json",
    ("lifecycle", Format.table): "lifecycle:table",
    ("lifecycle", Format.json): "lifecycle:json",
    ("platform", Format.table): "access:platform_table",
    ("platform", Format.json): "access:platform_json",
    ("codeowners", Format.table): "access:codeowners_table",
    ("codeowners", Format.json): "access:codeowners_json",
    ("kubeconfig", Format.table): "access:kubeconfig_table",
    ("kubeconfig", Format.json): "access:kubeconfig_json",
}


class UnknownReport(LookupError):
    """No renderer for this (what, format): a programming error, the CLI offers only what exists."""


def formats(what: str) -> tuple[Format, ...]:
    found = tuple(fmt for (name, fmt) in ENTRIES if name == what)
    if not found:
        raise UnknownReport(f"no report named {what!r}")
    return found


def renderer(what: str, fmt: Format) -> Renderer:
    target = ENTRIES.get((what, fmt))
    if target is None:
        raise UnknownReport(f"{what} has no {fmt.value} report (it has {', '.join(formats(what))})")
    module, _, name = target.partition(":")
    found: Renderer = getattr(importlib.import_module(f"vfleet.report.{module}"), name)
    return found


def render(what: str, fmt: Format, result: Any, out: Console) -> None:
    renderer(what, fmt)(result, out)


def render_to(path: Path, what: str, fmt: Format, result: Any) -> None:
    """The report written to a file (`vfleet plan --json-out`, `vfleet status --html`), parents made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        render(what, fmt, result, Console(file=f, color_system=None, highlight=False, soft_wrap=True))


def json_text(data: Any) -> str:
    """JSON as every report writes it: two-space indent, sorted keys, UTF-8 kept, a final newline."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


def write_text(text: str, out: Console) -> None:
    """Text as it is (JSON, Markdown, HTML): to the console's file, past rich's wrapping and markup."""
    out.file.write(text)
    out.file.flush()


def write_json(data: Any, out: Console) -> None:
    write_text(json_text(data), out)


__all__ = ["ENTRIES", "Format", "Renderer", "UnknownReport", "formats", "json_text", "render", "render_to",
           "renderer", "write_json", "write_text"]
