"""Weekly check-ins through the companion and real storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.checkins import default_prompt
from dialogues.core import Event
from storage import CheckinAnswer, FollowUp, KeyRing
from storage.checkin_models import CheckinSchedule
from tests.bot.helpers import Chat, StepClock, make_companion

ALEX = 2001


async def schedule_of(sessions: async_sessionmaker[AsyncSession]) -> CheckinSchedule:
    async with sessions() as session:
        schedule = await session.get(CheckinSchedule, ALEX)
        assert schedule is not None
        return schedule


async def test_checkin_settings_are_stored_and_schedule_the_next_prompt(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    clock = StepClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))  # a Friday
    chat = Chat(make_companion(session_factory, keyring, clock), ALEX)
    await chat.consent()
    await chat.command("checkin")
    assert "Weekly check-ins are off" in chat.text
    await chat.pick("Turn on")
    await chat.pick("Change day")
    await chat.pick("Tuesday")
    await chat.pick("Change time")
    await chat.say("16:45")
    await chat.pick("Save")
    assert "Tuesdays at 16:45 (Europe/London)" in chat.text
    schedule = await schedule_of(session_factory)
    # Tuesday 1 December 2026, 16:45 in London (GMT) is 16:45 UTC.
    assert schedule.next_due_at == datetime(2026, 12, 1, 16, 45, tzinfo=UTC)
    await chat.command("checkin")
    assert "every Tuesday at 16:45" in chat.text  # starts from what was saved


async def test_weekly_check_in_follows_up_a_due_next_step_once(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    clock = StepClock()
    chat = Chat(make_companion(session_factory, keyring, clock), ALEX)
    await chat.consent()
    await chat.reflect("Too many calls", next_step="Ask for a caseload review")
    clock.now += timedelta(days=2)  # the step was for tomorrow
    await chat.send(Event.choice("menu:weekly"))
    await chat.say("6")
    await chat.command("skip")
    assert "Ask for a caseload review" in chat.text
    await chat.pick("Yes")
    await chat.pick("A bit")
    assert "Thank you for checking in" in chat.text
    async with session_factory() as session:
        follow_up = await session.scalar(select(FollowUp))
        assert follow_up is not None and (follow_up.tried, follow_up.helped) == ("yes", "a_bit")
        assert await session.scalar(select(func.count()).select_from(CheckinAnswer)) == 1
    await chat.send(Event.choice("menu:weekly"))
    await chat.say("7")
    await chat.command("skip")
    assert "Thank you for checking in" in chat.text  # nothing left to follow up


async def test_prompt_buttons_snooze_and_skip_the_week(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    clock = StepClock(datetime(2026, 11, 27, 14, 0, tzinfo=UTC))
    chat = Chat(make_companion(session_factory, keyring, clock), ALEX)
    await chat.consent()
    await chat.command("checkin")
    await chat.pick("Turn on")
    await chat.pick("Save")
    prompt = default_prompt(ALEX, clock.now)
    assert prompt.options[0].value == "menu:weekly"
    await chat.send(Event.choice("snooze:hour"))
    assert "I'll check in again" in chat.text
    schedule = await schedule_of(session_factory)
    assert schedule.snoozed_until is not None and schedule.next_due_at == schedule.snoozed_until
    await chat.send(Event.choice("checkin:skip"))
    assert "this week's check-in is skipped" in chat.text
    assert (await schedule_of(session_factory)).skip_until is not None
    await chat.send(Event.choice("snooze:someday"))  # a tampered button
    assert "nothing to change" in chat.text


async def test_export_and_forget_cover_check_ins(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    chat = Chat(make_companion(session_factory, keyring), ALEX)
    await chat.consent()
    await chat.command("checkin")
    await chat.pick("Turn on")
    await chat.pick("Save")
    await chat.send(Event.choice("menu:weekly"))
    await chat.say("5")
    await chat.say("A quiet week, finally")
    await chat.command("export")
    assert chat.last[0].attachment is not None
    exported = json.loads(chat.last[0].attachment.content)
    assert exported["checkins"][0]["your_words"] == {"note": "A quiet week, finally"}
    await chat.command("forget")
    await chat.pick("Yes, erase everything")
    async with session_factory() as session:
        for model in (CheckinAnswer, CheckinSchedule, FollowUp):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
