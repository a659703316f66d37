"""Weekly check-ins end to end against the database: sent once, on time, in the right zone,
through pauses, snoozes, skips, downtime, blocked bots, restarts and competing processes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.checkins import (
    CheckinDispatcher,
    RecipientUnreachableError,
    change_schedule,
    reachable_again,
    skip_this_week,
)
from dialogues.core import Reply
from storage.checkin_models import CheckinDelivery, CheckinSchedule
from storage.checkins import CheckinRepository
from storage.database import session_factory as make_session_factory
from storage.models import User
from tests.botapi import FakeTelegram, ManualClock

Sessions = async_sessionmaker[AsyncSession]
MONDAY = 0
# Monday 6 July 2026, 09:00 BST.
FIRST_DUE = datetime(2026, 7, 6, 8, 0, tzinfo=UTC)
A_WEEK = timedelta(days=7)


class Clock:
    """A settable clock for the dispatcher."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingSender:
    """Remembers every prompt handed to it; optionally refuses some practitioners."""

    def __init__(self, blocked: frozenset[int] = frozenset()) -> None:
        self.sent: list[int] = []
        self.blocked = blocked

    async def send(self, user_id: int, reply: Reply) -> None:
        if user_id in self.blocked:
            raise RecipientUnreachableError(user_id)
        self.sent.append(user_id)


class ProcessDied(BaseException):
    """Stands in for the process being killed: nothing after it runs."""


class DyingSender(RecordingSender):
    """Delivers ``survive`` prompts, then the process dies straight after the next delivery."""

    def __init__(self, survive: int) -> None:
        super().__init__()
        self.survive = survive

    async def send(self, user_id: int, reply: Reply) -> None:
        await super().send(user_id, reply)
        if len(self.sent) > self.survive:
            raise ProcessDied


async def add_practitioners(sessions: Sessions, ids: range | list[int], **settings: Any) -> None:
    """Create practitioners with a Monday 09:00 London check-in, set up a week before it."""
    settings = {
        "enabled": True,
        "weekday": MONDAY,
        "local_time": time(9, 0),
        "timezone": "Europe/London",
        **settings,
    }
    async with sessions() as session, session.begin():
        session.add_all(User(id=user_id, created_at=FIRST_DUE - A_WEEK) for user_id in ids)
        await session.flush()
        for user_id in ids:
            await change_schedule(session, user_id, now=FIRST_DUE - A_WEEK, **settings)


async def schedule_of(sessions: Sessions, user_id: int) -> CheckinSchedule:
    async with sessions() as session:
        schedule = await CheckinRepository(session).get(user_id)
        assert schedule is not None
        return schedule


async def outcomes(sessions: Sessions, user_id: int) -> list[tuple[datetime, str]]:
    async with sessions() as session:
        return [(d.due_at, d.status) for d in await CheckinRepository(session).deliveries(user_id)]


async def edit(sessions: Sessions, action: Callable[[AsyncSession], Any]) -> None:
    async with sessions() as session, session.begin():
        await action(session)


@pytest.fixture
def clock() -> Clock:
    return Clock(FIRST_DUE)


async def test_a_due_prompt_is_sent_once_and_the_next_is_a_week_later(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)

    clock.now = FIRST_DUE - timedelta(minutes=1)
    assert await dispatcher.run_due() == []
    clock.now = FIRST_DUE
    [(user_id, reply)] = await dispatcher.run_due()
    assert await dispatcher.run_due() == []

    assert user_id == 1
    assert reply.template == "checkin_prompt.j2"
    assert sender.sent == [1]
    assert await outcomes(session_factory, 1) == [(FIRST_DUE, "sent")]
    assert (await schedule_of(session_factory, 1)).next_due_at == FIRST_DUE + A_WEEK


async def test_a_prompt_missed_while_down_is_sent_late_once_within_grace(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock, grace=timedelta(hours=3))

    clock.now = FIRST_DUE + timedelta(hours=2)
    await dispatcher.run_due()
    await dispatcher.run_due()

    assert sender.sent == [1]
    assert await outcomes(session_factory, 1) == [(FIRST_DUE, "sent")]


async def test_a_prompt_missed_beyond_grace_is_skipped_and_recorded(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock, grace=timedelta(hours=3))

    # Down for over a week: one skipped record, no flurry of stale prompts, and back on track.
    clock.now = FIRST_DUE + A_WEEK + timedelta(hours=5)
    await dispatcher.run_due()

    assert sender.sent == []
    assert await outcomes(session_factory, 1) == [(FIRST_DUE, "skipped_late")]
    assert (await schedule_of(session_factory, 1)).next_due_at == FIRST_DUE + 2 * A_WEEK


async def test_the_weekly_time_follows_the_practitioner_across_the_clocks_going_back(
    session_factory: Sessions,
) -> None:
    # Monday 19 October 2026 09:00 is BST (08:00 UTC); the next Monday is GMT (09:00 UTC).
    before = datetime(2026, 10, 19, 8, 0, tzinfo=UTC)
    async with session_factory() as session, session.begin():
        session.add(User(id=5, created_at=before))
        await session.flush()
        await change_schedule(
            session,
            5,
            now=before - timedelta(days=1),
            enabled=True,
            weekday=MONDAY,
            local_time=time(9, 0),
            timezone="Europe/London",
        )
    clock = Clock(before)
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)

    await dispatcher.run_due()
    clock.now = datetime(2026, 10, 26, 8, 30, tzinfo=UTC)  # 08:30 GMT: not yet
    await dispatcher.run_due()
    clock.now = datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    await dispatcher.run_due()

    assert [due for due, _ in await outcomes(session_factory, 5)] == [
        before,
        datetime(2026, 10, 26, 9, 0, tzinfo=UTC),
    ]


async def test_a_practitioner_in_another_zone_gets_it_at_their_own_nine(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    await add_practitioners(session_factory, [2], timezone="Asia/Kolkata")
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)

    clock.now = datetime(2026, 7, 6, 3, 30, tzinfo=UTC)  # 09:00 in Kolkata, 04:30 in London
    await dispatcher.run_due()
    assert sender.sent == [2]
    clock.now = FIRST_DUE
    await dispatcher.run_due()
    assert sender.sent == [2, 1]


async def test_nothing_arrives_during_leave_and_prompts_resume_on_the_return_date(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    await edit(
        session_factory,
        lambda s: change_schedule(s, 1, now=FIRST_DUE - A_WEEK, paused_until=date(2026, 7, 20)),
    )
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)

    for week in range(3):
        clock.now = FIRST_DUE + week * A_WEEK
        await dispatcher.run_due()

    assert await outcomes(session_factory, 1) == [(FIRST_DUE + 2 * A_WEEK, "sent")]


async def test_skip_this_week_skips_one_prompt_only(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    await edit(session_factory, lambda s: skip_this_week(s, 1, now=FIRST_DUE - timedelta(days=2)))
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)

    for week in range(3):
        clock.now = FIRST_DUE + week * A_WEEK
        await dispatcher.run_due()

    assert [due for due, _ in await outcomes(session_factory, 1)] == [
        FIRST_DUE + A_WEEK,
        FIRST_DUE + 2 * A_WEEK,
    ]


async def test_a_snoozed_prompt_comes_back_once_then_the_week_carries_on(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1])
    sender = RecordingSender()
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)
    await dispatcher.run_due()

    later = FIRST_DUE + timedelta(hours=1)
    await edit(session_factory, lambda s: change_schedule(s, 1, now=FIRST_DUE, snoozed_until=later))
    clock.now = later
    await dispatcher.run_due()
    await dispatcher.run_due()

    assert sender.sent == [1, 1]
    schedule = await schedule_of(session_factory, 1)
    assert schedule.snoozed_until is None
    assert schedule.next_due_at == FIRST_DUE + A_WEEK


async def test_turning_check_ins_off_stops_them(session_factory: Sessions, clock: Clock) -> None:
    await add_practitioners(session_factory, [1])
    await edit(session_factory, lambda s: change_schedule(s, 1, now=FIRST_DUE, enabled=False))
    sender = RecordingSender()

    await CheckinDispatcher(session_factory, sender, clock=clock).run_due()

    assert sender.sent == []
    assert (await schedule_of(session_factory, 1)).next_due_at is None


async def test_a_practitioner_who_blocked_the_bot_is_not_retried_every_week(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [1, 2])
    sender = RecordingSender(blocked=frozenset({1}))
    dispatcher = CheckinDispatcher(session_factory, sender, clock=clock)

    await dispatcher.run_due()
    clock.now = FIRST_DUE + A_WEEK
    await dispatcher.run_due()

    assert sender.sent == [2, 2]
    assert await outcomes(session_factory, 1) == [(FIRST_DUE, "unreachable")]
    async with session_factory() as session:
        user = await session.get(User, 1)
        assert user is not None and user.unreachable_since == FIRST_DUE
    assert (await schedule_of(session_factory, 1)).next_due_at is None

    # Changing settings does not restart prompts for someone who cannot receive them...
    await edit(session_factory, lambda s: change_schedule(s, 1, now=clock.now, weekday=2))
    assert (await schedule_of(session_factory, 1)).next_due_at is None
    # ...but writing to the bot again does.
    await edit(session_factory, lambda s: reachable_again(s, 1, now=clock.now))
    assert (await schedule_of(session_factory, 1)).next_due_at == datetime(
        2026, 7, 15, 8, 0, tzinfo=UTC
    )


async def test_a_restart_mid_fan_out_sends_each_remaining_prompt_once_and_repeats_none(
    make_engine: Callable[[], AsyncEngine], engine: AsyncEngine, clock: Clock
) -> None:
    sessions = make_session_factory(engine)
    await add_practitioners(sessions, range(1, 21))
    first_run = DyingSender(survive=7)

    with pytest.raises(ProcessDied):
        await CheckinDispatcher(sessions, first_run, clock=clock).run_due()
    await engine.dispose()  # the process is gone, and its connections with it

    restarted = make_session_factory(make_engine())
    second_run = RecordingSender()
    clock.now = FIRST_DUE + timedelta(minutes=2)
    await CheckinDispatcher(restarted, second_run, clock=clock).run_due()

    assert len(first_run.sent) == 8
    assert sorted(first_run.sent + second_run.sent) == list(range(1, 21))
    async with restarted() as session:
        statuses = (await session.execute(select(CheckinDelivery.status))).scalars().all()
    assert statuses == ["sent"] * 20


class YieldingSender(RecordingSender):
    """Gives the other dispatcher a turn on every send, as network I/O would."""

    async def send(self, user_id: int, reply: Reply) -> None:
        await asyncio.sleep(0)
        await super().send(user_id, reply)


async def test_two_processes_on_postgresql_send_a_thousand_prompts_exactly_once(
    make_engine: Callable[[], AsyncEngine], engine: AsyncEngine, clock: Clock
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several processes need PostgreSQL; SQLite mode is single-process")
    await add_practitioners(make_session_factory(engine), range(1, 1001))
    senders = [YieldingSender(), YieldingSender()]
    dispatchers = [
        CheckinDispatcher(make_session_factory(make_engine()), sender, clock=clock)
        for sender in senders
    ]

    await asyncio.gather(*(dispatcher.run_due() for dispatcher in dispatchers))

    everyone = senders[0].sent + senders[1].sent
    assert sorted(everyone) == list(range(1, 1001))
    assert all(sender.sent for sender in senders), "both processes should have shared the work"
    async with make_session_factory(engine)() as session:
        recorded = await session.scalar(select(func.count()).select_from(CheckinDelivery))
    assert recorded == 1000


class BotApiSender:
    """Sends prompts through the Bot API stand-in, as the Telegram channel will."""

    def __init__(self, tg: FakeTelegram, sleep: Callable[[float], Any]) -> None:
        self.tg = tg
        self.sleep = sleep

    async def send(self, user_id: int, reply: Reply) -> None:
        while True:
            answer = await self.tg.call("sendMessage", chat_id=user_id, text="Weekly check-in")
            if answer["ok"]:
                return
            if answer["error_code"] == 403:
                raise RecipientUnreachableError(user_id)
            if answer["error_code"] == 429:
                await self.sleep(answer["parameters"]["retry_after"])
                continue
            raise RuntimeError(answer["description"])


async def test_through_the_bot_api_a_429_is_waited_out_and_a_403_stops_scheduling(
    session_factory: Sessions, clock: Clock
) -> None:
    await add_practitioners(session_factory, [101, 102, 103])
    telegram_clock = ManualClock()
    async with FakeTelegram(clock=telegram_clock, sleep=telegram_clock.sleep) as tg:
        for user_id in (101, 102, 103):
            tg.user(user_id, has_started=True)
        tg.user(102).block()
        tg.faults.add(kind="429", method="sendMessage", chat_id=103, retry_after=4)
        dispatcher = CheckinDispatcher(
            session_factory, BotApiSender(tg, telegram_clock.sleep), clock=clock
        )

        sent = await dispatcher.run_due()

        assert [user_id for user_id, _ in sent] == [101, 103]
        assert tg.user(101).texts == ["Weekly check-in"]
        assert tg.user(103).texts == ["Weekly check-in"]
        assert telegram_clock.sleeps == [4]
    assert await outcomes(session_factory, 102) == [(FIRST_DUE, "unreachable")]
    assert (await schedule_of(session_factory, 102)).next_due_at is None


async def test_two_os_processes_on_postgresql_send_a_thousand_prompts_exactly_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The same, with two real processes, as two ``steady run`` processes in webhook mode."""
    if engine.dialect.name != "postgresql":
        pytest.skip("several processes need PostgreSQL; SQLite mode is single-process")
    await add_practitioners(make_session_factory(engine), range(1, 1001))
    async with engine.connect() as connection:
        schema = (await connection.execute(text("SHOW search_path"))).scalar_one()
    url = engine.url.render_as_string(hide_password=False)
    outputs = [tmp_path / "first.txt", tmp_path / "second.txt"]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bot.checkin_worker",
            url,
            schema,
            FIRST_DUE.isoformat(),
            str(out),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for out in outputs
    ]
    for worker in workers:  # both connected: start them together
        assert worker.stdout is not None
        assert (await worker.stdout.readline()).strip() == b"ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    codes = [await asyncio.wait_for(worker.wait(), timeout=120) for worker in workers]
    assert codes == [0, 0]

    sent = [[int(line) for line in out.read_text().split()] for out in outputs]
    assert sorted(sent[0] + sent[1]) == list(range(1, 1001))  # everyone once, nobody twice
    assert sent[0] and sent[1], "both processes should have shared the work"
    async with make_session_factory(engine)() as session:
        recorded = await session.scalar(select(func.count()).select_from(CheckinDelivery))
    assert recorded == 1000
