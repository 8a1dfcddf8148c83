"""What `vfleet lifecycle` does with one tenant at one moment: pure functions over facts and a clock.

Sleep and wake act on the cluster (runtime state); deletion is only ever *proposed* (a Git change).

Precedence, highest first (docs/lifecycle.md):

1. `sleeping: true` in the spec: asleep by spec. Apply scales the control plane to 0 (chart values);
   lifecycle never touches such a tenant, whatever its schedule says.
2. `sleeping: false` written explicitly in the spec: pinned awake. No schedule and no inactivity puts it
   to sleep; a tenant lifecycle had put to sleep is woken.
3. The schedule: between a `schedule` fire and the next `wakeup` fire the tenant sleeps (without a
   `wakeup` it sleeps until pinned awake, its rule is removed, or someone scales it up by hand). A fire
   older than the tenant's last wake is spent: a tenant woken inside its sleep window stays awake until
   the schedule fires again.
4. Inactivity: no activity (observe.py defines it) for `afterInactivity`, counted from the newest of the
   last activity and the last wake, puts it to sleep.

A tenant lifecycle put to sleep wakes when its `wakeup` fired after it was put to sleep, when its spec
pins it awake, when its spec no longer has any rule that would sleep it, or when someone scaled its
control plane up meanwhile (the wake is then finished: workloads restored, marks removed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from vfleet.lifecycle import schedule
from vfleet.live.activity import parse_time as parse_time  # re-exported: the commands parse --now with it
from vfleet.specs import AutoDelete, Sleep


class Action(StrEnum):
    NONE = "none"
    SLEEP = "sleep"
    WAKE = "wake"
    FINISH = "finish"  # restore workloads an interrupted sleep or wake left scaled down


@dataclass(frozen=True, slots=True)
class Workload:
    """A StatefulSet or Deployment in a tenant namespace, as far as sleeping it needs."""

    kind: str  # StatefulSet | Deployment
    name: str
    replicas: int
    recorded: int | None  # the replica count vfleet recorded before scaling it to 0 (annotation)
    resource_version: str = ""


@dataclass(frozen=True, slots=True)
class Facts:
    """One tenant as read from its cluster (observe.py)."""

    namespace: str
    namespace_exists: bool
    deleting: bool
    control_plane: Workload | None  # the vcluster StatefulSet
    workloads: tuple[Workload, ...]  # every other StatefulSet / Deployment in the namespace
    slept_at: datetime | None = None  # put to sleep by lifecycle (annotation), None: not by lifecycle
    slept_reason: str | None = None
    woken_at: datetime | None = None  # last woken by lifecycle
    last_activity: datetime | None = None
    activity_source: str = ""  # which object and manager the last activity came from

    @property
    def leftovers(self) -> tuple[Workload, ...]:
        """Workloads still scaled down under a recorded count."""
        return tuple(w for w in self.workloads if w.recorded is not None)


@dataclass(frozen=True, slots=True)
class SleepDecision:
    action: Action
    reason: str
    state: str  # awake | asleep | asleep by spec | not deployed | ...
    next_event: datetime | None = None  # when the schedule acts next, for reports


def pinned_awake(sleep: Sleep | None) -> bool:
    """`sleeping: false` written in the spec (not the default): nothing puts the tenant to sleep."""
    return sleep is not None and "sleeping" in sleep.model_fields_set and not sleep.sleeping


def has_rule(sleep: Sleep | None) -> bool:
    return sleep is not None and (sleep.schedule is not None or sleep.afterInactivity is not None)


def decide_sleep(sleep: Sleep | None, facts: Facts, now: datetime) -> SleepDecision:
    """Sleep, wake, finish or leave one tenant, by the precedence of the module docstring."""
    cp = facts.control_plane
    if facts.deleting:
        return SleepDecision(Action.NONE, "its namespace is being deleted", "deleting")
    if cp is None:
        return SleepDecision(Action.NONE, "no vcluster StatefulSet on the cluster", "not deployed")
    tz = sleep.timezone if sleep is not None else None
    if sleep is not None and sleep.sleeping:
        return SleepDecision(Action.NONE, "sleeping: true in the spec (apply scales it)", "asleep by spec")
    if facts.slept_at is not None:
        return _asleep(sleep, facts, cp, now, tz)
    if cp.replicas == 0:
        return SleepDecision(Action.NONE, "scaled to 0 by something other than vfleet lifecycle", "scaled down")
    if not pinned_awake(sleep) and sleep is not None:
        due = _due(sleep, facts, now, tz)
        if due is not None:
            return SleepDecision(Action.SLEEP, due, "awake")
    if facts.leftovers:
        names = ", ".join(f"{w.kind}/{w.name}" for w in facts.leftovers)
        return SleepDecision(Action.FINISH, f"restoring {names} left scaled down by an interrupted run", "awake")
    why = "sleeping: false in the spec pins it awake" if pinned_awake(sleep) else ""
    upcoming = schedule.following(sleep.schedule, now, tz) if sleep and sleep.schedule and why == "" else None
    return SleepDecision(Action.NONE, why, "awake", upcoming)


def _asleep(sleep: Sleep | None, facts: Facts, cp: Workload, now: datetime, tz: str | None) -> SleepDecision:
    assert facts.slept_at is not None
    since = f"asleep since {_rfc3339(facts.slept_at)} ({facts.slept_reason or 'no reason recorded'})"
    if cp.replicas > 0:
        return SleepDecision(Action.WAKE, "its control plane was scaled up since vfleet put it to sleep: "
                             "finishing the wake", "asleep")
    if pinned_awake(sleep):
        return SleepDecision(Action.WAKE, "sleeping: false in the spec pins it awake", "asleep")
    if not has_rule(sleep):
        return SleepDecision(Action.WAKE, "its spec has no sleep rule any more", "asleep")
    assert sleep is not None
    if sleep.wakeup is not None:
        fired = schedule.previous(sleep.wakeup, now, tz)
        if fired is not None and fired > facts.slept_at:
            return SleepDecision(Action.WAKE, f"wakeup {sleep.wakeup!r} fired at {_rfc3339(fired)}", "asleep")
        return SleepDecision(Action.NONE, since, "asleep", schedule.following(sleep.wakeup, now, tz))
    return SleepDecision(Action.NONE, since, "asleep")


def _due(sleep: Sleep, facts: Facts, now: datetime, tz: str | None) -> str | None:
    """Why an awake tenant is due to sleep now, or None."""
    if sleep.schedule is not None:
        fired = schedule.previous(sleep.schedule, now, tz)
        woke = schedule.previous(sleep.wakeup, now, tz) if sleep.wakeup is not None else None
        in_window = fired is not None and (woke is None or fired > woke)
        if in_window and fired is not None and (facts.woken_at is None or fired > facts.woken_at):
            return f"schedule {sleep.schedule!r} fired at {_rfc3339(fired)}"
    if sleep.afterInactivity is not None:
        since = _newest(facts.last_activity, facts.woken_at)
        limit = timedelta(seconds=sleep.afterInactivity.seconds)
        if since is not None and now - since >= limit:
            return f"inactive since {_rfc3339(since)} (afterInactivity {sleep.afterInactivity.text})"
    return None


# ------------------------------------------------------------------------------------------- deletion


@dataclass(frozen=True, slots=True)
class DeleteDecision:
    reasons: tuple[str, ...]  # empty: not due


def expiry_instant(expiry: str) -> datetime:
    """When an `expiry` passes: a time with its offset as given; a date at the end of that day (UTC)."""
    if "T" in expiry or " " in expiry:
        return datetime.fromisoformat(expiry).astimezone(UTC)
    return datetime.combine(date.fromisoformat(expiry) + timedelta(days=1), time(), UTC)


def decide_delete(auto: AutoDelete | None, facts: Facts | None, now: datetime) -> DeleteDecision:
    """Why a tenant is due for deletion now (expiry; inactivity, which needs its cluster's facts).

    A scheduled wake is not activity here: only `last_activity` counts, so a tenant that is only ever
    woken by its schedule still ages towards deletion.
    """
    if auto is None or auto.never:
        return DeleteDecision(())
    reasons: list[str] = []
    if auto.expiry is not None:
        at = expiry_instant(auto.expiry)
        if now >= at:
            reasons.append(f"expired at {_rfc3339(at)} (expiry {auto.expiry})")
    if auto.afterInactivity is not None and facts is not None and facts.last_activity is not None:
        limit = timedelta(seconds=auto.afterInactivity.seconds)
        if now - facts.last_activity >= limit:
            reasons.append(f"inactive since {_rfc3339(facts.last_activity)} "
                           f"(autoDelete.afterInactivity {auto.afterInactivity.text})")
    return DeleteDecision(tuple(reasons))


# -------------------------------------------------------------------------------------------- helpers


def _newest(*times: datetime | None) -> datetime | None:
    present: Sequence[datetime] = [t for t in times if t is not None]
    return max(present) if present else None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


rfc3339 = _rfc3339

__all__ = [
    "Action",
    "DeleteDecision",
    "Facts",
    "SleepDecision",
    "Workload",
    "decide_delete",
    "decide_sleep",
    "expiry_instant",
    "has_rule",
    "parse_time",
    "pinned_awake",
    "rfc3339",
]
