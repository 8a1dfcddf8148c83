"""Fixtures shared by the test tiers. One marked section per subject; keep each one short."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from vfleet import devclusters, toolchain
from vfleet.devclusters import DevCluster

REPO = Path(__file__).resolve().parent.parent


# ========================================================================================= live clusters
# Real loopback clusters (etcd + kube-apiserver + kube-controller-manager) for the `live` tier.
# A missing binary FAILS the tests that need it (never a skip): build it with
# `python -m vfleet.toolchain build`.

LIVE_CLUSTER_NAMES = ("live-a", "live-b")
VCLUSTER_SCHEMA = REPO.parent / "shared" / "contracts" / "vcluster-chart-0.35.3" / "values.schema.json"
TEST_CHART = REPO / "tests" / "chart" / "vcluster-test"


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


def kube_client(cluster: DevCluster, *, admin: bool = True) -> k8s.ApiClient:
    """A kubernetes ApiClient as the cluster's admin, or as the user without any rights."""
    token = cluster.admin_token if admin else cluster.user_token
    configuration = k8s.Configuration(host=cluster.server, api_key={"authorization": f"Bearer {token}"})
    configuration.ssl_ca_cert = str(cluster.ca_file)
    return k8s.ApiClient(configuration)


def helm() -> str:
    """The pinned helm binary; fails (never skips) when it has not been built."""
    try:
        return str(toolchain.binary("helm"))
    except toolchain.ToolMissing as missing:
        pytest.fail(str(missing), pytrace=False)


def copy_test_chart(dest: Path) -> Path:
    """The project's test stand-in of the vcluster chart, with the REAL values schema placed into it."""
    if not VCLUSTER_SCHEMA.is_file():
        pytest.fail(f"the real vcluster values schema is missing: {VCLUSTER_SCHEMA}", pytrace=False)
    chart = dest / "vcluster"
    shutil.copytree(TEST_CHART, chart)
    shutil.copyfile(VCLUSTER_SCHEMA, chart / "values.schema.json")
    return chart


@pytest.fixture(scope="session")
def test_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chart directory (name `vcluster`, 0.35.3) that Helm validates against the real schema."""
    return copy_test_chart(tmp_path_factory.mktemp("chart"))


# ===================================================================================== end live clusters
