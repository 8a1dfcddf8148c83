"""The policy input in parts (vfleet.policy.partition) against a real OPA: the same verdicts as one request.

The violations fixture breaks every shipped rule once, across two projects and clusters; cut into parts of
one tenant each (every project its own part), the verdicts, their file:line and the exit code must be
exactly those of the whole fleet in one request, on local OPA processes and on a shared server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policykit import fleet_with_policies
from vfleet import policy
from vfleet.policy import partition

pytestmark = pytest.mark.policy

CROSS_PROJECT_RULE = """package vfleet.rules.fleetwide

import data.vfleet.lib

# Compares tenants of different projects: a rule that needs the whole fleet in one request.
violation contains lib.violation("fleet-size", t.subject, sprintf("%d tenants", [count(input.tenants)]), []) if {
	some t in input.tenants
	t.name == "shop"
}
"""


def _set(root: Path, **settings: object) -> None:
    data = root / "policies" / "data.yaml"
    config = yaml.safe_load(data.read_text())
    config["vfleet"]["config"].update(settings)
    data.write_text(yaml.safe_dump(config))


def _verdicts(root: Path, opa_url: str | None = None) -> tuple[set[tuple[object, ...]], int, int]:
    report = policy.check(root, opa_url=opa_url)
    rows: set[tuple[object, ...]] = {(f.severity.value, f.code, f.subject, f.location.file if f.location else None,
             f.location.line if f.location else None, f.message) for f in report.findings}
    return rows, report.exit_code, len(report.verdicts)


@pytest.fixture
def whole(tmp_path: Path) -> tuple[set[tuple[object, ...]], int, int]:
    root = fleet_with_policies("violations", tmp_path / "whole")
    _set(root, inputPartition="fleet")
    return _verdicts(root)


def test_parts_of_one_project_give_the_verdicts_of_the_whole_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: tuple[set[tuple[object, ...]], int, int]
) -> None:
    monkeypatch.setattr(partition, "TENANTS_PER_PART", 1)
    root = fleet_with_policies("violations", tmp_path / "parts")
    assert yaml.safe_load((root / "policies" / "data.yaml").read_text())["vfleet"]["config"]["inputPartition"] \
        == "project"  # the shipped library declares itself partitionable
    compiled_input = policy.input_for(policy.check(root).compiled)  # type: ignore[arg-type]
    assert len(partition.bodies(compiled_input.document, partition.Partition.PROJECT)) == 2
    rows, exit_code, count = _verdicts(root)
    assert (rows, exit_code, count) == whole
    assert exit_code == 1 and count >= 25


def test_parts_on_a_shared_server_give_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_opa: str,
    whole: tuple[set[tuple[object, ...]], int, int],
) -> None:
    monkeypatch.setattr(partition, "TENANTS_PER_PART", 1)
    root = fleet_with_policies("violations", tmp_path / "parts")
    assert _verdicts(root, opa_url=shared_opa) == whole


def test_a_fleet_wide_rule_sees_every_tenant_when_the_policies_ask_for_one_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partition, "TENANTS_PER_PART", 1)
    root = fleet_with_policies("violations", tmp_path / "fleet")
    (root / "policies" / "rules" / "fleetwide.rego").write_text(CROSS_PROJECT_RULE)
    _set(root, inputPartition="fleet")
    report = policy.check(root)
    tenants = len(report.compiled.fleet.tenants) if report.compiled else 0
    sizes = [f.message for f in report.findings if f.code == "policy.fleet-size"]
    assert sizes == [f"{tenants} tenants"] and tenants > 2


def test_an_unknown_partition_setting_is_an_error_and_no_verdict(tmp_path: Path) -> None:
    root = fleet_with_policies("violations", tmp_path / "fleet")
    _set(root, inputPartition="tenant")
    report = policy.check(root)
    errors = [f for f in report.findings if f.code == "policy.config"]
    assert report.exit_code == 2 and not report.verdicts
    assert len(errors) == 1 and "inputPartition is 'tenant'" in errors[0].message


def test_an_input_that_cannot_be_serialised_is_a_policy_error_not_a_pass(tmp_path: Path) -> None:
    from vfleet import compile as compiler
    from vfleet.policy import evaluate
    from vfleet.policy.policyset import PolicyError, PolicySet
    from vfleet.policy.server import serve
    from vfleet.repo.tree import open_tree

    root = fleet_with_policies("violations", tmp_path / "fleet")
    document = policy.input_for(compiler.compile_fleet(root))
    next(iter(document.document["tenants"].values()))["when"] = object()
    with serve(PolicySet.from_tree(open_tree(root)), env={}) as engine, pytest.raises(PolicyError) as failed:
        evaluate.evaluate(engine, document)
    assert failed.value.code == "policy.input" and "cannot be serialised as JSON" in str(failed.value)
