"""Sleep / wake / finish and deletion decisions: pure, table-tested over fixed clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vfleet.lifecycle.decide import Action, Facts, Workload, decide_delete, decide_sleep, expiry_instant
from vfleet.specs import AutoDelete, Sleep


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


def facts(replicas: int = 1, *, recorded: int | None = None, slept_at: datetime | None = None,
          woken_at: datetime | None = None, activity: datetime | None = None,
          workloads: tuple[Workload, ...] = (), cp: bool = True, deleting: bool = False) -> Facts:
    control = Workload("StatefulSet", "t", replicas, recorded, "1") if cp else None
    return Facts("vc-p-t", True, deleting, control, workloads, slept_at, "why" if slept_at else None, woken_at,
                 activity, "ConfigMap x created" if activity else "")


# Weekday nights in Berlin: sleep 20:00, wake 08:00. 2026-07-01 is a Wednesday (CEST, UTC+2).
NIGHTS: dict[str, Any] = {"schedule": "0 20 * * 1-5", "wakeup": "0 8 * * 1-5", "timezone": "Europe/Berlin"}
EVENING = utc(2026, 7, 1, 18, 30)  # 20:30 local
MORNING = utc(2026, 7, 2, 6, 5)  # 08:05 local
NOON = utc(2026, 7, 1, 10, 0)


@pytest.mark.parametrize(
    ("sleep", "found", "now", "action", "reason"),
    [
        # schedule window
        (NIGHTS, facts(), EVENING, Action.SLEEP, "schedule '0 20 * * 1-5' fired at 2026-07-01T18:00:00Z"),
        (NIGHTS, facts(), NOON, Action.NONE, ""),
        (NIGHTS, facts(0, recorded=2, slept_at=utc(2026, 7, 1, 18, 1)), MORNING, Action.WAKE,
         "wakeup '0 8 * * 1-5' fired at 2026-07-02T06:00:00Z"),
        (NIGHTS, facts(0, recorded=2, slept_at=utc(2026, 7, 1, 18, 1)), EVENING, Action.NONE,
         "asleep since 2026-07-01T18:01:00Z (why)"),
        # woken inside the window (by a pin since removed): the spent fire does not sleep it again
        (NIGHTS, facts(woken_at=utc(2026, 7, 1, 18, 20)), EVENING, Action.NONE, ""),
        # ... but the next evening's fire does
        (NIGHTS, facts(woken_at=utc(2026, 7, 1, 18, 20)), EVENING + timedelta(days=1), Action.SLEEP,
         "schedule '0 20 * * 1-5' fired at 2026-07-02T18:00:00Z"),
        # weekend: Friday's 20:00 fire holds until Monday's 08:00 wakeup
        (NIGHTS, facts(), utc(2026, 7, 4, 12, 0), Action.SLEEP, "schedule '0 20 * * 1-5' fired at "
         "2026-07-03T18:00:00Z"),
        # precedence 1: asleep by spec, nothing else matters
        ({**NIGHTS, "sleeping": True}, facts(0), MORNING, Action.NONE, "sleeping: true in the spec (apply scales it)"),
        # precedence 2: pinned awake by an explicit `sleeping: false`
        ({**NIGHTS, "sleeping": False}, facts(), EVENING, Action.NONE, "sleeping: false in the spec pins it awake"),
        ({**NIGHTS, "sleeping": False}, facts(0, recorded=1, slept_at=utc(2026, 7, 1, 18, 1)), EVENING, Action.WAKE,
         "sleeping: false in the spec pins it awake"),
        ({"afterInactivity": "1h", "sleeping": False}, facts(activity=utc(2026, 1, 1)), NOON, Action.NONE,
         "sleeping: false in the spec pins it awake"),
        # inactivity
        ({"afterInactivity": "1h"}, facts(activity=NOON - timedelta(minutes=59)), NOON, Action.NONE, ""),
        ({"afterInactivity": "1h"}, facts(activity=NOON - timedelta(hours=1)), NOON, Action.SLEEP,
         "inactive since 2026-07-01T09:00:00Z (afterInactivity 1h)"),
        # a wake counts as activity for sleeping (not for deleting)
        ({"afterInactivity": "1h"}, facts(activity=utc(2026, 6, 1), woken_at=NOON - timedelta(minutes=30)), NOON,
         Action.NONE, ""),
        # asleep by lifecycle, and the rule that slept it is gone
        (None, facts(0, recorded=1, slept_at=utc(2026, 7, 1, 9, 0)), NOON, Action.WAKE,
         "its spec has no sleep rule any more"),
        # scaled up by someone else while asleep: finish the wake
        ({"afterInactivity": "1h"}, facts(3, recorded=1, slept_at=utc(2026, 7, 1, 9, 0)), NOON, Action.WAKE,
         "its control plane was scaled up since vfleet put it to sleep: finishing the wake"),
        # an interrupted run left a workload scaled down on an awake tenant
        (None, facts(workloads=(Workload("Deployment", "web", 0, 2),)), NOON, Action.FINISH,
         "restoring Deployment/web left scaled down by an interrupted run"),
        # nothing to act on
        (NIGHTS, facts(cp=False), EVENING, Action.NONE, "no vcluster StatefulSet on the cluster"),
        (NIGHTS, facts(deleting=True), EVENING, Action.NONE, "its namespace is being deleted"),
        (NIGHTS, facts(0), EVENING, Action.NONE, "scaled to 0 by something other than vfleet lifecycle"),
    ],
)
def test_decide_sleep(sleep: dict[str, Any] | None, found: Facts, now: datetime, action: Action, reason: str
                      ) -> None:
    decision = decide_sleep(Sleep.model_validate(sleep) if sleep is not None else None, found, now)
    assert (decision.action, decision.reason) == (action, reason)


def test_across_the_berlin_spring_change() -> None:
    """A 02:30 wakeup on the night the clocks skip 02:00-03:00 wakes the tenant at 03:00 local."""
    sleep = Sleep.model_validate({"schedule": "0 22 * * *", "wakeup": "30 2 * * *", "timezone": "Europe/Berlin"})
    asleep = facts(0, recorded=1, slept_at=utc(2026, 3, 28, 21, 0))  # 22:00 CET
    assert decide_sleep(sleep, asleep, utc(2026, 3, 29, 0, 59)).action is Action.NONE  # 01:59 CET
    assert decide_sleep(sleep, asleep, utc(2026, 3, 29, 1, 0)).action is Action.WAKE  # 03:00 CEST


def test_across_the_new_york_fall_change() -> None:
    """01:30 happens twice on 2026-11-01 in New York; the sleep fires once, at the first."""
    sleep = Sleep.model_validate({"schedule": "30 1 * * *", "wakeup": "0 7 * * *", "timezone": "America/New_York"})
    first = utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert decide_sleep(sleep, facts(), first).action is Action.SLEEP
    woken = facts(woken_at=first + timedelta(minutes=10))  # woken by hand after the first 01:30
    assert decide_sleep(sleep, woken, utc(2026, 11, 1, 6, 40)).action is Action.NONE  # the second 01:30 EST


def test_the_next_event_is_reported() -> None:
    decision = decide_sleep(Sleep.model_validate(NIGHTS), facts(), NOON)
    assert decision.next_event == utc(2026, 7, 1, 18, 0)
    asleep = decide_sleep(Sleep.model_validate(NIGHTS), facts(0, recorded=1, slept_at=utc(2026, 7, 1, 18, 1)),
                          EVENING)
    assert asleep.next_event == utc(2026, 7, 2, 6, 0)


@pytest.mark.parametrize(
    ("auto", "activity", "now", "reasons"),
    [
        ({"expiry": "2026-12-31"}, None, utc(2026, 12, 31, 23, 59), ()),
        ({"expiry": "2026-12-31"}, None, utc(2027, 1, 1), ("expired at 2027-01-01T00:00:00Z (expiry 2026-12-31)",)),
        ({"expiry": "2026-06-01T18:00:00+02:00"}, None, utc(2026, 6, 1, 16, 0),
         ("expired at 2026-06-01T16:00:00Z (expiry 2026-06-01T18:00:00+02:00)",)),
        ({"afterInactivity": "720h"}, utc(2026, 6, 1), utc(2026, 6, 30), ()),
        ({"afterInactivity": "720h"}, utc(2026, 6, 1), utc(2026, 7, 1),
         ("inactive since 2026-06-01T00:00:00Z (autoDelete.afterInactivity 720h)",)),
        ({"afterInactivity": "720h"}, None, utc(2030, 1, 1), ()),  # no facts (cluster not read): not due
        ({"never": True}, utc(2020, 1, 1), utc(2030, 1, 1), ()),
        ({"expiry": "2026-01-01", "afterInactivity": "1h"}, utc(2026, 6, 1), utc(2026, 6, 2),
         ("expired at 2026-01-02T00:00:00Z (expiry 2026-01-01)",
          "inactive since 2026-06-01T00:00:00Z (autoDelete.afterInactivity 1h)")),
    ],
)
def test_decide_delete(auto: dict[str, Any], activity: datetime | None, now: datetime, reasons: tuple[str, ...]
                       ) -> None:
    found = facts(activity=activity) if activity is not None else None
    assert decide_delete(AutoDelete.model_validate(auto), found, now).reasons == reasons


def test_a_scheduled_wake_is_not_activity_for_deletion() -> None:
    woken = facts(activity=utc(2026, 1, 1), woken_at=utc(2026, 6, 30))
    assert decide_delete(AutoDelete.model_validate({"afterInactivity": "24h"}), woken, utc(2026, 7, 1)).reasons


def test_expiry_instant() -> None:
    assert expiry_instant("2026-02-28") == utc(2026, 3, 1)
    assert expiry_instant("2026-02-28T10:00:00-05:00") == utc(2026, 2, 28, 15, 0)
