"""End to end: ``steady run`` in a subprocess against the loopback Bot API stand-in.

Polling and webhook both run a whole practitioner journey, with two practitioners at once; then
50 scripted conversations run while the process is SIGKILLed at seeded-random moments and
restarted, and afterwards every answer is stored exactly once and every reply arrived.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.settings import Settings
from storage import EntryRepository, Vault
from storage.crypto import encode_key
from storage.telegram_models import OutboxMessage, TelegramUpdate
from tests.bot.e2e import (
    KillSwitch,
    SteadyProcess,
    collapse_repeats,
    free_port,
    original_text,
    play,
    steady_env,
)
from tests.bot.harness import harness
from tests.bot.scripts import Answers, answers_for, full_script
from tests.botapi import BotApiServer, FakeTelegram, TelegramUser

CONVERSATIONS = 50
AT_ONCE = 25
KILLS = 8
MOST_REPLIES_PER_STEP = 3  # e.g. "saved" + the menu; a batch larger than this would show up


@dataclass
class Deployment:
    telegram: FakeTelegram
    server: BotApiServer
    bot: SteadyProcess
    data_dir: Path
    master_key: str


@pytest.fixture(params=["polling", "webhook"])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A stand-in on loopback HTTP and a ``steady run`` pointed at it (not yet started)."""
    master_key = encode_key(os.urandom(32))
    data_dir = tmp_path / "data"
    async with FakeTelegram(record_calls=False) as telegram, BotApiServer(telegram) as server:
        extra: dict[str, str] = {}
        args: tuple[str, ...] = ()
        if request.param == "webhook":
            port = free_port()
            extra = {
                "STEADY_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
                "STEADY_WEBHOOK_LISTEN": "127.0.0.1",
                "STEADY_WEBHOOK_PORT": str(port),
            }
            args = ("--webhook",)
        env = steady_env(server, data_dir, master_key, **extra)
        bot = SteadyProcess(env, tmp_path / "steady.log", args)
        try:
            yield Deployment(telegram, server, bot, data_dir, master_key)
        finally:
            await bot.ensure_stopped()


async def _saved(deployment: Deployment) -> dict[int, list[object]]:
    """Every practitioner's saved entries, read back through Steady's own store."""
    settings = Settings(data_dir=deployment.data_dir, master_key=deployment.master_key)
    steady = await create_app(settings)
    try:
        async with steady.sessions() as session:
            from storage import User

            users = (await session.scalars(select(User.id))).all()
            repository = EntryRepository(session, Vault(session, steady.keyring))
            saved = {user_id: list(await repository.export(user_id)) for user_id in users}
            pending = await session.scalar(
                select(func.count()).where(TelegramUpdate.handled_at.is_(None))
            )
            payloads = await session.scalar(
                select(func.count()).where(TelegramUpdate.payload.is_not(None))
            )
            outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
        assert (pending, payloads, outbox) == (0, 0, 0), "work left behind"
        return saved
    finally:
        await steady.close()


def _assert_saved_exactly(entries: list[object], answers: Answers) -> None:
    assert len(entries) == 1, f"{len(entries)} reflections saved"
    (entry,) = entries
    private = entry.private  # type: ignore[attr-defined]
    assert private["challenge"] == answers.challenge
    assert private["value_why"] == answers.value_why
    assert private["next_step"] == answers.next_step
    assert [a["answer"] for a in private["appraisals"]] == [answers.appraisal_1,
                                                            answers.appraisal_2]  # fmt: skip
    assert entry.rating_before == answers.rating_before  # type: ignore[attr-defined]
    assert entry.rating_after == answers.rating_after  # type: ignore[attr-defined]


def _assert_private(users: list[TelegramUser], answers: list[Answers]) -> None:
    """Nobody's chat shows a word another practitioner wrote."""
    for user, mine in zip(users, answers, strict=True):
        chat = "\n".join(m.body for m in user.received(include_deleted=True))
        assert mine.next_step in chat
        for other in answers:
            if other is not mine:
                for words in (other.challenge, other.value_why, other.next_step):
                    assert words not in chat


def _assert_logs_clean(deployment: Deployment, answers: list[Answers]) -> None:
    logs = deployment.bot.logs
    assert "Steady is running" in logs
    assert deployment.telegram.token not in logs
    assert deployment.telegram.token.split(":")[1] not in logs
    for mine in answers:
        for words in (mine.challenge, mine.value_why, mine.next_step, mine.appraisal_1):
            assert words not in logs


async def test_a_practitioners_whole_journey_and_two_at_once(deployment: Deployment) -> None:
    tg = deployment.telegram
    priya, sam = tg.user(2001, "Priya"), tg.user(2002, "Sam")
    answers = [answers_for(1, seed=7), answers_for(2, seed=7)]
    await deployment.bot.start()

    await asyncio.gather(
        *(play(u, full_script(a)) for u, a in zip((priya, sam), answers, strict=True))
    )
    for user in (priya, sam):  # open the reflection from /history
        await play(user, [_open_first()])

    assert await deployment.bot.stop() == 0
    assert set(tg.commands()) >= {"reflect", "quick", "history", "help"}
    saved = await _saved(deployment)
    _assert_saved_exactly(saved[2001], answers[0])
    _assert_saved_exactly(saved[2002], answers[1])
    _assert_private([priya, sam], answers)
    _assert_logs_clean(deployment, answers)


def _open_first() -> object:
    from tests.bot.scripts import Step

    # The history list's first button is the newest reflection; it opens in full.
    return Step("press_first", "", "What happened:")


async def test_kill_nine_at_random_moments_loses_and_repeats_no_answer(
    deployment: Deployment, tmp_path: Path
) -> None:
    tg = deployment.telegram
    seed = 20261127
    switch = KillSwitch(tg, deployment.bot, seed=seed, kills=KILLS)
    users = [tg.user(3000 + n, f"P{n}") for n in range(CONVERSATIONS)]
    answers = [answers_for(n, seed=seed) for n in range(CONVERSATIONS)]
    slots = asyncio.Semaphore(AT_ONCE)

    async def converse(user: TelegramUser, mine: Answers) -> None:
        async with slots:
            await play(user, full_script(mine))

    await deployment.bot.start()
    await asyncio.gather(*(converse(u, a) for u, a in zip(users, answers, strict=True)))
    await switch.settle()

    assert len(switch.moments) == KILLS, f"only {len(switch.moments)} kills happened"
    assert await deployment.bot.stop() == 0
    saved = await _saved(deployment)
    for user, mine in zip(users, answers, strict=True):
        _assert_saved_exactly(saved[user.id], mine)

    # Every reply arrived, in order. A kill can only make a practitioner see the replies to
    # their latest step again (sent, but not yet cleared from the outbox), straight after.
    expected = await _expected_transcript(tmp_path, answers[0])
    repeats = []
    for user in users:
        texts = [original_text(m) for m in user.received(include_deleted=True)]
        collapsed, removed = collapse_repeats(texts)
        repeats.append(removed)
        assert [t[:12] for t in collapsed] == [t[:12] for t in expected], user
        assert removed <= MOST_REPLIES_PER_STEP * KILLS
    seen_twice = f"{sum(repeats)} in all, by {sum(1 for r in repeats if r)} practitioners"
    print(f"{deployment.bot.starts} starts, kills at {switch.moments}; seen twice: {seen_twice}")
    _assert_private(users, answers)
    _assert_logs_clean(deployment, answers)


async def _expected_transcript(tmp_path: Path, answers: Answers) -> list[str]:
    """The replies to the same script from the channel in-process, with nothing going wrong."""
    from tests.bot.test_telegram_dialogues import run_steps

    async with harness(tmp_path / "reference") as h:
        user = h.tg.user(1, "Reference")
        await run_steps(h, user, full_script(answers))
        texts = [original_text(m) for m in user.received(include_deleted=True)]
    collapsed, removed = collapse_repeats(texts)
    assert removed == 0
    return collapsed
