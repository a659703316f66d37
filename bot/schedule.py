"""When a practitioner's weekly check-in is next due, in their own time zone.

Pure functions, no clock and no storage: callers pass ``after`` (normally "now") and get back a
UTC instant. The weekly slot is a weekday and a wall-clock time in an IANA zone, so a check-in
set for Monday 09:00 in Europe/London arrives at 09:00 local time in both GMT and BST.

Daylight-saving rules, chosen deliberately:

* A wall time that does not exist that day (inside the spring-forward gap, such as 01:30 on
  the last Sunday of March in London) is sent the length of the gap later, at 02:30 BST. That
  is the instant 01:30 would have been without the change, so the week stays 7 days long and
  the prompt is never dropped.
* A wall time that happens twice (inside the fall-back overlap, such as 01:30 on the last
  Sunday of October in London) is sent once, at the first of the two (01:30 BST).

Pausing, skipping and snoozing:

* ``paused_until`` is the date prompts resume: no regular prompt falls on a local date before it
  (annual leave "until Monday 10th" means Monday 10th gets its prompt again).
* ``skip_until`` works the same way and is what "skip this week" sets (see :func:`skip_date`);
  it is kept apart from the pause so settings can describe each in plain words.
* ``snoozed_until`` is a one-off instant for a prompt the practitioner put off. While it is in
  the future it replaces the regular prompts up to it; a pause or skip covering its local date
  still wins, so leave is never interrupted by a snoozed prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS_IN_WEEK = 7


class UnknownTimezoneError(ValueError):
    """The time zone name is not a known IANA zone."""


def zone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name`` or raise :class:`UnknownTimezoneError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnknownTimezoneError(name) from error


@dataclass(frozen=True)
class WeeklySlot:
    """A weekly wall-clock slot: ``weekday`` 0 is Monday, ``local_time`` is in ``timezone``."""

    weekday: int
    local_time: time
    timezone: str

    def __post_init__(self) -> None:
        if not 0 <= self.weekday < DAYS_IN_WEEK:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.local_time.tzinfo is not None:
            raise ValueError("local_time is a wall-clock time and must be naive")
        zone(self.timezone)


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def wall_time_exists(day: date, wall: time, tz: ZoneInfo) -> bool:
    """Whether ``wall`` on ``day`` is a real local time in ``tz`` (False inside a DST gap)."""
    local = datetime.combine(day, wall, tzinfo=tz)
    back = local.astimezone(UTC).astimezone(tz)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def occurrence(slot: WeeklySlot, day: date) -> datetime:
    """The UTC instant of ``slot``'s wall time on the local date ``day`` (see module rules)."""
    # fold=0 picks the first of two repeated times, and for a time inside a gap it applies the
    # offset in force before the gap, which lands the gap's length later on the wall clock.
    local = datetime.combine(day, slot.local_time, tzinfo=zone(slot.timezone)).replace(fold=0)
    return local.astimezone(UTC)


def _regular_after(slot: WeeklySlot, after: datetime, not_before: date | None) -> datetime:
    tz = zone(slot.timezone)
    # Start a day early: a slot late in the local evening can still be ahead of ``after``
    # even when the local date has already moved on in other zones.
    start = after.astimezone(tz).date() - timedelta(days=1)
    if not_before is not None and not_before > start:
        start = not_before
    day = start + timedelta(days=(slot.weekday - start.weekday()) % DAYS_IN_WEEK)
    while True:
        due = occurrence(slot, day)
        if due > after:
            return due
        day += timedelta(days=DAYS_IN_WEEK)


def _held_until(paused_until: date | None, skip_until: date | None) -> date | None:
    dates = [d for d in (paused_until, skip_until) if d is not None]
    return max(dates) if dates else None


def next_due(
    slot: WeeklySlot,
    *,
    after: datetime,
    paused_until: date | None = None,
    skip_until: date | None = None,
    snoozed_until: datetime | None = None,
) -> datetime:
    """The first instant strictly after ``after`` when a check-in is due, in UTC."""
    _require_aware(after, "after")
    held = _held_until(paused_until, skip_until)
    if snoozed_until is not None:
        _require_aware(snoozed_until, "snoozed_until")
        snooze_day = snoozed_until.astimezone(zone(slot.timezone)).date()
        if snoozed_until > after and (held is None or snooze_day >= held):
            return snoozed_until.astimezone(UTC)
    return _regular_after(slot, after, held)


def skip_date(slot: WeeklySlot, *, now: datetime, paused_until: date | None = None) -> date:
    """The ``skip_until`` date that skips the next regular prompt (and only that one)."""
    upcoming = _regular_after(slot, now, paused_until)
    return upcoming.astimezone(zone(slot.timezone)).date() + timedelta(days=1)


SNOOZE_HOUR, SNOOZE_EVENING, SNOOZE_TOMORROW = "hour", "evening", "tomorrow"
EVENING = time(19, 0)


def snooze_choices(slot: WeeklySlot, *, now: datetime) -> dict[str, datetime]:
    """The snooze times on offer at ``now``, by choice name, as UTC instants.

    "This evening" (19:00 local) is offered only while it is more than an hour away, so it
    never duplicates "in an hour"; "tomorrow" is tomorrow at the practitioner's usual time.
    """
    _require_aware(now, "now")
    tz = zone(slot.timezone)
    today = now.astimezone(tz).date()
    in_an_hour = now + timedelta(hours=1)
    choices = {SNOOZE_HOUR: in_an_hour.astimezone(UTC)}
    evening = occurrence(WeeklySlot(slot.weekday, EVENING, slot.timezone), today)
    if evening > in_an_hour:
        choices[SNOOZE_EVENING] = evening
    choices[SNOOZE_TOMORROW] = occurrence(slot, today + timedelta(days=1))
    return choices
