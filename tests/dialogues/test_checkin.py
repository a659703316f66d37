"""/checkin settings and the weekly check-in, through the pure dialogue layer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dialogues.checkin import (
    CheckinSettings,
    FollowUp,
    RecordFollowUp,
    UpdateCheckin,
    parse_date,
    parse_time,
    parse_timezone,
)
from dialogues.core import SaveEntry
from tests.dialogues.driver import NOW, Practitioner


def updates(p: Practitioner) -> list[UpdateCheckin]:
    return [e for e in p.effects if isinstance(e, UpdateCheckin)]


CURRENT = CheckinSettings(True, 4, "15:00", "Europe/London")


def test_settings_start_from_the_current_settings_and_save_changes() -> None:
    p = Practitioner(checkin=CURRENT)
    p.command("checkin")
    assert "every Friday at 15:00 (Europe/London)" in p.text
    p.pick("Change day")
    p.pick("Tuesday")
    p.pick("Change time")
    p.say("4.45pm")
    p.pick("Save")
    (update,) = updates(p)
    assert update.settings == CheckinSettings(True, 1, "16:45", "Europe/London")
    assert "Tuesdays at 16:45" in p.text


def test_turning_check_ins_on_and_choosing_a_time_zone() -> None:
    p = Practitioner(checkin=CheckinSettings(False, 4, "15:00", "Europe/London"))
    p.command("checkin")
    assert "Weekly check-ins are off" in p.text
    p.pick("Turn on")
    p.pick("Change time zone")
    p.say("america/new_york")
    p.pick("Save")
    assert updates(p)[0].settings.enabled is True
    assert updates(p)[0].settings.timezone == "America/New_York"


def test_pause_for_leave_and_skip_this_week() -> None:
    p = Practitioner(checkin=CURRENT)
    p.command("checkin")
    p.pick("Pause until a date")
    p.pick("2 weeks")
    assert "Paused until Fri 11 Dec 2026" in p.text
    p.pick("Skip this week")
    assert "The next one will be skipped" in p.text
    p.pick("Save")
    (update,) = updates(p)
    assert update.settings.paused_until == date(2026, 12, 11)
    assert update.skip_week is True


def test_unclear_times_zones_and_dates_are_reasked() -> None:
    p = Practitioner(checkin=CURRENT)
    p.command("checkin")
    p.pick("Change time")
    p.say("teatime")
    assert "didn't catch a time" in p.text
    p.say("25:00")
    assert "didn't catch a time" in p.text
    p.command("back")
    p.pick("Change time zone")
    p.say("Mars/Olympus_Mons")
    assert "don't know that time zone" in p.text
    p.command("back")
    p.pick("Pause until a date")
    p.say("yesterday")
    assert "future date" in p.text
    p.say("4/1")
    assert "Paused until Mon 4 Jan 2027" in p.text


def test_cancelling_settings_changes_nothing() -> None:
    p = Practitioner(checkin=CURRENT)
    p.command("checkin")
    p.pick("Turn off")
    p.command("cancel")
    assert updates(p) == []


def test_weekly_check_in_follows_up_on_the_chosen_next_step() -> None:
    follow_up = FollowUp(17, "Block 30 minutes for notes", "planning", NOW)
    p = Practitioner(follow_up=follow_up)
    p.command("weekly")
    p.say("6")
    p.say("Busier than usual")
    assert "Block 30 minutes for notes" in p.text
    assert "Planning and prioritising" in p.text
    p.pick("Yes")
    p.pick("A lot")
    saved = [e for e in p.effects if isinstance(e, SaveEntry)]
    assert saved[0].kind == "checkin" and saved[0].rating_before == 6
    assert saved[0].private == {"note": "Busier than usual"}
    assert [e for e in p.effects if isinstance(e, RecordFollowUp)] == [
        RecordFollowUp(17, "yes", "a_lot")
    ]
    assert [o.label for o in p.question.options] == ["Reflect", "Quick debrief"]


def test_not_yet_tried_skips_the_helped_question() -> None:
    p = Practitioner(follow_up=FollowUp(17, "Talk to my supervisor", None, NOW))
    p.command("weekly")
    p.say("4")
    p.command("skip")
    p.pick("Not yet")
    assert [e for e in p.effects if isinstance(e, RecordFollowUp)] == [
        RecordFollowUp(17, "not_yet", None)
    ]


def test_weekly_check_in_without_a_follow_up_is_two_questions() -> None:
    p = Practitioner()
    p.command("weekly")
    p.say("eleven")
    assert "whole number from 0 to 10" in p.text
    p.say("8")
    p.say("Good week")
    assert [e.kind for e in p.effects if isinstance(e, SaveEntry)] == ["checkin"]
    assert not [e for e in p.effects if isinstance(e, RecordFollowUp)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("15:30", "15:30"), ("9am", "09:00"), ("12pm", "12:00"), ("12am", "00:00"),
     ("3.05 pm", "15:05"), ("17", "17:00"), ("24:00", None), ("13pm", None), ("noonish", None)],
)  # fmt: skip
def test_parse_time(typed: str, expected: str | None) -> None:
    assert parse_time(typed) == expected


def test_parse_date_reads_day_first_and_only_future_dates() -> None:
    today = date(2026, 11, 27)
    assert parse_date("24/12", today=today) == date(2026, 12, 24)
    assert parse_date("4/1", today=today) == date(2027, 1, 4)
    assert parse_date("2027-01-04", today=today) == date(2027, 1, 4)
    assert parse_date("1/11/2026", today=today) is None
    assert parse_date("31/2", today=today) is None


def test_parse_timezone_accepts_any_case_and_refuses_unknown_names() -> None:
    assert parse_timezone("europe/london") == "Europe/London"
    assert parse_timezone("Asia/Kolkata") == "Asia/Kolkata"
    assert parse_timezone("Not/AZone") is None
    assert parse_timezone("../../etc/passwd") is None


def test_now_is_a_friday_in_these_tests() -> None:
    assert datetime(2026, 11, 27, 14, 5, tzinfo=UTC) == NOW
