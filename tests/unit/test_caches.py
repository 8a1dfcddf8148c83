"""One cache folder for vfleet: run caches and built tools under the same XDG rule."""

from __future__ import annotations

from pathlib import Path

from vfleet.core import caches


def test_run_caches_and_tools_share_the_users_cache_folder(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert caches.cache_dir(home) == tmp_path / ".cache" / "vfleet"
    assert caches.toolchain_dir(home) == tmp_path / ".cache" / "vfleet" / "toolchain"
    xdg = {**home, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert caches.cache_dir(xdg) == tmp_path / "xdg" / "vfleet"
    assert caches.toolchain_dir(xdg) == tmp_path / "xdg" / "vfleet" / "toolchain"


def test_each_variable_moves_its_own_part(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), caches.CACHE_ENV: str(tmp_path / "runs")}
    assert caches.cache_dir(env) == tmp_path / "runs"
    assert caches.toolchain_dir(env) == tmp_path / ".cache" / "vfleet" / "toolchain"  # not rebuilt per test
    env = {"HOME": str(tmp_path), caches.TOOLCHAIN_ENV: str(tmp_path / "tools")}
    assert caches.toolchain_dir(env) == tmp_path / "tools"
    assert caches.cache_dir(env) == tmp_path / ".cache" / "vfleet"
