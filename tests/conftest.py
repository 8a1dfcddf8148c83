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
