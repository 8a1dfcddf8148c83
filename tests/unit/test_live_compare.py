"""The pure parts of live comparison: field-level diffs, and deciding "unchanged" without a dry run."""

from __future__ import annotations

from typing import Any

from vfleet.live.drift import FieldChange, diff
from vfleet.live.unchanged import unchanged

DESIRED: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "np", "namespace": "ns", "labels": {"app.kubernetes.io/managed-by": "vfleet"}},
    "spec": {
        "podSelector": {"matchLabels": {"app": "vcluster"}},
        "ingress": [{"ports": [{"port": 8443}]}],
    },
}
# What the API server keeps for DESIRED applied by vfleet: defaults inside list elements, an atomic
# podSelector tracked as one field, server-set metadata.
FIELDS_V1: dict[str, Any] = {
    "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}},
    "f:spec": {"f:podSelector": {}, "f:ingress": {}},
}


def live(fields: dict[str, Any] = FIELDS_V1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "np",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"app.kubernetes.io/managed-by": "vfleet"},
            "managedFields": [
                {"manager": "vfleet", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}
            ],
        },
        "spec": {
            "podSelector": {"matchLabels": {"app": "vcluster"}},
            "ingress": [{"ports": [{"port": 8443, "protocol": "TCP"}]}],
            "policyTypes": ["Ingress"],
            **spec,
        },
    }


def test_in_sync_with_server_defaults_is_unchanged() -> None:
    assert unchanged(DESIRED, live())


def test_a_changed_value_is_not_unchanged() -> None:
    assert not unchanged(DESIRED, live(podSelector={"matchLabels": {"app": "other"}}))


def test_a_field_vfleet_no_longer_declares_is_not_unchanged() -> None:
    fields = {**FIELDS_V1, "f:spec": {**FIELDS_V1["f:spec"], "f:egress": {}}}
    assert not unchanged(DESIRED, live(fields, egress=[{}]))


def test_a_field_another_manager_took_over_is_not_unchanged() -> None:
    fields = {"f:metadata": FIELDS_V1["f:metadata"], "f:spec": {"f:podSelector": {}}}  # ingress moved away
    assert not unchanged(DESIRED, live(fields))


def test_without_vfleet_s_managed_fields_nothing_is_known() -> None:
    obj = live()
    obj["metadata"]["managedFields"] = [{**obj["metadata"]["managedFields"][0], "operation": "Update"}]
    assert not unchanged(DESIRED, obj)


def test_a_reordered_or_longer_list_is_not_unchanged() -> None:
    assert not unchanged(DESIRED, live(ingress=[{"ports": [{"port": 8443}, {"port": 80}]}]))


def test_diff_names_each_changed_field() -> None:
    before = {"spec": {"hard": {"pods": "5", "requests.cpu": "2"}, "list": [1, 2]}, "metadata": {"labels": {}}}
    after = {
        "spec": {"hard": {"pods": "20", "requests.cpu": "2"}, "list": [1, 3]},
        "metadata": {"labels": {"a/b": "x"}},
    }
    assert diff(before, after) == [
        FieldChange('metadata.labels["a/b"]', "added", None, "x"),
        FieldChange("spec.hard.pods", "changed", "5", "20"),
        FieldChange("spec.list[1]", "changed", 2, 3),
    ]
    assert diff(before, before) == []
