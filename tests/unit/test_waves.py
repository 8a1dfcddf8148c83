"""waves: the CI matrix by wave, and the refusal of a stack that would run before an earlier wave."""

from __future__ import annotations

from vfleet import waves
from vfleet.core.findings import Location, Severity

WAVES = {"canary": 0, "canary-2": 0, "eu": 1, "us": 2}
DESIRED = {"canary": "c-new", "canary-2": "c2-same", "eu": "eu-new", "us": "us-new"}


def test_matrix_groups_affected_clusters_by_wave_ascending() -> None:
    found = waves.matrix(["us", "eu", "canary", "canary"], WAVES)
    assert found == (waves.Wave(0, ("canary",)), waves.Wave(1, ("eu",)), waves.Wave(2, ("us",)))
    assert waves.matrix([], WAVES) == ()
    assert waves.matrix(["gone"], WAVES) == (waves.Wave(0, ("gone",)),)  # a removed Cluster spec


def test_a_later_wave_waits_for_an_earlier_cluster_not_at_this_commit() -> None:
    applied = {"canary": "c-old", "canary-2": "c2-same"}
    decided = waves.order([("eu", 1)], DESIRED, WAVES, applied,
                          sources={"eu": Location("fleet/clusters/eu.yaml", 12, "spec.rollout.wave")})
    assert decided.waiting == {"eu": ("canary",)} and decided.refused
    (finding,) = decided.findings
    assert (finding.severity, finding.code, finding.subject) == (Severity.ERROR, "apply.wave-order", "cluster:eu")
    assert finding.location == Location("fleet/clusters/eu.yaml", 12, "spec.rollout.wave")
    assert "canary (wave 0)" in finding.message and "--override-wave-order" in finding.message
    assert decided.findings.errors == (finding,)  # an error: nothing runs


def test_earlier_clusters_at_this_commit_or_unchanged_by_it_do_not_hold_a_wave_back() -> None:
    applied = {"canary": "c-new", "canary-2": "c2-same", "eu": "eu-old"}
    decided = waves.order([("us", 2)], DESIRED, WAVES, applied)
    assert decided.waiting == {"us": ("eu",)}  # both canaries are done; eu is not
    assert waves.order([("eu", 1)], DESIRED, WAVES, applied).waiting == {}
    assert not waves.order([("eu", 1)], DESIRED, WAVES, applied).refused


def test_unknown_counts_as_not_applied() -> None:
    """A runner without records for the earlier wave cannot tell: it refuses (fail closed)."""
    assert waves.order([("eu", 1)], DESIRED, WAVES, {}).waiting == {"eu": ("canary", "canary-2")}


def test_earlier_clusters_in_the_same_apply_run_first_and_do_not_wait() -> None:
    decided = waves.order([("canary", 0), ("canary-2", 0), ("eu", 1)], DESIRED, WAVES, {})
    assert decided.waiting == {} and not decided.refused
    assert waves.order([("canary", 0)], DESIRED, WAVES, {}).waiting == {}  # the first wave waits for nobody


def test_an_override_with_a_reason_lets_it_run_and_says_so() -> None:
    decided = waves.order([("us", 2)], DESIRED, WAVES, {}, override="  hotfix INC-42, canary is down  ")
    assert decided.waiting == {"us": ("canary", "canary-2", "eu")} and not decided.refused
    assert decided.override == "hotfix INC-42, canary is down"
    (finding,) = decided.findings
    assert finding.severity is Severity.WARN and "hotfix INC-42" in finding.message


def test_a_blank_override_is_no_override() -> None:
    decided = waves.order([("us", 2)], DESIRED, WAVES, {}, override="   ")
    assert decided.refused and decided.override is None


def test_a_cluster_without_desired_state_is_not_waited_for() -> None:
    """Only clusters the fleet still has at this commit can hold a wave back."""
    assert waves.order([("eu", 1)], {"eu": "x"}, {"old": 0, "eu": 1}, {}).waiting == {}
