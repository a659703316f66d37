"""Zero loss, exactly once: recorded before acknowledged, handled once, in order, after restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.inbox import ChatLanes
from bot.outbound import DeliveryReport, Outbound
from bot.telegram.receivers import Poller, journalled
from tests.bot.harness import Harness, OutboxMessage, TelegramUpdate, harness, restart
from tests.bot.scripts import answers_for, consent_script


async def test_an_update_delivered_twice_is_handled_once(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "reflect")
    await priya.send_text("7")
    (update,) = h.tg.take_pending_updates()

    first = await h.channel.accept([journalled(update)])
    again = await h.channel.accept([journalled(update), journalled(update)])
    await h.channel.drain()
    await h.channel.inbox.accept([journalled(update)])  # even after it was handled
    await h.channel.drain()

    assert (first, again) == (1, 0)
    assert sum("The challenge." in text for text in priya.texts) == 1
    await h.say(priya, answers_for(1).challenge)
    assert "Which of these is closest" in priya.received()[-1].text  # not asked twice


async def test_updates_are_sealed_while_waiting_and_shredded_once_handled(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "reflect")
    await h.say(priya, "5")
    secret_words = "the interpreter never arrived and I felt useless"
    await priya.send_text(secret_words)
    (update,) = h.tg.take_pending_updates()

    await h.channel.store.record([journalled(update)], h.steady.companion._clock())
    assert secret_words.encode() not in await h.raw_database_bytes()
    assert await h.pending_journal() == 1

    h.channel.lanes.submit(1001, _handle(update))
    await h.channel.drain()
    assert await h.pending_journal() == 0
    async with h.steady.sessions() as session:
        row = await session.get(TelegramUpdate, update["update_id"])
    assert row is not None and row.payload is None and row.chat_id is None


def _handle(update: dict[str, Any]) -> Any:
    from bot.inbox import HandleUpdate

    return HandleUpdate(journalled(update))


async def test_a_restart_handles_what_was_recorded_but_not_yet_handled(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya, sam = h.tg.user(1001, "Priya"), h.tg.user(1002, "Sam")
    await h.consented(priya)
    await priya.send_command("/reflect")
    await sam.send_command("/start")
    recorded = [journalled(update) for update in h.tg.take_pending_updates()]
    # Recorded (so acknowledged to Telegram) and then the process died before handling them.
    await h.channel.store.record(recorded, h.steady.companion._clock())

    channel = await restart(h)
    replies, updates = await channel.recover()
    await channel.drain()

    assert (replies, updates) == (0, 2)
    assert "How are you feeling right now" in priya.received()[-1].text
    assert "Do you agree" in sam.received()[-1].text
    await channel.recover()  # nothing left to do the second time
    await channel.drain()
    assert sum("Do you agree" in text for text in sam.texts) == 1


class _CrashAfterCommit(Outbound):
    """Dies (as the process would) after the step committed, before anything is sent."""

    async def deliver(self, chat_id: int, entries: Any) -> DeliveryReport:
        raise RuntimeError("power cut")


async def test_replies_committed_but_not_sent_are_sent_after_a_restart(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        priya = h.tg.user(1001, "Priya")
        await h.consented(priya)
        h.channel.outbound = _CrashAfterCommit(h.application.bot)
        await priya.send_command("/reflect")
        await h.pump()
        assert "How are you feeling right now" not in " ".join(priya.texts)
        assert await h.count(OutboxMessage) == 1  # the intro and the first question, sealed

        channel = await restart(h)
        replies, updates = await channel.recover()
        await channel.drain()

        assert (replies, updates) == (1, 0)
        assert sum("How are you feeling right now" in t for t in priya.texts) == 1
        assert await h.count(OutboxMessage) == 0
        await h.press(priya, "6")  # and the conversation simply carries on
        assert "The challenge." in priya.received()[-1].text


async def test_one_chat_waits_its_turn_while_other_chats_carry_on(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya, sam = h.tg.user(1001, "Priya"), h.tg.user(1002, "Sam")
    for user in (priya, sam):
        await h.consented(user)
    release = asyncio.Event()
    started: list[int] = []
    real = h.channel.outbound

    class HeldForPriya(Outbound):
        async def deliver(self, chat_id: int, entries: Any) -> DeliveryReport:
            started.append(chat_id)
            if chat_id == priya.id:
                await release.wait()
            return await real.deliver(chat_id, entries)

    h.channel.outbound = HeldForPriya(h.application.bot)
    await priya.send_command("/reflect")
    await priya.send_text("3")
    await priya.send_text("My first clinic alone")
    await sam.send_command("/help")
    await h.channel.accept([journalled(u) for u in h.tg.take_pending_updates()])

    await sam.wait_until(lambda: bool(sam.texts) and "What Steady is for" in sam.texts[-1])
    assert started.count(priya.id) == 1  # Priya's next updates wait behind her first
    release.set()
    await h.channel.drain()

    texts = priya.texts
    arrive = next(i for i, t in enumerate(texts) if "How are you feeling right now" in t)
    challenge = next(i for i, t in enumerate(texts) if "The challenge." in t)
    category = next(i for i, t in enumerate(texts) if "Which of these is closest" in t)
    assert arrive < challenge < category


async def test_lanes_keep_order_per_chat_under_load() -> None:
    seen: dict[int, list[int]] = {}

    async def run(work: tuple[int, int]) -> None:
        chat, number = work
        await asyncio.sleep(0)
        seen.setdefault(chat, []).append(number)

    lanes = ChatLanes(run, limit=4)
    for number in range(200):
        lanes.submit(number % 7, (number % 7, number))
    await lanes.wait_idle()
    for chat, numbers in seen.items():
        assert numbers == sorted(numbers) and len(numbers) == len(range(chat, 200, 7))


async def test_polling_acknowledges_only_what_was_recorded(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    attempts: list[int] = []

    async def accept_after_a_failure(batch: Any) -> int:
        # While recording fails, Telegram must still hold the update.
        assert [u["update_id"] for u in h.tg.pending_updates()] == [b.update_id for b in batch]
        attempts.append(len(batch))
        if len(attempts) == 1:
            raise OSError("disk full")
        return await h.channel.accept_parsed(batch)

    poller = Poller(h.application.bot, accept_after_a_failure, timeout=5, sleep=h.sleeps)
    task = asyncio.create_task(poller.run())
    try:
        await priya.send_command("/start")
        await priya.wait_for_messages(1)
        await h.tg.wait_until_delivered()  # confirmed by the next getUpdates, after recording
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert attempts == [1, 1]
    assert h.sleeps.waited  # backed off before recording again
    assert len(priya.received()) == 1


async def test_a_poller_that_dies_mid_batch_loses_nothing_and_repeats_nothing(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    for step in consent_script():
        await (priya.send_command(step.value) if step.action == "command" else asyncio.sleep(0))
    recorded = asyncio.Event()

    async def record_then_die(batch: Any) -> int:
        await h.channel.accept_parsed(batch)
        recorded.set()
        await asyncio.Event().wait()  # killed here: recorded, but the offset never advanced
        return 0

    first = Poller(h.application.bot, record_then_die, timeout=5, sleep=h.sleeps)
    task = asyncio.create_task(first.run())
    await recorded.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(h.tg.pending_updates()) == 1  # Telegram still has it and will send it again

    second = Poller(h.application.bot, h.channel.accept_parsed, timeout=5, sleep=h.sleeps)
    task = asyncio.create_task(second.run())
    try:
        await h.tg.wait_until_delivered()
        await h.channel.drain()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sum("Do you agree" in text for text in priya.texts) == 1


async def test_journal_records_on_both_backends(engine: Any) -> None:
    """The journal's repository on SQLite and (in CI) PostgreSQL."""
    import os
    from datetime import UTC, datetime

    from storage.database import session_factory
    from storage.journal import OutboxRepository, UpdateJournal, channel_sealer

    sealer = channel_sealer(os.urandom(32))
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    sessions = session_factory(engine)
    updates = [journalled({"update_id": n, "message": {"chat": {"id": 5}}}) for n in (3, 1, 2)]
    async with sessions() as session, session.begin():
        fresh = await UpdateJournal(session, sealer).record([*updates, updates[0]], now=now)
    assert [u.update_id for u in fresh] == [1, 2, 3]
    async with sessions() as session, session.begin():
        journal = UpdateJournal(session, sealer)
        assert await journal.record(updates, now=now) == []
        assert await journal.claim(2, now=now)
        assert not await journal.claim(2, now=now)
        assert await journal.claim(99, now=now)  # never recorded: claimed, tombstoned
    async with sessions() as session, session.begin():
        journal = UpdateJournal(session, sealer)
        assert [u.update_id for u in await journal.pending()] == [1, 3]
        assert (await journal.pending())[0].data["message"]["chat"]["id"] == 5
        outbox = OutboxRepository(session, sealer)
        first = await outbox.add(5, 1, [{"kind": "message", "text": "a"}, {"kind": "x"}], now=now)
        second = await outbox.add(5, 3, [{"kind": "message", "text": "b"}], now=now)
        assert await outbox.add(5, 4, [], now=now) is None
    async with sessions() as session, session.begin():
        outbox = OutboxRepository(session, sealer)
        pending = await outbox.pending()
        assert pending == [first, second]
        assert pending[0].operations == ({"kind": "message", "text": "a"}, {"kind": "x"})
        assert first is not None
        await outbox.remove([first.id])
    async with sessions() as session:
        assert await OutboxRepository(session, sealer).pending() == [second]
        ids = (await session.execute(select(TelegramUpdate.update_id))).scalars().all()
        assert sorted(ids) == [1, 2, 3, 99]


def _poisoned(monkeypatch: Any, poison: str) -> None:
    """Make the companion fail (as a bug would) whenever someone types ``poison``."""
    from bot.companion import Companion
    from dialogues.core import EventKind

    real = Companion.handle

    async def handle(self: Companion, user_id: int, event: Any) -> Any:
        if event.kind is EventKind.TEXT and event.value == poison:
            raise RuntimeError("a bug in a step")
        return await real(self, user_id, event)

    monkeypatch.setattr(Companion, "handle", handle)


async def test_a_step_that_keeps_failing_changes_nothing_and_ends_with_an_apology(
    steady_telegram: Harness, monkeypatch: Any, caplog: Any
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "reflect")
    _poisoned(monkeypatch, "seven and a bit")

    replies = await h.say(priya, "seven and a bit")

    assert [r.text for r in replies] == [
        "Sorry, something went wrong on my side and I couldn't take in your last message. "
        "Your earlier answers are safe. Please try again in a moment, or send /help."
    ]
    assert await h.pending_journal() == 0  # closed, so a restart does not try it again
    assert "seven and a bit" not in caplog.text and "RuntimeError" in caplog.text
    await h.press(priya, "7")  # the reflection is where it was
    assert "The challenge." in priya.received()[-1].text


async def test_one_failing_step_does_not_hold_back_steps_committed_with_it(
    steady_telegram: Harness, monkeypatch: Any
) -> None:
    h = steady_telegram
    users = [h.tg.user(1001 + n, f"P{n}") for n in range(6)]
    for user in users:
        await h.consented(user)
        await h.command(user, "reflect")
    _poisoned(monkeypatch, "poison")
    for n, user in enumerate(users):
        await user.send_text("poison" if n == 2 else str(n))
    await h.pump()  # all six recorded together, so their steps share a transaction

    for n, user in enumerate(users):
        expected = "something went wrong" if n == 2 else "The challenge."
        assert expected in user.received()[-1].text
    assert await h.pending_journal() == 0


async def test_a_reflection_on_postgresql_is_handled_once_and_in_order(
    steady_telegram_postgres: Harness,
) -> None:
    h = steady_telegram_postgres
    from tests.bot.scripts import reflection_script
    from tests.bot.test_telegram_dialogues import run_steps

    users = [h.tg.user(1001 + n, f"P{n}") for n in range(3)]
    for n, user in enumerate(users):
        await run_steps(h, user, [*consent_script(), *reflection_script(answers_for(n))])
    (update,) = [journalled(u) for u in (await _one_more(h, users[0]))]
    assert await h.channel.accept([update, update]) == 1  # a repeat is recorded once
    await h.channel.drain()
    for n, user in enumerate(users):
        (entry,) = await h.entries(user.id)
        assert entry.private["challenge"] == answers_for(n).challenge
    assert sum("Your reflections" in t for t in users[0].texts) == 1
    assert await h.pending_journal() == 0


async def _one_more(h: Harness, user: Any) -> list[dict[str, Any]]:
    await user.send_command("/history")
    return h.tg.take_pending_updates()
