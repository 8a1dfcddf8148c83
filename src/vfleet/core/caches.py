"""Where vfleet keeps what it can rebuild: one folder, outside every repository.

A file a pull request adds must never be unpickled, so no cache lives in the checkout. The folder is
$XDG_CACHE_HOME/vfleet (~/.cache/vfleet when that is unset), and two variables move a part of it:

- $VFLEET_CACHE_DIR: the run caches (parsed documents, plan listings and indexes, kept policy
  verdicts, status records). The test suite gives every test its own.
- $VFLEET_TOOLCHAIN_DIR: the tools built from their Go modules (vfleet.toolchain), `toolchain/` of the
  folder otherwise. Apart from the run caches, so that a test's own cache folder does not send it to
  build OPA again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_ENV = "VFLEET_CACHE_DIR"
TOOLCHAIN_ENV = "VFLEET_TOOLCHAIN_DIR"


def home(env: Mapping[str, str] = os.environ) -> Path:
    """vfleet's folder in the user's cache: $XDG_CACHE_HOME/vfleet, else ~/.cache/vfleet."""
    xdg = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(xdg) / "vfleet"


def cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The run caches: $VFLEET_CACHE_DIR, else `home()`."""
    configured = env.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else home(env)


def toolchain_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The built tools: $VFLEET_TOOLCHAIN_DIR, else `home()`/toolchain."""
    configured = env.get(TOOLCHAIN_ENV)
    return Path(configured).expanduser().absolute() if configured else home(env) / "toolchain"
