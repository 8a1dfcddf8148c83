"""Fixtures shared by the test tiers. One marked section per subject; keep each one short."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from livekit import REPO, TEST_CHART, VCLUSTER_SCHEMA, copy_test_chart, helm, kube_client  # noqa: F401 - re-exported
from vfleet import devclusters, toolchain
from vfleet.devclusters import DevCluster

# ========================================================================================= live clusters
# Real loopback clusters (etcd + kube-apiserver + kube-controller-manager) for the `live` tier.
# A missing binary FAILS the tests that need it (never a skip): build it with
# `python -m vfleet.toolchain build`.

LIVE_CLUSTER_NAMES = ("live-a", "live-b")


@pytest.fixture(scope="session")
def live_clusters() -> Iterator[list[DevCluster]]:
    """Two running clusters for the whole session; every process is stopped and every dir removed."""
    try:
        clusters = devclusters.start_clusters(LIVE_CLUSTER_NAMES)
    except toolchain.ToolMissing as missing:
        pytest.fail(f"the live tier needs {missing.tool}: {missing}", pytrace=False)
    try:
        yield clusters
    finally:
        devclusters.stop_clusters(clusters)
        left = devclusters.leftovers(clusters)
        assert not left, f"live clusters left behind: {left}"


@pytest.fixture(scope="session")
def test_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chart directory (name `vcluster`, 0.35.3) that Helm validates against the real schema."""
    return copy_test_chart(tmp_path_factory.mktemp("chart"))


# ===================================================================================== end live clusters


# ================================================================================================ caches
# vfleet keeps parsed documents, plan listings and policy verdicts under $VFLEET_CACHE_DIR (else
# ~/.cache/vfleet). Each test gets a folder of its own: nothing lands in the home of whoever runs the
# suite, and no test sees what another kept.


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFLEET_CACHE_DIR", str(tmp_path_factory.mktemp("vfleet-cache")))


# ================================================================================================ tiers
# A test's tier is its folder: tests/unit, tests/policy (a real OPA), tests/live (loopback clusters),
# tests/engine (the Pulumi engine). Every test gets its folder's marker (`pytest -m "not live"` works),
# and a tier marker naming another tier is refused at collection: a test that needs OPA in tests/unit
# would run in the unit tier's `make unit` and fail there for want of a tool.

TIERS = ("unit", "policy", "live", "engine")
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong: list[str] = []
    for item in items:
        folder = Path(str(item.path)).resolve().relative_to(_TESTS).parts[0]
        if folder not in TIERS:
            continue
        marked = {m.name for m in item.iter_markers() if m.name in TIERS} - {folder}
        if marked:
            wrong.append(f"{item.nodeid}: marked {', '.join(sorted(marked))} but lives in tests/{folder}")
        item.add_marker(getattr(pytest.mark, folder))
    if wrong:
        raise pytest.UsageError("tests in the wrong tier folder:\n  " + "\n  ".join(wrong))
