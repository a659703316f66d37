"""Scripted faults and flood control, seen through python-telegram-bot's `Bot`."""

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from tests.botapi import FakeTelegram, FakeTelegramRequest, ManualClock, RateLimits, TelegramUser


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake_telegram.token, request=FakeTelegramRequest(fake_telegram)) as bot:
        yield bot


@pytest.fixture
def user(fake_telegram: FakeTelegram) -> TelegramUser:
    return fake_telegram.user(1001, has_started=True)


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without this python-telegram-bot 22 warns when building RetryAfter, which
    # filterwarnings=error turns into a failure.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


async def test_429_carries_retry_after_and_fires_only_as_often_as_asked(
    fake_telegram: FakeTelegram, bot: Bot, user: TelegramUser
) -> None:
    fault = fake_telegram.faults.add(kind="429", method="sendMessage", retry_after=3, times=1)
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(user.id, "first try")
    assert raised.value.retry_after == dt.timedelta(seconds=3)
    await bot.send_message(user.id, "second try")
    assert user.texts == ["second try"]
    assert fault.hits == 1
    [refused, accepted] = fake_telegram.calls_to("sendMessage")
    assert (refused.status, refused.description) == (429, "Too Many Requests: retry after 3")
    assert accepted.ok


async def test_5xx_is_a_network_error_and_sends_nothing(
    fake_telegram: FakeTelegram, bot: Bot, user: TelegramUser
) -> None:
    fake_telegram.faults.add(kind="5xx", method="sendMessage")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(user.id, "hello")
    assert user.received() == []


async def test_403_fault_looks_like_a_block_for_one_call(
    fake_telegram: FakeTelegram, bot: Bot, user: TelegramUser
) -> None:
    fake_telegram.faults.add(kind="403", chat_id=user.id)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user.id, "hello")
    await bot.send_message(user.id, "hello again")
    assert user.texts == ["hello again"]


async def test_drop_after_accept_delivers_the_message_but_loses_the_answer(
    fake_telegram: FakeTelegram, bot: Bot, user: TelegramUser
) -> None:
    fake_telegram.faults.add(kind="drop_after_accept", method="sendMessage")
    with pytest.raises(NetworkError, match="Server disconnected"):
        await bot.send_message(user.id, "Your summary is ready")
    # A naive retry now sends it twice: the stand-in shows exactly that.
    await bot.send_message(user.id, "Your summary is ready")
    assert user.texts == ["Your summary is ready", "Your summary is ready"]
    dropped = fake_telegram.calls_to("sendMessage")[0]
    assert (dropped.status, dropped.accepted) == (None, True)


async def test_network_failure_means_telegram_never_saw_the_call(
    fake_telegram: FakeTelegram, bot: Bot, user: TelegramUser
) -> None:
    fake_telegram.faults.add(kind="network", method="sendMessage", skip=1)
    await bot.send_message(user.id, "one")
    with pytest.raises(NetworkError, match="ConnectError"):
        await bot.send_message(user.id, "two")
    assert user.texts == ["one"]
    assert fake_telegram.calls_to("sendMessage")[1].accepted is False


async def test_slow_answers_wait_through_the_injected_sleep() -> None:
    clock = ManualClock()
    async with FakeTelegram(clock=clock, sleep=clock.sleep) as tg:
        user = tg.user(1001, has_started=True)
        tg.faults.add(kind="slow", method="sendMessage", delay=2.5, times=None)
        async with Bot(tg.token, request=FakeTelegramRequest(tg)) as bot:
            start = clock.now
            message = await bot.send_message(user.id, "eventually")
        assert clock.sleeps == [2.5]
        assert message.date.timestamp() == int(start + 2.5)  # dates are whole seconds


async def test_a_slow_answer_beyond_the_read_timeout_is_timed_out() -> None:
    async with FakeTelegram() as tg:
        user = tg.user(1001, has_started=True)
        tg.faults.add(kind="slow", method="sendMessage", delay=60)
        request = FakeTelegramRequest(tg, read_timeout=0.01)
        async with Bot(tg.token, request=request) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(user.id, "too slow")


async def test_faults_only_match_their_method_and_chat(
    fake_telegram: FakeTelegram, bot: Bot, user: TelegramUser
) -> None:
    other = fake_telegram.user(1002, has_started=True)
    fake_telegram.faults.add(kind="5xx", method="sendmessage", chat_id=other.id, times=None)
    await bot.send_message(user.id, "fine")
    await bot.send_chat_action(other.id, "typing")
    with pytest.raises(NetworkError):
        await bot.send_message(other.id, "broken")
    assert [f.kind for f in fake_telegram.faults.pending] == ["5xx"]
    fake_telegram.faults.clear()
    await bot.send_message(other.id, "mended")
    assert other.texts == ["mended"]


def test_unknown_fault_kinds_are_rejected(fake_telegram: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake_telegram.faults.add(kind="teapot")  # type: ignore[arg-type]


async def test_rate_limits_answer_429_per_chat_and_recover_with_time() -> None:
    clock = ManualClock()
    limits = RateLimits(per_chat_per_second=1, global_per_second=3)
    async with FakeTelegram(clock=clock, rate_limits=limits) as tg:
        users = [tg.user(1000 + n, has_started=True) for n in range(4)]
        first = await tg.call("sendMessage", chat_id=users[0].id, text="a")
        assert first["ok"]
        again = await tg.call("sendMessage", chat_id=users[0].id, text="b")
        assert again["error_code"] == 429
        assert again["parameters"] == {"retry_after": 1}
        assert (await tg.call("sendMessage", chat_id=users[1].id, text="c"))["ok"]
        assert (await tg.call("sendMessage", chat_id=users[2].id, text="d"))["ok"]
        # Three messages in this second already: the global budget is spent.
        assert (await tg.call("sendMessage", chat_id=users[3].id, text="e"))["error_code"] == 429
        clock.advance(1.0)
        assert (await tg.call("sendMessage", chat_id=users[0].id, text="b"))["ok"]
        assert users[0].texts == ["a", "b"]


async def test_group_limit_is_per_minute() -> None:
    clock = ManualClock()
    async with FakeTelegram(clock=clock, rate_limits=RateLimits(per_group_per_minute=2)) as tg:
        group = tg.group_chat("Team")
        for _ in range(2):
            assert (await tg.call("sendMessage", chat_id=group.id, text="x"))["ok"]
            clock.advance(1)
        refused = await tg.call("sendMessage", chat_id=group.id, text="x")
        assert refused["parameters"] == {"retry_after": 58}


async def test_bad_request_reaches_python_telegram_bot_with_telegrams_wording(
    bot: Bot, user: TelegramUser
) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(user.id, "   ")
