"""Cron schedules in an IANA time zone: when did a schedule last fire, when does it fire next.

A schedule is read as wall-clock time in its zone (UTC when none is given), the way a person writes
"0 20 * * 1-5" meaning "8 pm on weekdays, here". Daylight-saving changes are decided explicitly, not left
to a library's corner cases:

- a wall time that does not exist (the spring-forward gap: 02:30 on the last Sunday of March in
  Europe/Berlin) fires at the instant the gap ends (03:00 local), so a wake-up is never skipped for a day;
- a wall time that exists twice (the autumn fall-back hour) fires once, at its first occurrence.

croniter enumerates the matching wall times (naive datetimes: no zone arithmetic inside croniter);
this module maps each to its instant with `zoneinfo`. Pure: `now` is always passed in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

# Wall-clock shifts are at most a few hours (DST is 1 h, 30 min on Lord Howe, 2 h in rare historic
# cases): starting the wall-clock walk this far beyond `now` finds every fire near it.
_SLACK = timedelta(hours=3)
_MAX_STEPS = 2000  # a schedule that matches nothing near `now` (e.g. "0 0 30 2 *") stops the walk


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the naive wall time `wall` happens in `tz` (first occurrence; the end of
    the gap when `wall` does not exist)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists (fold=0 is the first of two occurrences in the fall-back hour)
    # In the gap: fold=1 reads it with the offset after the change, fold=0 with the one before; the
    # transition lies between those two instants. Find it to the second.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    before = low.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == before:
            low = mid
        else:
            high = mid
    return high.replace(microsecond=0)


def previous(expr: str, now: datetime, tz_name: str | None = None) -> datetime | None:
    """The newest instant <= `now` (aware) at which `expr` fired in zone `tz_name`; None if none is near."""
    return _fire(expr, now, tz_name, forward=False)


def following(expr: str, now: datetime, tz_name: str | None = None) -> datetime | None:
    """The first instant > `now` at which `expr` fires in zone `tz_name`."""
    return _fire(expr, now, tz_name, forward=True)


def _fire(expr: str, now: datetime, tz_name: str | None, *, forward: bool) -> datetime | None:
    """Step croniter from just beyond `now` (by _SLACK, against the wall clock's DST shifts) towards it,
    and past it, until an instant on the wanted side of `now`."""
    tz = zone(tz_name)
    wall = (now.astimezone(tz) + (-_SLACK if forward else _SLACK)).replace(tzinfo=None)
    it = croniter(expr, wall)
    step = it.get_next if forward else it.get_prev
    for _ in range(_MAX_STEPS):
        try:
            candidate = instant(step(datetime), tz)
        except CroniterBadDateError:  # matches no date at all ("0 0 30 2 *")
            return None
        if (candidate > now) if forward else (candidate <= now):
            return candidate
    return None


__all__ = ["following", "instant", "previous", "zone"]
