"""The one field diff, in the plan's way (lists whole, absent is news) and drift's (by element, absent is null)."""

from __future__ import annotations

from vfleet.core.fielddiff import FieldChange, field_changes

BEFORE = {"rules": [{"verbs": ["get"]}, {"verbs": ["list"]}], "labels": {"a": "1", "gone": "x"}, "note": None}
AFTER = {"rules": [{"verbs": ["get", "watch"]}, {"verbs": ["list"]}], "labels": {"a": "2", "new": "y"}}


def test_a_plan_compares_lists_whole_and_reports_keys_added_and_removed() -> None:
    assert field_changes(BEFORE, AFTER) == [
        FieldChange('labels.a', "changed", "1", "2"),
        FieldChange("labels.gone", "removed", "x", None),
        FieldChange("labels.new", "added", None, "y"),
        FieldChange("note", "removed", None, None),  # present as null, then absent: the plan says so
        FieldChange("rules", "changed", BEFORE["rules"], AFTER["rules"]),
    ]


def test_drift_names_the_list_element_and_takes_an_absent_field_for_null() -> None:
    assert field_changes(BEFORE, AFTER, lists_by_element=True, absent_is_null=True) == [
        FieldChange("labels.a", "changed", "1", "2"),
        FieldChange("labels.gone", "removed", "x", None),
        FieldChange("labels.new", "added", None, "y"),
        FieldChange("rules[0].verbs", "changed", ["get"], ["get", "watch"]),  # lengths differ: one value
    ]


def test_skipped_paths_and_equal_values_give_nothing() -> None:
    assert field_changes(BEFORE, AFTER, skip={("labels",), ("rules",), ("note",)}) == []
    assert field_changes(AFTER, AFTER, lists_by_element=True) == []
    assert field_changes(1, 2) == [FieldChange("(root)", "changed", 1, 2)]
