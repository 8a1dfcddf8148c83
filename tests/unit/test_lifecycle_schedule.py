"""Cron schedules in IANA zones across DST changes, with fixed clocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vfleet.lifecycle import schedule


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


@pytest.mark.parametrize(
    ("expr", "now", "tz", "expected"),
    [
        # Plain UTC, and the default zone when none is given.
        ("0 20 * * *", utc(2026, 6, 1, 21, 0), None, utc(2026, 6, 1, 20, 0)),
        ("0 20 * * *", utc(2026, 6, 1, 20, 0), "UTC", utc(2026, 6, 1, 20, 0)),  # a fire at `now` counts
        ("0 20 * * *", utc(2026, 6, 1, 19, 59), "UTC", utc(2026, 5, 31, 20, 0)),
        # Europe/Berlin: 20:00 local is 18:00 UTC in summer (CEST), 19:00 UTC in winter (CET).
        ("0 20 * * *", utc(2026, 7, 1, 18, 30), "Europe/Berlin", utc(2026, 7, 1, 18, 0)),
        ("0 20 * * *", utc(2026, 1, 15, 19, 30), "Europe/Berlin", utc(2026, 1, 15, 19, 0)),
        # Berlin spring forward (2026-03-29 02:00 -> 03:00): 02:30 does not exist, fires at 03:00 (01:00 UTC).
        ("30 2 * * *", utc(2026, 3, 29, 1, 0), "Europe/Berlin", utc(2026, 3, 29, 1, 0)),
        ("30 2 * * *", utc(2026, 3, 29, 0, 59), "Europe/Berlin", utc(2026, 3, 28, 1, 30)),
        ("30 2 * * *", utc(2026, 3, 30, 0, 40), "Europe/Berlin", utc(2026, 3, 30, 0, 30)),
        # Berlin fall back (2026-10-25 03:00 -> 02:00): 02:30 exists twice, fires once, the first time.
        ("30 2 * * *", utc(2026, 10, 25, 0, 30), "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
        ("30 2 * * *", utc(2026, 10, 25, 1, 45), "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
        # New York: weekdays 20:00 local; Friday Oct 30 2026 is EDT (UTC-4), Monday Nov 2 is EST (UTC-5).
        ("0 20 * * 1-5", utc(2026, 11, 2, 12, 0), "America/New_York", utc(2026, 10, 31, 0, 0)),
        ("0 20 * * 1-5", utc(2026, 11, 3, 1, 30), "America/New_York", utc(2026, 11, 3, 1, 0)),
        # New York spring forward (2026-03-08 02:00 -> 03:00): 02:15 fires at 03:00 EDT = 07:00 UTC.
        ("15 2 * * *", utc(2026, 3, 8, 7, 5), "America/New_York", utc(2026, 3, 8, 7, 0)),
    ],
)
def test_previous(expr: str, now: datetime, tz: str | None, expected: datetime) -> None:
    assert schedule.previous(expr, now, tz) == expected


@pytest.mark.parametrize(
    ("expr", "now", "tz", "expected"),
    [
        ("30 2 * * *", utc(2026, 3, 28, 23, 0), "Europe/Berlin", utc(2026, 3, 29, 1, 0)),
        ("30 2 * * *", utc(2026, 10, 25, 0, 0), "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
        # After the first 02:30 of the fall-back night, the next fire is the following night (CET).
        ("30 2 * * *", utc(2026, 10, 25, 0, 31), "Europe/Berlin", utc(2026, 10, 26, 1, 30)),
        ("0 8 * * 1-5", utc(2026, 10, 30, 12, 0), "America/New_York", utc(2026, 11, 2, 13, 0)),
        ("0 8 * * 1-5", utc(2026, 3, 6, 14, 0), "America/New_York", utc(2026, 3, 9, 12, 0)),
    ],
)
def test_following(expr: str, now: datetime, tz: str | None, expected: datetime) -> None:
    assert schedule.following(expr, now, tz) == expected


def test_a_schedule_that_never_matches_near_now_gives_none() -> None:
    assert schedule.previous("0 0 30 2 *", utc(2026, 6, 1, 0, 0), "UTC") is None
