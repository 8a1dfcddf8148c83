"""Helpers of the live tier that tests import (fixtures stay in conftest.py, which is never imported by
name: two conftest modules would shadow each other on sys.path)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import dynamic

from vfleet import toolchain
from vfleet.devclusters import DevCluster

REPO = Path(__file__).resolve().parent.parent
VCLUSTER_SCHEMA = REPO.parent / "shared" / "contracts" / "vcluster-chart-0.35.3" / "values.schema.json"
TEST_CHART = REPO / "tests" / "chart" / "vcluster-test"


def kube_client(cluster: DevCluster, *, admin: bool = True) -> k8s.ApiClient:
    """A kubernetes ApiClient as the cluster's admin, or as the user without any rights."""
    token = cluster.admin_token if admin else cluster.user_token
    configuration = k8s.Configuration(host=cluster.server, api_key={"authorization": f"Bearer {token}"})
    configuration.ssl_ca_cert = str(cluster.ca_file)
    return k8s.ApiClient(configuration)


_DISCOVERY = tempfile.TemporaryDirectory(prefix="vfleet-test-discovery-")  # removed when the tests end


def dynamic_client(api: k8s.ApiClient) -> Any:
    """A DynamicClient whose discovery cache is its own file in a folder removed when the tests end: the
    client's default, /tmp/osrcp-<host>.json, stays for ever and is read by the next cluster on that port."""
    cache = f"{_DISCOVERY.name}/{uuid.uuid4().hex}.json"
    return dynamic.DynamicClient(api, cache_file=cache)


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
