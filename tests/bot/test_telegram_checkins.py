"""Weekly check-ins in Telegram: settings by buttons, the prompt arriving, and answering it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.checkins import CheckinDispatcher
from bot.companion import utc_now
from bot.fanout import FanoutSender, SendBudget
from storage.checkin_models import CheckinSchedule
from tests.bot.harness import Harness


async def schedule(h: Harness, user_id: int) -> CheckinSchedule:
    async with h.steady.sessions() as session:
        row = await session.get(CheckinSchedule, user_id)
        assert row is not None
        return row


async def make_due(h: Harness, user_id: int) -> datetime:
    due = datetime.now(UTC) - timedelta(minutes=1)
    async with h.steady.sessions() as session, session.begin():
        mine = CheckinSchedule.user_id == user_id
        await session.execute(update(CheckinSchedule).where(mine).values(next_due_at=due))
    return due


async def test_a_practitioner_sets_up_receives_and_answers_a_weekly_check_in(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "checkin")
    await h.press(priya, "Turn on")
    await h.press(priya, "Change day")
    await h.press(priya, "Monday")
    saved = await h.press(priya, "Save")
    assert "Mondays at 15:00 (Europe/London)" in saved[-1].text
    assert (await schedule(h, 1001)).next_due_at is not None

    # The prompt falls due and the dispatcher sends it through the channel's own renderer.
    await make_due(h, 1001)
    budget = SendBudget(sleep=h.sleeps)
    sender = FanoutSender.for_bot(h.application.bot, h.channel.renderer, budget, sleep=h.sleeps)
    sent = await CheckinDispatcher(h.steady.sessions, sender, clock=utc_now).run_due()
    assert [user for user, _ in sent] == [1001]
    prompt = priya.last_received
    assert "weekly check-in" in prompt.text
    assert [b.text for row in prompt.buttons for b in row][:1] == ["Check in now"]

    # Its buttons work like any other.
    asked = await h.press(priya, "Check in now")
    assert "How are you doing this week" in asked[-1].text
    await h.press(priya, "7")
    done = await h.command(priya, "skip")
    assert "Thank you for checking in" in done[-1].text
    # Nothing more is due this week: the next prompt is a week on, on a Monday.
    next_due = (await schedule(h, 1001)).next_due_at
    assert next_due is not None and next_due > datetime.now(UTC)
    assert next_due.astimezone(UTC).weekday() == 0


async def test_unblocking_the_bot_puts_the_weekly_check_in_back(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "checkin")
    await h.press(priya, "Turn on")
    await h.press(priya, "Save")
    priya.block()
    await h.pump()
    # A weekly prompt answered with 403 takes them off the calendar...
    await make_due(h, 1001)
    sender = FanoutSender.for_bot(
        h.application.bot, h.channel.renderer, SendBudget(sleep=h.sleeps), sleep=h.sleeps
    )
    await CheckinDispatcher(h.steady.sessions, sender, clock=utc_now).run_due()
    assert (await schedule(h, 1001)).next_due_at is None
    # ...and unblocking puts them back on it.
    priya.unblock()
    await h.pump()
    user = await h.user_row(1001)
    assert user is not None and user.unreachable_since is None
    assert (await schedule(h, 1001)).next_due_at is not None
