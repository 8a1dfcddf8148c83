"""Finding the binary to run for a tool: an override, the pinned build in the cache, or PATH."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from vfleet.core import caches
from vfleet.core.errors import VfleetError
from vfleet.toolchain.tools import TOOLS, Tool, ToolMissing


def cache_dir() -> Path:
    """Where built tools live: outside any repository, so every checkout and worktree shares them
    (vfleet.core.caches: $VFLEET_TOOLCHAIN_DIR, else toolchain/ of vfleet's folder in the user's cache)."""
    return caches.toolchain_dir()


def env_var(name: str) -> str:
    """The variable that overrides a tool's binary: VFLEET_KUBE_APISERVER_BIN for kube-apiserver."""
    return "VFLEET_" + name.upper().replace("-", "_") + "_BIN"


def build_command(name: str) -> str:
    return f"python -m vfleet.toolchain build {name}"


def installed_path(name: str) -> Path:
    """Where the pinned binary of `name` is (or would be) in the cache."""
    tool = pinned(name)
    return cache_dir() / tool.dirname / tool.name


def binary(name: str, env: Mapping[str, str] | None = None) -> Path:
    """The program to run for tool `name`.

    Order: the `VFLEET_<NAME>_BIN` override (always wins, so tests can simulate a missing tool), then
    the pinned build in the cache, then the same-named program on PATH. Names that are not pinned here
    (e.g. "go") are looked up the same way, minus the cache. `env` (default: this process's) is where
    the override and PATH are read.
    """
    env = os.environ if env is None else env
    override = env.get(env_var(name))
    if override is not None:
        return _from_override(name, override)
    if name in TOOLS:
        cached = installed_path(name)
        if is_executable(cached):
            return cached
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found:
        return Path(found)
    raise ToolMissing(name, _missing_message(name))


def _from_override(name: str, value: str) -> Path:
    # shutil.which accepts both a path and a bare program name, and checks that it is executable.
    found = shutil.which(value) if value else None
    if not found:
        problem = f"{env_var(name)}={value!r} is not an executable program."
        raise ToolMissing(name, f"{name} is missing: {problem}" + _how_to_get(name))
    return Path(found)


def _missing_message(name: str) -> str:
    if name in TOOLS:
        where = f"not built in the toolchain cache ({installed_path(name)}) and not on PATH."
    else:
        where = "not on PATH."
    return f"{name} is missing: {where}" + _how_to_get(name)


def _how_to_get(name: str) -> str:
    if name in TOOLS:
        tool = TOOLS[name]
        return f" Build it ({tool.module} {tool.version}) with: {build_command(name)}"
    return f" vfleet does not build {name}; install it on PATH or set {env_var(name)}."


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def pinned(name: str) -> Tool:
    try:
        return TOOLS[name]
    except KeyError:
        known = ", ".join(TOOLS)
        raise VfleetError(f"unknown tool {name!r}; the toolchain pins: {known}") from None
