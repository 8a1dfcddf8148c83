"""vfleet.policy.verdicts without OPA: units and their digests, how answers are split by unit, the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vfleet.policy import verdicts
from vfleet.policy.partition import Partition
from vfleet.policy.verdicts import Entries, Store, Units, VerdictCache


def _document() -> dict[str, Any]:
    tenants = {f"{p}/t{i}": {"project": p, "name": f"t{i}", "subject": f"tenant:{p}/t{i}", "owner": "o"}
               for p in ("a", "b") for i in range(2)}
    return {"apiVersion": "v1", "clusters": {"c1": {"name": "c1", "usage": {"tenants": 4}}},
            "projects": {p: {"name": p, "subject": f"project:{p}"} for p in ("a", "b")}, "tenants": tenants}


def _entry(subject: str, rule: str = "r") -> dict[str, Any]:
    return {"rule": rule, "subject": subject, "message": "m"}


def test_a_tenant_change_changes_only_its_projects_digest() -> None:
    before = Units.of(_document(), Partition.PROJECT)
    changed = _document()
    changed["tenants"]["b/t1"]["owner"] = "p"
    after = Units.of(changed, Partition.PROJECT)
    assert after.shared == before.shared
    assert after.projects["a"] == before.projects["a"] and after.projects["b"] != before.projects["b"]
    assert before.owner == {"project:a": "a", "project:b": "b", "tenant:a/t0": "a", "tenant:a/t1": "a",
                            "tenant:b/t0": "b", "tenant:b/t1": "b"}


def test_a_shared_change_changes_the_shared_digest_and_one_request_has_one_unit() -> None:
    changed = _document()
    changed["clusters"]["c1"]["usage"]["tenants"] = 5
    assert Units.of(changed, Partition.PROJECT).shared != Units.of(_document(), Partition.PROJECT).shared
    whole = Units.of(_document(), Partition.FLEET)
    assert whole.projects == {} and whole.owner == {}
    changed_tenant = _document()
    changed_tenant["tenants"]["a/t0"]["owner"] = "p"
    assert Units.of(changed_tenant, Partition.FLEET).shared != whole.shared


def test_moving_a_tenant_between_projects_changes_both() -> None:
    moved = _document()
    tenant = moved["tenants"].pop("a/t1")
    moved["tenants"]["b/t1x"] = {**tenant, "project": "b"}
    before, after = Units.of(_document(), Partition.PROJECT), Units.of(moved, Partition.PROJECT)
    assert all(after.projects[p] != before.projects[p] for p in ("a", "b"))


def test_subset_keeps_the_shared_sections_and_only_the_asked_projects() -> None:
    part = verdicts.subset(_document(), ["b"])
    assert part["clusters"] == _document()["clusters"] and part["apiVersion"] == "v1"
    assert list(part["projects"]) == ["b"] and sorted(part["tenants"]) == ["b/t0", "b/t1"]


def test_split_gives_each_entry_to_its_subjects_project_and_the_rest_to_the_shared_unit() -> None:
    units = Units.of(_document(), Partition.PROJECT)
    result = {"deny": [_entry("tenant:a/t0"), _entry("cluster:c1")], "warn": [_entry("project:b")],
              "excepted": [], "errors": [], "violations": [_entry("tenant:a/t0")]}
    split = verdicts.split(result, units)
    assert split == ({"deny": [_entry("cluster:c1")]},
                     {"a": {"deny": [_entry("tenant:a/t0")]}, "b": {"warn": [_entry("project:b")]}})
    shared, projects = split
    assert verdicts.result_of([shared, *projects.values()]) == {
        "deny": [_entry("cluster:c1"), _entry("tenant:a/t0")], "warn": [_entry("project:b")], "excepted": [],
        "errors": []}


@pytest.mark.parametrize("result", [
    {"deny": [], "errors": [{"kind": "config", "message": "bad"}]},  # a mistake is reported again, never kept
    {"deny": {"not": "a set"}},
    {"deny": ["not an entry"]},
    {"deny": [{"rule": "r", "message": "no subject"}]},
])
def test_an_answer_that_is_not_clean_is_not_split(result: dict[str, Any]) -> None:
    assert verdicts.split(result, Units.of(_document(), Partition.PROJECT)) is None


def test_the_store_reads_back_what_was_written_and_damage_reads_as_empty(tmp_path: Path) -> None:
    cache = VerdictCache.at(tmp_path)
    units = Units.of(_document(), Partition.PROJECT)
    assert cache.read("policies", units) == Store(None, {})
    kept = Store({"deny": [_entry("cluster:c1")]}, {units.projects["a"]: {}, units.projects["b"]: {"warn": []}})
    cache.write("policies", units, kept)
    assert cache.read("policies", units) == kept
    assert cache.read("other policies", units) == Store(None, {})  # another policy set: another store
    (stored,) = cache.directory.glob("*.json")
    for damage in (b"{", b'{"shared": 3, "projects": {}}', b'{"shared": null}', b"[]"):
        stored.write_bytes(damage)
        assert cache.read("policies", units) == Store(None, {})


def test_a_store_keeps_the_current_units_and_as_many_others_at_most(tmp_path: Path) -> None:
    cache = VerdictCache.at(tmp_path)
    units = Units.of(_document(), Partition.PROJECT)
    others: dict[str, Entries] = {f"old-{i}": {} for i in range(5)}
    cache.write("p", units, Store({}, {**others, units.projects["a"]: {}, units.projects["b"]: {}}))
    kept = cache.read("p", units).projects
    assert {units.projects["a"], units.projects["b"]} <= kept.keys() and len(kept) == 4


def test_only_the_most_recently_used_stores_are_kept(tmp_path: Path) -> None:
    cache = VerdictCache.at(tmp_path)
    documents = []
    for i in range(verdicts.KEEP + 3):
        document = _document()
        document["clusters"]["c1"]["usage"]["tenants"] = i
        units = Units.of(document, Partition.PROJECT)
        cache.write("p", units, Store({}, {}))
        path = cache._path("p", units)
        os.utime(path, ns=(i * 10**9, i * 10**9))  # written one second apart
        documents.append(units)
    cache.write("p", documents[-1], Store({}, {}))  # prunes
    assert len(list(cache.directory.glob("*.json"))) == verdicts.KEEP
    assert cache.read("p", documents[0]) == Store(None, {})  # the oldest went
    assert cache.read("p", documents[-2]).shared == {}


def test_a_store_that_cannot_be_written_costs_nothing_but_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = VerdictCache(blocked / "verdicts")
    units = Units.of(_document(), Partition.PROJECT)
    cache.write("p", units, Store({}, {}))  # no exception
    assert cache.read("p", units) == Store(None, {})
