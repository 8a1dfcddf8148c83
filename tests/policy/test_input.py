"""The policy input document: numbers, sums, inherited settings and sources, as policies see them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from policykit import CONTRACTS, FIXTURES, fleet_with_policies
from vfleet import compile as compiler
from vfleet import policy


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    compiled = compiler.compile_fleet(FIXTURES / "violations", env={"VFLEET_CHART_SCHEMAS": str(CONTRACTS)})
    assert not compiled.findings.errors, compiled.findings.errors
    doc: dict[str, Any] = policy.input_for(compiled).document
    return doc


def test_sections_and_subjects(document: dict[str, Any]) -> None:
    assert document["apiVersion"] == "vfleet.dev/policy-input/v1"
    assert set(document) >= {"clusters", "projects", "templates", "nodeProviders", "teams", "tenants"}
    assert document["tenants"]["apps/shop"]["subject"] == "tenant:apps/shop"
    assert document["projects"]["quota"]["subject"] == "project:quota"
    assert document["nodeProviders"]["metal"]["subject"] == "nodeprovider:metal"
    assert document["tenants"]["apps/shop"]["source"] == {"file": "fleet/projects/apps/tenants/shop.yaml", "line": 1}


def test_quantities_are_numbers(document: dict[str, Any]) -> None:
    alpha = document["clusters"]["alpha"]["capacity"]
    assert alpha == {"cpu": 100, "memory": 2**40, "storage": 10 * 2**40, "gpus": 8, "maxTenants": 50}
    heavy = document["tenants"]["apps/heavy"]
    assert heavy["resources"] == {"cpu": 2, "memory": 2**30, "storage": 2**30, "gpus": 0}
    assert document["nodeProviders"]["metal"]["nodeTypes"]["gpu-a"]["resources"]["nvidia.com/gpu"] == 1


def test_usage_is_summed_per_project_cluster_and_node_type(document: dict[str, Any]) -> None:
    usage = document["projects"]["quota"]["usage"]
    assert usage == {"tenants": 2, "awakeTenants": 2, "cpu": 2, "memory": 2 * 2**30, "storage": 2 * 2**30,
                     "gpus": 1, "templates": {"basic": 2}, "nodeClaims": {"metal": 1}}
    assert document["clusters"]["small"]["usage"]["tenants"] == 2
    assert document["nodeProviders"]["metal"]["nodeTypes"]["gpu-a"]["claimed"] == 2
    assert document["nodeProviders"]["metal"]["nodeTypes"]["cpu-b"]["claimed"] == 2


def test_tenants_carry_resolved_settings_and_rendered_values(document: dict[str, Any]) -> None:
    tenant = document["tenants"]["apps/open-net"]
    assert tenant["template"] == "basic" and tenant["version"] == "1.0.0" and tenant["versionRequested"] is None
    assert tenant["podSecurity"] == "baseline"  # the project's default
    assert tenant["parameters"]["syncNetworkPolicies"] is True
    assert tenant["values"]["sync"]["toHost"]["networkPolicies"]["enabled"] is True
    assert tenant["cluster"] == "alpha" and tenant["awake"] is True
    assert document["tenants"]["apps/sandbox"]["sleep"] is None  # neither its own nor a project default
    members = document["projects"]["apps"]["members"]
    assert members == [{"user": "alice", "role": "admin"}, {"team": "core", "role": "user"},
                       {"group": "oidc-apps", "role": "viewer"}]  # only the keys that are set


@pytest.mark.policy
def test_sums_are_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three tenants of 100m against a quota of 300m: equal, not 0.30000000000000004 > 0.3."""
    root = fleet_with_policies("impact", tmp_path / "fleet")
    project = root / "fleet" / "projects" / "team" / "project.yaml"
    project.write_text(project.read_text().replace("  templates:\n", '  quotas:\n    cpu: 300m\n  templates:\n', 1))
    for name in ("api", "web", "batch"):
        tenant = root / "fleet" / "projects" / "team" / "tenants" / f"{name}.yaml"
        tenant.write_text(tenant.read_text() + '  parameters:\n    cpu: 100m\n')
    (root / "fleet" / "projects" / "team" / "tenants" / "jobs.yaml").unlink()
    (root / "fleet" / "projects" / "team" / "tenants" / "scratch.yaml").unlink()
    lock = root / "fleet" / "placement.lock"
    lock.write_text("".join(line for line in lock.read_text().splitlines(keepends=True)
                            if "jobs" not in line and "scratch" not in line))
    report = policy.check(root)
    assert report.compiled is not None
    document = policy.input_for(report.compiled).document
    assert document["projects"]["team"]["usage"]["cpu"] == 0.3
    assert document["projects"]["team"]["quotas"]["cpu"] == 0.3
    assert report.exit_code == 0, [f.message for f in report.findings]


def test_the_input_serialises_deterministically(document: dict[str, Any]) -> None:
    first = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    assert first == orjson.dumps(orjson.loads(first), option=orjson.OPT_SORT_KEYS)


def test_durations_are_given_in_whole_seconds(tmp_path: Path) -> None:
    root = fleet_with_policies("impact", tmp_path / "fleet")
    api = root / "fleet" / "projects" / "team" / "tenants" / "api.yaml"
    api.write_text(api.read_text() + "  sleep:\n    afterInactivity: 90m\n")
    compiled = compiler.compile_fleet(root, env={"VFLEET_CHART_SCHEMAS": str(CONTRACTS)})
    assert not compiled.findings.errors, compiled.findings.errors
    sleep = policy.input_for(compiled).document["tenants"]["team/api"]["sleep"]
    assert sleep["afterInactivity"] == "90m"
    assert sleep["afterInactivitySeconds"] == 5400 and isinstance(sleep["afterInactivitySeconds"], int)
