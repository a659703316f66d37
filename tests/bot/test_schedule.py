"""Weekly check-in times across daylight-saving changes, zones, pauses, skips and snoozes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.schedule import (
    SNOOZE_EVENING,
    SNOOZE_HOUR,
    SNOOZE_TOMORROW,
    UnknownTimezoneError,
    WeeklySlot,
    next_due,
    skip_date,
    snooze_choices,
    wall_time_exists,
    zone,
)

LONDON = "Europe/London"
MONDAY, FRIDAY, SUNDAY = 0, 4, 6


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(instant: datetime, name: str = LONDON) -> datetime:
    return instant.astimezone(ZoneInfo(name))


def test_monday_nine_stays_at_nine_local_across_the_spring_change() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    before = next_due(slot, after=utc(2026, 3, 20))
    after_change = next_due(slot, after=before)

    assert before == utc(2026, 3, 23, 9, 0)  # GMT
    assert after_change == utc(2026, 3, 30, 8, 0)  # BST: still 09:00 on the practitioner's clock
    assert local(after_change).time() == time(9, 0)


def test_monday_nine_stays_at_nine_local_across_the_autumn_change() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    before = next_due(slot, after=utc(2026, 10, 15))
    after_change = next_due(slot, after=before)

    assert before == utc(2026, 10, 19, 8, 0)  # BST
    assert after_change == utc(2026, 10, 26, 9, 0)  # GMT
    assert local(after_change).time() == time(9, 0)


def test_a_time_that_does_not_exist_is_sent_the_length_of_the_gap_later() -> None:
    # Clocks go from 01:00 GMT to 02:00 BST on Sunday 29 March 2026: 01:30 never happens.
    slot = WeeklySlot(SUNDAY, time(1, 30), LONDON)
    assert not wall_time_exists(date(2026, 3, 29), time(1, 30), ZoneInfo(LONDON))

    due = next_due(slot, after=utc(2026, 3, 28, 12))

    assert due == utc(2026, 3, 29, 1, 30)
    assert local(due).time() == time(2, 30)
    # The following week is back at 01:30 on the wall clock.
    assert local(next_due(slot, after=due)).replace(tzinfo=None) == datetime(2026, 4, 5, 1, 30)


def test_a_time_that_happens_twice_is_sent_once_at_the_first() -> None:
    # Clocks go from 02:00 BST back to 01:00 GMT on Sunday 25 October 2026: 01:30 happens twice.
    slot = WeeklySlot(SUNDAY, time(1, 30), LONDON)

    first = next_due(slot, after=utc(2026, 10, 24, 12))
    following = next_due(slot, after=first)

    assert first == utc(2026, 10, 25, 0, 30)  # 01:30 BST
    # Not again an hour later at 01:30 GMT: the next prompt is a week on.
    assert following == utc(2026, 11, 1, 1, 30)


def test_new_york_keeps_its_own_daylight_saving_dates() -> None:
    # America changes on 8 March 2026, three weeks before the UK.
    slot = WeeklySlot(FRIDAY, time(17, 0), "America/New_York")
    first = next_due(slot, after=utc(2026, 3, 1))
    second = next_due(slot, after=first)

    assert first == utc(2026, 3, 6, 22, 0)  # EST, UTC-5
    assert second == utc(2026, 3, 13, 21, 0)  # EDT, UTC-4
    assert local(second, "America/New_York").time() == time(17, 0)


def test_kolkata_is_half_an_hour_off_and_a_day_ahead_of_utc_late_at_night() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), "Asia/Kolkata")
    # Sunday 23:00 UTC is already Monday 04:30 in Kolkata: today's 09:00 is still ahead.
    assert next_due(slot, after=utc(2026, 6, 14, 23, 0)) == utc(2026, 6, 15, 3, 30)
    # Monday 04:00 UTC is 09:30 in Kolkata: today's has gone, so next Monday.
    assert next_due(slot, after=utc(2026, 6, 15, 4, 0)) == utc(2026, 6, 22, 3, 30)


def test_due_exactly_now_is_not_due_again() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    assert next_due(slot, after=utc(2026, 1, 5, 9, 0)) == utc(2026, 1, 12, 9, 0)


def test_pause_until_a_date_resumes_on_that_date() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    due = next_due(slot, after=utc(2026, 7, 1), paused_until=date(2026, 7, 20))
    assert due == utc(2026, 7, 20, 8, 0)


def test_skipping_this_week_skips_one_prompt_only() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    now = utc(2026, 7, 1)
    skip_until = skip_date(slot, now=now)

    assert skip_until == date(2026, 7, 7)
    assert next_due(slot, after=now, skip_until=skip_until) == utc(2026, 7, 13, 8, 0)


def test_a_snoozed_prompt_comes_back_at_the_snooze_time() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    now = utc(2026, 7, 6, 8, 0)
    in_an_hour = now + timedelta(hours=1)

    assert next_due(slot, after=now, snoozed_until=in_an_hour) == in_an_hour
    # Once the snooze has passed, the regular week carries on.
    assert next_due(slot, after=in_an_hour, snoozed_until=in_an_hour) == utc(2026, 7, 13, 8, 0)


def test_leave_wins_over_a_snooze() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    now = utc(2026, 7, 6, 8, 0)
    due = next_due(
        slot,
        after=now,
        snoozed_until=now + timedelta(days=1),
        paused_until=date(2026, 7, 20),
    )
    assert due == utc(2026, 7, 20, 8, 0)


def test_unknown_zones_and_naive_instants_are_refused() -> None:
    with pytest.raises(UnknownTimezoneError):
        WeeklySlot(MONDAY, time(9, 0), "Europe/Atlantis")
    with pytest.raises(UnknownTimezoneError):
        zone("../etc/passwd")
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due(WeeklySlot(MONDAY, time(9, 0), LONDON), after=datetime(2026, 1, 1))


ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]


@given(
    weekday=st.integers(0, 6),
    wall=st.times(),
    zone_name=st.sampled_from(ZONES),
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)),
    paused_days=st.none() | st.integers(0, 60),
)
def test_next_due_is_after_now_on_the_weekday_at_the_wall_time(
    weekday: int, wall: time, zone_name: str, now: datetime, paused_days: int | None
) -> None:
    now = now.replace(tzinfo=UTC)
    slot = WeeklySlot(weekday, wall, zone_name)
    paused_until = None if paused_days is None else now.date() + timedelta(days=paused_days)

    due = next_due(slot, after=now, paused_until=paused_until)

    assert due > now
    there = due.astimezone(ZoneInfo(zone_name))
    if wall_time_exists(there.date(), wall, ZoneInfo(zone_name)):
        assert there.time() == wall
        assert there.weekday() == weekday
    if paused_until is None:
        # Never more than a week (plus the longest DST shift) away.
        assert due - now <= timedelta(days=7, hours=1)
    else:
        assert there.date() >= paused_until


def test_snooze_offers_an_hour_this_evening_and_tomorrow_at_the_usual_time() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    now = utc(2026, 7, 6, 8, 0)  # 09:00 BST

    choices = snooze_choices(slot, now=now)

    assert choices == {
        SNOOZE_HOUR: utc(2026, 7, 6, 9, 0),
        SNOOZE_EVENING: utc(2026, 7, 6, 18, 0),  # 19:00 BST
        SNOOZE_TOMORROW: utc(2026, 7, 7, 8, 0),  # 09:00 BST
    }


def test_this_evening_is_not_offered_once_it_is_under_an_hour_away() -> None:
    slot = WeeklySlot(MONDAY, time(9, 0), LONDON)
    choices = snooze_choices(slot, now=utc(2026, 1, 5, 18, 30))  # 18:30 GMT
    assert set(choices) == {SNOOZE_HOUR, SNOOZE_TOMORROW}
