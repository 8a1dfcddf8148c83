"""The patches of a sleep / wake / finish, and the activity read from objects' metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vfleet.lifecycle import act
from vfleet.lifecycle.decide import Action, Facts, Workload
from vfleet.live import activity

NOW = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)


def tenant(cp: Workload, *workloads: Workload, slept: bool = False) -> Facts:
    return Facts("vc-p-t", True, False, cp, workloads, NOW if slept else None, None, None, None, "")


def bodies(planned: list[act.Patch]) -> list[tuple[str, Any]]:
    return [(f"{p.kind}/{p.name}", p.body) for p in planned]


def test_sleep_scales_workloads_first_and_records_counts() -> None:
    found = tenant(Workload("StatefulSet", "t", 2, None, "7"), Workload("Deployment", "web", 3, None, "8"),
                   Workload("StatefulSet", "db", 0, None, "9"))
    planned = act.patches(Action.SLEEP, found, NOW, "schedule", "ci")
    assert bodies(planned) == [
        ("Deployment/web", {"spec": {"replicas": 0}, "metadata": {"annotations": {act.REPLICAS: "3"},
                                                                  "resourceVersion": "8"}}),
        ("StatefulSet/t", {"spec": {"replicas": 0}, "metadata": {"annotations": {
            act.REPLICAS: "2", "vfleet.dev/sleeping": "true", act.SLEPT_BY: "ci", "vfleet.dev/slept-reason": "schedule",
            act.SLEPT_AT: "2026-07-01T18:00:00Z", act.WOKEN_AT: None, "vfleet.dev/woken-reason": None},
            "resourceVersion": "7"}}),
    ]
    assert planned[0].path == "/apis/apps/v1/namespaces/vc-p-t/deployments/web"


def test_an_interrupted_sleep_keeps_the_counts_it_recorded() -> None:
    found = tenant(Workload("StatefulSet", "t", 1, None), Workload("Deployment", "web", 0, 3),
                   Workload("Deployment", "api", 2, 4))
    planned = act.patches(Action.SLEEP, found, NOW, "r", "ci")
    assert [p.what for p in planned] == ["Deployment/api 2 -> 0 (recorded 4)", "StatefulSet/t 1 -> 0"]
    assert planned[0].body == {"spec": {"replicas": 0}}  # the recorded 4 is kept


def test_wake_restores_exactly_the_recorded_counts() -> None:
    found = tenant(Workload("StatefulSet", "t", 0, 2, "5"), Workload("Deployment", "web", 0, 3, "6"),
                   Workload("Deployment", "other", 1, None, "7"), slept=True)
    planned = act.patches(Action.WAKE, found, NOW, "wakeup", "ci")
    assert [p.what for p in planned] == ["StatefulSet/t 0 -> 2", "Deployment/web 0 -> 3"]
    marks = planned[0].body["metadata"]["annotations"]
    assert marks[act.REPLICAS] is None and marks["vfleet.dev/sleeping"] is None and marks[act.SLEPT_AT] is None
    assert marks[act.WOKEN_AT] == "2026-07-01T18:00:00Z"
    assert planned[1].body == {"spec": {"replicas": 3}, "metadata": {"annotations": {act.REPLICAS: None},
                                                                     "resourceVersion": "6"}}


def test_wake_after_a_manual_scale_up_keeps_that_count() -> None:
    planned = act.patches(Action.WAKE, tenant(Workload("StatefulSet", "t", 3, 1), slept=True), NOW, "r", "ci")
    assert planned[0].body["spec"] == {"replicas": 3}


def test_finish_restores_leftovers_only() -> None:
    found = tenant(Workload("StatefulSet", "t", 1, None), Workload("Deployment", "web", 0, 3))
    assert [p.what for p in act.patches(Action.FINISH, found, NOW, "", "ci")] == ["Deployment/web 0 -> 3"]
    assert act.patches(Action.NONE, found, NOW, "", "ci") == []


def meta(**fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "vc-p-t", **fields}}


def test_activity_counts_creation_and_changes_by_people_and_helm() -> None:
    item = meta(creationTimestamp="2026-06-01T00:00:00Z", managedFields=[
        {"manager": "kubectl", "operation": "Apply", "time": "2026-06-03T00:00:00Z"},
        {"manager": "helm", "operation": "Update", "time": "2026-06-02T00:00:00Z"},
    ])
    assert activity.activity_of("ConfigMap", item) == (datetime(2026, 6, 3, tzinfo=UTC),
                                                      "ConfigMap x changed by kubectl")


def test_activity_ignores_what_only_reacts() -> None:
    item = meta(creationTimestamp="2026-06-01T00:00:00Z", managedFields=[
        {"manager": "vfleet-lifecycle", "operation": "Update", "time": "2026-06-09T00:00:00Z"},
        {"manager": "kube-controller-manager", "operation": "Update", "time": "2026-06-09T00:00:00Z"},
        {"manager": "kubelet", "operation": "Update", "time": "2026-06-09T00:00:00Z", "subresource": "status"},
        {"manager": "someone", "operation": "Update", "time": "2026-06-09T00:00:00Z", "subresource": "scale"},
    ])
    assert activity.activity_of("StatefulSet", item) == (datetime(2026, 6, 1, tzinfo=UTC), "StatefulSet x created")
    owned = meta(creationTimestamp="2026-06-05T00:00:00Z",
                 ownerReferences=[{"kind": "StatefulSet", "name": "t", "controller": True}])
    assert activity.activity_of("Pod", owned) is None
