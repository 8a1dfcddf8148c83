"""vfleet.policy.partition without OPA: how the input is cut, and how the parts' answers are merged."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest

from vfleet.policy import partition
from vfleet.policy.partition import Partition


def _document(sizes: dict[str, int]) -> dict[str, Any]:
    tenants = {f"{p}/t{i}": {"project": p, "name": f"t{i}"} for p, n in sizes.items() for i in range(n)}
    return {"apiVersion": "v1", "clusters": {"c1": {"name": "c1"}}, "teams": {},
            "projects": {p: {"name": p} for p in sizes}, "tenants": tenants}


def _parts(document: dict[str, Any], per_part: int) -> list[dict[str, Any]]:
    return [orjson.loads(b)["input"] for b in partition.bodies(document, Partition.PROJECT, per_part)]


def test_parts_hold_whole_projects_and_every_tenant_and_project_once() -> None:
    document = _document({"a": 3, "b": 1, "c": 4, "d": 0, "e": 2})
    parts = _parts(document, per_part=4)
    assert [sorted(p["projects"]) for p in parts] == [["a", "b"], ["c"], ["d", "e"]]
    tenants = [key for p in parts for key in p["tenants"]]
    assert sorted(tenants) == sorted(document["tenants"])
    for part in parts:
        assert {t["project"] for t in part["tenants"].values()} <= set(part["projects"])
        assert part["clusters"] == document["clusters"] and part["apiVersion"] == "v1"


def test_a_project_bigger_than_a_part_stays_whole() -> None:
    parts = _parts(_document({"big": 10, "small": 1}), per_part=3)
    assert [len(p["tenants"]) for p in parts] == [10, 1]


def test_the_fleet_setting_and_small_fleets_send_one_request() -> None:
    document = _document({"a": 3, "b": 3})
    assert len(partition.bodies(document, Partition.FLEET, 1)) == 1
    assert len(partition.bodies(document, Partition.PROJECT, 6)) == 1
    assert orjson.loads(partition.bodies(document, Partition.FLEET, 1)[0]) == {"input": document}


def test_merge_unites_the_sets_each_entry_once_and_sums_metrics() -> None:
    shared = {"rule": "cluster-capacity", "subject": "cluster:c1", "message": "full"}
    first: dict[str, Any] = {
        "result": {"deny": [shared, {"rule": "r", "subject": "tenant:a/x", "message": "m"}], "warn": [], "errors": []},
        "metrics": {"timer_rego_query_eval_ns": 5}}
    second: dict[str, Any] = {
        "result": {"deny": [dict(reversed(shared.items()))], "warn": [{"rule": "w", "subject": "s", "message": "m"}],
                   "errors": []},
        "metrics": {"timer_rego_query_eval_ns": 7}}
    merged = partition.merge([first, second])
    assert merged["result"]["deny"] == first["result"]["deny"]
    assert merged["result"]["warn"] == second["result"]["warn"]
    assert merged["metrics"] == {"timer_rego_query_eval_ns": 12}


def test_a_part_without_a_result_is_passed_on_for_evaluate_to_refuse() -> None:
    assert partition.merge([{"result": {"deny": []}}, {}]) == {}


def test_the_setting_is_checked() -> None:
    assert partition.mode(None) is Partition.FLEET
    assert partition.mode("project") is Partition.PROJECT
    assert isinstance(partition.mode(["project"]), str) and not isinstance(partition.mode(3), Partition)


def test_bodies_are_serialised_only_when_read_and_a_bad_value_fails_then() -> None:
    document = _document({"a": 2, "b": 2})
    document["tenants"]["b/t1"]["when"] = object()  # not JSON: what a builder bug would leave
    cut = partition.bodies(document, Partition.PROJECT, 2)
    assert len(cut) == 2 and cut.seconds == 0.0  # nothing serialised yet
    assert orjson.loads(cut[0])["input"]["tenants"].keys() == {"a/t0", "a/t1"}
    assert cut.seconds > 0.0
    try:
        cut[1]
    except partition.BodyError as exc:
        assert "not JSON serializable" in str(exc)
    else:
        raise AssertionError("an unserialisable part was sent")


@pytest.mark.parametrize(("tenants", "lanes", "size"), [
    (1000, 2, 500),  # too few for a full part each, enough for one part per lane
    (1000, 1, 1000),
    (400, 2, 400),  # two parts would hold fewer than MIN_TENANTS_PER_PART each
    (500, 4, 250),
    (10000, 2, 2500),  # full parts already give every lane work
    (10001, 2, 2001),  # five parts, as even as whole tenants allow
    (0, 2, 1),
])
def test_part_size_fills_every_lane_when_the_fleet_is_big_enough(tenants: int, lanes: int, size: int) -> None:
    assert partition.part_size(tenants, 2500, lanes) == size


def test_a_small_fleet_is_cut_in_one_part_per_lane() -> None:
    document = _document({f"p{i}": 50 for i in range(20)})  # 1,000 tenants
    assert len(partition.bodies(document, Partition.PROJECT, lanes=2)) == 2
    assert len(partition.bodies(document, Partition.PROJECT, lanes=1)) == 1


def test_lanes_are_started_up_front_only_for_policies_that_take_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)  # partition asks os.cpu_count()
    assert partition.lanes_to_start("project") == partition.MAX_LANES
    assert partition.lanes_to_start(None) == partition.lanes_to_start("fleet") == 1
    assert partition.lanes_to_start(["odd"]) == 1


def test_each_opa_process_gets_what_the_check_budget_leaves_between_256_and_512_mib() -> None:
    from vfleet.policy.local import lane_memory

    assert lane_memory(1, 100_000) == "512MiB"  # one process: the whole fleet may come in one request
    assert lane_memory(2, None) == "256MiB"  # size unknown: the least
    assert lane_memory(2, 10_000) == "512MiB"  # vfleet holds ~250 MiB: room for both at their most
    assert lane_memory(2, 90_000) == "512MiB"  # 3,072 - 2,021 MiB, halved: more than the most
    assert lane_memory(2, 100_000) == "384MiB"  # 3,072 - 2,246 MiB, halved, in steps of 64
    assert lane_memory(2, 110_000) == "256MiB"  # vfleet holds ~2.4 GiB: both at their least
    assert lane_memory(4, 90_000) == "256MiB"  # more processes share what is left
    sizes = [lane_memory(2, n) for n in range(0, 150_001, 5_000)]
    assert [int(s.removesuffix("MiB")) for s in sizes] == sorted((int(s.removesuffix("MiB")) for s in sizes),
                                                                 reverse=True)
