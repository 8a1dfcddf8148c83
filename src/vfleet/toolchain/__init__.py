"""The real external tools vfleet runs, pinned in one place, built from source into a user cache.

Nothing here is downloaded as a prebuilt binary: on the machines vfleet is developed and tested on only
package registries are reachable, so every tool is built from its Go module through the Go module proxy
(see TOOLCHAIN.md in the shared notes for where each recipe comes from and how long it takes).

Layout of the cache (``$VFLEET_TOOLCHAIN_DIR``, else ``$XDG_CACHE_HOME/vfleet/toolchain`` or
``~/.cache/vfleet/toolchain``: vfleet.core.caches)::

    <cache>/<name>-<version>/<name>     one finished binary per pinned tool (the directory appears atomically)
    <cache>/go/                         GOPATH and GOMODCACHE shared by every build, so downloads are reused
    <cache>/logs/<name>-<version>.log   full output of the last build attempt of a tool
    <cache>/.lock                       held while building, so concurrent bootstraps take turns

Usage::

    python -m vfleet.toolchain build [name ...]   # build what is missing (default: every pinned tool)
    python -m vfleet.toolchain path <name>        # print the binary vfleet would run

tools     the pins: each tool's module, version and recipe; the errors
lookup    the binary to run: override, cache, PATH (what vfleet itself calls at run time)
gobuild   the Go builds into the cache
command   the command line above
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vfleet.toolchain.lookup import binary, build_command, cache_dir, env_var, installed_path
from vfleet.toolchain.tools import (
    KUBERNETES_PROVIDER_MODULE_VERSION,
    KUBERNETES_PROVIDER_RELEASE,
    PULUMI_VERSION,
    TOOLS,
    Recipe,
    Tool,
    ToolBuildFailed,
    ToolMissing,
)

if TYPE_CHECKING:
    from vfleet.toolchain.command import main
    from vfleet.toolchain.gobuild import build, write_kubernetes_provider_embeds

__all__ = [
    "KUBERNETES_PROVIDER_MODULE_VERSION",
    "KUBERNETES_PROVIDER_RELEASE",
    "PULUMI_VERSION",
    "TOOLS",
    "Recipe",
    "Tool",
    "ToolBuildFailed",
    "ToolMissing",
    "binary",
    "build",
    "build_command",
    "cache_dir",
    "env_var",
    "installed_path",
    "main",
    "write_kubernetes_provider_embeds",
]


def __getattr__(name: str) -> Any:
    """The build system and its command line are imported when first named: what vfleet runs at run
    time only looks binaries up."""
    home = {"build": "gobuild", "write_kubernetes_provider_embeds": "gobuild", "main": "command"}.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vfleet.toolchain.{home}"), name)
    globals()[name] = value
    return value
