"""The weekly fan-out through the Bot API stand-in with Telegram's limits switched on: paced
under both limits, 429s honoured, blocked practitioners dropped, replies never stuck behind the
broadcast, and a restart part-way through repeating nothing. Time is simulated throughout."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.checkins import CheckinDispatcher, default_prompt
from bot.fanout import CheckinLoop, FanoutSender, PacedOutbound, SendBudget
from bot.telegram.callbacks import CallbackCodec
from bot.telegram.render import ReplyRenderer
from storage.checkin_models import CheckinDelivery
from storage.database import session_factory as make_session_factory
from tests.bot.test_checkins import A_WEEK, FIRST_DUE, add_practitioners, outcomes, schedule_of
from tests.botapi import FakeTelegram, RateLimits, in_process_builder

Sessions = async_sessionmaker[AsyncSession]
SLOT = 1 / 30


class SimulatedTime:
    """A clock whose sleepers wake in deadline order, time jumping straight to each deadline.

    Before moving time on it lets every runnable task take its turn, so work that needs no
    sleeping happens "instantly"; a task waiting on the database is simply not asleep.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def __call__(self) -> float:
        return self.now

    def as_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), wake))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.create_task(self._drive())
        await wake

    async def _drive(self) -> None:
        while self._sleepers:
            for _ in range(20):  # let everything runnable run (and fall asleep) first
                await asyncio.sleep(0)
            deadline = self._sleepers[0][0]
            self.now = max(self.now, deadline)
            while self._sleepers and self._sleepers[0][0] <= deadline:
                _, _, wake = heapq.heappop(self._sleepers)
                if not wake.done():
                    wake.set_result(None)


def renderer() -> ReplyRenderer:
    return ReplyRenderer(CallbackCodec(os.urandom(32)))


def budget_on(time: SimulatedTime) -> SendBudget:
    return SendBudget(global_per_second=30, per_chat_per_second=1, clock=time, sleep=time.sleep)


def stand_in(time: SimulatedTime) -> FakeTelegram:
    limits = RateLimits(global_per_second=30, per_chat_per_second=1)
    return FakeTelegram(clock=time, sleep=time.sleep, rate_limits=limits)


def bot_of(tg: FakeTelegram) -> Any:
    """python-telegram-bot's bot, talking to the stand-in in-process."""
    return in_process_builder(tg).updater(None).build().bot


def accepted_sends(tg: FakeTelegram) -> list[tuple[float, int]]:
    return [(c.at, int(c.params["chat_id"])) for c in tg.calls_to("sendMessage") if c.accepted]


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
def time() -> SimulatedTime:
    return SimulatedTime()


async def test_a_broadcast_keeps_to_thirty_a_second_and_one_a_second_per_chat(
    session_factory: Sessions, time: SimulatedTime
) -> None:
    await add_practitioners(session_factory, range(1, 121))
    async with stand_in(time) as tg:
        for user_id in range(1, 121):
            tg.user(user_id, has_started=True)
        bot = bot_of(tg)
        await bot.initialize()
        budget = budget_on(time)
        sender = FanoutSender.for_bot(bot, renderer(), budget, sleep=time.sleep)
        chatty = PacedOutbound(bot, budget, interactive=True, sleep=time.sleep)
        dispatcher = CheckinDispatcher(session_factory, sender, clock=lambda: FIRST_DUE)

        async def chat() -> None:
            # Practitioner 7 is chatting while the broadcast runs: their prompt gives way, and
            # comes at least a second after (or before) any reply to them.
            for n in range(4):
                await chatty.send(7, {"kind": "message", "text": f"reply {n}", "keyboard": None})
                await time.sleep(1.2)  # reading and typing

        sent, _ = await asyncio.gather(dispatcher.run_due(), chat())

        assert len(sent) == 120
        assert tg.rate_limiter is not None and tg.rate_limiter.rejections == 0
        sends = accepted_sends(tg)
        assert most_in_one_second([at for at, _ in sends]) <= 30
        to_seven = sorted(at for at, chat in sends if chat == 7)
        assert len(to_seven) == 5
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(to_seven))
        assert "weekly check-in" in tg.user(1).last_received.text
        assert tg.user(1).last_received.button_texts  # the prompt keeps its buttons
        await bot.shutdown()


async def test_a_broadcast_nobody_interrupts_uses_the_whole_allowance(
    time: SimulatedTime,
) -> None:
    async with stand_in(time) as tg:
        for user_id in range(1, 301):
            tg.user(user_id, has_started=True)
        bot = bot_of(tg)
        await bot.initialize()
        sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)
        started = time.now

        for user_id in range(1, 301):
            await sender.send(user_id, default_prompt(user_id, FIRST_DUE))

        assert len(accepted_sends(tg)) == 300
        assert tg.rate_limiter is not None and tg.rate_limiter.rejections == 0
        assert time.now - started == pytest.approx(299 / 30, abs=0.01)
        await bot.shutdown()


async def test_a_429_pauses_the_whole_broadcast_and_nothing_is_sent_twice(
    time: SimulatedTime,
) -> None:
    async with stand_in(time) as tg:
        for user_id in range(1, 61):
            tg.user(user_id, has_started=True)
        # Telegram's flood control for the whole bot, arriving on the 20th prompt.
        tg.faults.add(kind="429", method="sendMessage", skip=19, retry_after=5)
        bot = bot_of(tg)
        await bot.initialize()
        sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)

        async def worker(first: int) -> None:
            for user_id in range(first, 61, 3):
                await sender.send(user_id, default_prompt(user_id, FIRST_DUE))

        await asyncio.gather(*(worker(first) for first in (1, 2, 3)))

        per_chat = Counter(chat for _, chat in accepted_sends(tg))
        assert per_chat == Counter(range(1, 61))  # everyone once, nobody twice
        [refused] = [c for c in tg.calls_to("sendMessage") if c.status == 429]
        after = [at for at, _ in accepted_sends(tg) if at > refused.at]
        assert len(after) == 60 - 19
        assert min(after) >= refused.at + 5  # nothing at all went out during the pause
        await bot.shutdown()


async def test_a_blocked_practitioner_is_marked_unreachable_and_not_tried_next_week(
    session_factory: Sessions, time: SimulatedTime
) -> None:
    await add_practitioners(session_factory, [1, 2, 3])
    now = {"at": FIRST_DUE}
    async with stand_in(time) as tg:
        for user_id in (1, 2, 3):
            tg.user(user_id, has_started=True)
        tg.user(2).block()
        bot = bot_of(tg)
        await bot.initialize()
        sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)
        dispatcher = CheckinDispatcher(session_factory, sender, clock=lambda: now["at"])

        first = await dispatcher.run_due()
        now["at"] = FIRST_DUE + A_WEEK
        second = await dispatcher.run_due()

        assert [u for u, _ in first] == [1, 3] and [u for u, _ in second] == [1, 3]
        tried_two = [c for c in tg.calls_to("sendMessage") if int(c.params["chat_id"]) == 2]
        assert len(tried_two) == 1 and tried_two[0].status == 403
        assert await outcomes(session_factory, 2) == [(FIRST_DUE, "unreachable")]
        assert (await schedule_of(session_factory, 2)).next_due_at is None
        await bot.shutdown()


async def test_a_practitioner_mid_conversation_is_not_kept_waiting_behind_the_broadcast(
    time: SimulatedTime,
) -> None:
    async with stand_in(time) as tg:
        for user_id in range(1, 1501):
            tg.user(user_id, has_started=True)
        chatting = tg.user(5000, has_started=True)
        bot = bot_of(tg)
        await bot.initialize()
        budget = budget_on(time)
        sender = FanoutSender.for_bot(bot, renderer(), budget, sleep=time.sleep)
        replies = PacedOutbound(bot, budget, interactive=True, sleep=time.sleep)
        waits: list[float] = []

        async def broadcast() -> None:
            # Fifty senders at once, so a reply has plenty to queue behind if it were let.
            async def worker(first: int) -> None:
                for user_id in range(first, 1501, 50):
                    await sender.send(user_id, default_prompt(user_id, FIRST_DUE))

            await asyncio.gather(*(worker(first) for first in range(1, 51)))

        async def converse() -> None:
            for turn in range(20):
                await time.sleep(1.7)  # reading and typing
                asked = time.now
                reply = {"kind": "message", "text": f"Thank you ({turn})", "keyboard": None}
                await replies.send(chatting.id, reply)
                waits.append(time.now - asked)

        await asyncio.gather(broadcast(), converse())

        broadcast_ended = max(at for at, chat in accepted_sends(tg) if chat != chatting.id)
        assert broadcast_ended > 1500 / 30  # the conversation happened during the broadcast
        assert len(chatting.received()) == 20
        # A reply waits at most for the slot already being used, never for the queue of 1,500.
        assert max(waits) <= 2 * SLOT
        assert tg.rate_limiter is not None and tg.rate_limiter.rejections == 0
        await bot.shutdown()


async def test_stopping_mid_fan_out_and_starting_again_sends_everyone_exactly_one_prompt(
    make_engine: Callable[[], AsyncEngine], engine: AsyncEngine, time: SimulatedTime
) -> None:
    await add_practitioners(make_session_factory(engine), range(1, 61))
    async with stand_in(time) as tg:
        for user_id in range(1, 61):
            tg.user(user_id, has_started=True)
        bot = bot_of(tg)
        await bot.initialize()

        def loop_over(sessions: Sessions, at: datetime) -> CheckinLoop:
            sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)
            dispatcher = CheckinDispatcher(sessions, sender, clock=lambda: at)
            return CheckinLoop(dispatcher, workers=3, sleep=time.sleep)

        first = loop_over(make_session_factory(engine), FIRST_DUE)
        first.start()
        await tg.user(20).wait_for_messages(1)  # claims go in order of user id
        await first.stop()  # deploy: finish the prompts in hand, claim no more
        sent_before_restart = len(accepted_sends(tg))
        await engine.dispose()

        restarted = make_session_factory(make_engine())
        second = loop_over(restarted, FIRST_DUE + timedelta(minutes=3))
        await second.run_once()

        assert 20 <= sent_before_restart < 60
        assert Counter(chat for _, chat in accepted_sends(tg)) == Counter(range(1, 61))
        async with restarted() as session:
            statuses = (await session.execute(select(CheckinDelivery.status))).scalars().all()
        assert statuses == ["sent"] * 60
        await bot.shutdown()


async def test_a_crash_mid_fan_out_repeats_no_prompt_after_the_restart(
    make_engine: Callable[[], AsyncEngine], engine: AsyncEngine, time: SimulatedTime
) -> None:
    await add_practitioners(make_session_factory(engine), range(1, 41))
    async with stand_in(time) as tg:
        for user_id in range(1, 41):
            tg.user(user_id, has_started=True)
        bot = bot_of(tg)
        await bot.initialize()
        sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)
        dispatcher = CheckinDispatcher(
            make_session_factory(engine), sender, clock=lambda: FIRST_DUE
        )
        crashing = asyncio.create_task(CheckinLoop(dispatcher, workers=2).run_once())
        await tg.user(15).wait_for_messages(1)
        crashing.cancel()  # killed at whatever point it had reached
        with pytest.raises(asyncio.CancelledError):
            await crashing
        await engine.dispose()

        restarted = make_session_factory(make_engine())
        sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)
        later = FIRST_DUE + timedelta(minutes=3)
        await CheckinDispatcher(restarted, sender, clock=lambda: later).run_due()

        per_chat = Counter(chat for _, chat in accepted_sends(tg))
        assert max(per_chat.values()) == 1  # never twice
        # At most the prompts in flight at the crash (one per worker) are lost, never repeated.
        assert len(per_chat) >= 40 - 2
        await bot.shutdown()


async def test_the_loop_sends_prompts_when_they_fall_due_and_stops_cleanly(
    session_factory: Sessions, time: SimulatedTime
) -> None:
    time.now = (FIRST_DUE - timedelta(minutes=5)).timestamp()
    await add_practitioners(session_factory, [1, 2])
    async with stand_in(time) as tg:
        for user_id in (1, 2):
            tg.user(user_id, has_started=True)
        bot = bot_of(tg)
        await bot.initialize()
        sender = FanoutSender.for_bot(bot, renderer(), budget_on(time), sleep=time.sleep)
        dispatcher = CheckinDispatcher(session_factory, sender, clock=time.as_datetime)
        loop = CheckinLoop(dispatcher, interval=30.0, workers=1, sleep=time.sleep)

        task = loop.start()
        await tg.user(2).wait_for_messages(1)
        await loop.stop()

        assert task.done() and task.exception() is None
        first_sent = min(at for at, _ in accepted_sends(tg))
        assert FIRST_DUE.timestamp() <= first_sent <= FIRST_DUE.timestamp() + 30 + 1
        assert loop.runs >= 10 and loop.sent == 2
        await bot.shutdown()


async def test_replies_to_someone_who_just_wrote_are_not_held_to_one_a_second(
    time: SimulatedTime,
) -> None:
    budget = budget_on(time)
    waits = [await budget.acquire(9, interactive=True) for _ in range(3)]
    assert sum(waits) <= 3 * SLOT
    # The prompt to that chat still keeps a second's distance from the last reply.
    assert await budget.acquire(9, interactive=False) >= 1.0 - 3 * SLOT
