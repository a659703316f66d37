"""Outbound resilience: 429 honoured, safe retries only, 403 marks unreachable, logs stay clean."""

from __future__ import annotations

import logging

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.outbound import Delivery, Outbound, telegram_did_not_act
from bot.telegram.logsafety import LogSafetyFilter, describe_error
from tests.bot.harness import Harness
from tests.bot.scripts import answers_for, consent_script, reflection_script
from tests.bot.test_telegram_dialogues import run_steps


async def _to_the_challenge(h: Harness) -> None:
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "reflect")


def _count(h: Harness, phrase: str) -> int:
    return sum(phrase in (message.text or "") for message in h.tg.sent_messages)


async def test_flood_control_retry_after_is_honoured(steady_telegram: Harness) -> None:
    h = steady_telegram
    await _to_the_challenge(h)
    h.tg.faults.add(kind="429", method="sendMessage", retry_after=3)

    await h.press(h.tg.user(1001), "4")

    assert 3.0 in h.sleeps.waited
    assert _count(h, "The challenge.") == 1


async def test_server_errors_and_failed_connections_are_retried_with_backoff(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    await _to_the_challenge(h)
    h.tg.faults.add(kind="5xx", method="sendMessage", times=2)
    h.tg.faults.add(kind="network", method="sendMessage", times=1)

    await h.press(h.tg.user(1001), "4")

    assert _count(h, "The challenge.") == 1
    waits = [w for w in h.sleeps.waited if w > 0]
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]  # backing off


async def test_a_message_telegram_may_have_accepted_is_not_sent_twice(
    steady_telegram: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = steady_telegram
    await _to_the_challenge(h)
    h.tg.faults.add(kind="drop_after_accept", method="sendMessage")

    with caplog.at_level(logging.WARNING, logger="bot.outbound"):
        await h.press(h.tg.user(1001), "4")

    assert _count(h, "The challenge.") == 1  # it arrived once, and was not repeated
    assert len(h.tg.calls_to("sendMessage")) == len(h.tg.sent_messages)
    assert "may have been delivered" in caplog.text


async def test_a_blocked_practitioner_is_marked_unreachable_and_keeps_their_data(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await run_steps(h, priya, [*consent_script(), *reflection_script(answers_for(1))])
    h.tg.faults.add(kind="403", chat_id=1001, method="sendMessage")

    await h.command(priya, "history")

    user = await h.user_row(1001)
    assert user is not None and user.unreachable_since is not None
    assert len(await h.entries(1001)) == 1
    assert await h.count_outbox() == 0


async def test_blocking_and_unblocking_the_bot_is_noticed(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    priya.block()
    await h.pump()
    user = await h.user_row(1001)
    assert user is not None and user.unreachable_since is not None
    priya.unblock()
    await h.pump()
    user = await h.user_row(1001)
    assert user is not None and user.unreachable_since is None


async def test_refused_html_is_sent_again_as_plain_text(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya", has_started=True)
    outbound = Outbound(h.application.bot, sleep=h.sleeps)
    outcome = await outbound.send(priya.id, {"kind": "message", "text": "<blink>hi</blink> there"})
    assert outcome is Delivery.SENT
    assert priya.last_received.text == "hi there"


async def test_an_edit_that_was_already_made_counts_as_done(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya", has_started=True)
    outbound = Outbound(h.application.bot, sleep=h.sleeps)
    await outbound.send(priya.id, {"kind": "message", "text": "first"})
    edit = {"kind": "edit", "message_id": priya.last_received.message_id, "text": "second"}
    assert await outbound.send(priya.id, edit) is Delivery.SENT
    assert await outbound.send(priya.id, edit) is Delivery.SENT  # again, e.g. after a crash
    gone = {"kind": "unbutton", "message_id": 999}
    assert await outbound.send(priya.id, gone) is Delivery.SKIPPED


@pytest.mark.parametrize(
    ("error", "safe"),
    [
        (RetryAfter(3), True),
        (BadRequest("Bad Request: chat not found"), True),
        (Forbidden("Forbidden: bot was blocked by the user"), True),
        (NetworkError("Bad Gateway"), True),  # Telegram answered 502
        (NetworkError("httpx.ConnectError: All connection attempts failed"), True),
        (NetworkError("httpx.RemoteProtocolError: Server disconnected"), False),
        (NetworkError("httpx.ReadError: "), False),
        (TimedOut("Pool timeout: All connections in the connection pool are occupied."), True),
        (TimedOut(), False),  # a read timeout: it may have been carried out
    ],
)
def test_only_calls_telegram_never_carried_out_are_retried(error: Exception, safe: bool) -> None:
    assert telegram_did_not_act(error) is safe


def test_the_httpx_cause_decides_for_timeouts() -> None:
    request = httpx.Request("POST", "https://example.invalid")
    for cause, safe in (
        (httpx.ConnectTimeout("x", request=request), True),
        (httpx.PoolTimeout("x", request=request), True),
        (httpx.ReadTimeout("x", request=request), False),
        (httpx.WriteTimeout("x", request=request), False),
    ):
        error = TimedOut()
        error.__cause__ = cause
        assert telegram_did_not_act(error) is safe


def test_log_filter_masks_secrets_and_withholds_third_party_arguments() -> None:
    token = "7000000001:AAStandInTokenForSteadyTestsOnlyxxx"
    safety = LogSafetyFilter([token])
    record = logging.LogRecord(
        "telegram.Bot", logging.DEBUG, __file__, 1,
        "Calling Bot API endpoint `%s` with parameters `%s`",
        ("sendMessage", {"text": "I cried after the call"}), None,
    )  # fmt: skip
    safety.filter(record)
    assert "I cried" not in record.getMessage() and "<withheld>" in record.getMessage()
    own = logging.LogRecord(
        "bot.x", logging.INFO, __file__, 1, "url %s", (f"https://x/bot{token}/getMe",), None
    )
    safety.filter(own)
    assert token not in own.getMessage() and "[secret]" in own.getMessage()
    try:
        raise ValueError(f"failed https://x/bot{token}/getMe")
    except ValueError as error:
        crashed = logging.LogRecord("httpx", 40, __file__, 1, "boom", None, (ValueError, error,
                                    error.__traceback__))  # fmt: skip
    safety.filter(crashed)
    assert crashed.exc_text is not None and token not in crashed.exc_text


def test_errors_are_described_without_their_message() -> None:
    try:
        raise KeyError("I felt useless today")
    except KeyError as error:
        described = describe_error(error)
    assert described.startswith("KeyError at ") and "useless" not in described


async def test_a_whole_reflection_logs_no_text_and_no_token(
    steady_telegram: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = steady_telegram
    caplog.handler.addFilter(LogSafetyFilter([h.tg.token]))
    answers = answers_for(9)
    h.tg.faults.add(kind="5xx", method="sendMessage", times=1)
    h.tg.faults.add(kind="drop_after_accept", method="sendMessage", skip=3)
    with caplog.at_level(logging.DEBUG):
        await run_steps(
            h, h.tg.user(1001, "Priya"), [*consent_script(), *reflection_script(answers)]
        )
        await h.command(h.tg.user(1001), "history")
        await h.press(h.tg.user(1001), h.tg.user(1001).last_received.button_texts[0])
    # It did log: retries, the uncertain delivery, and the library's DEBUG lines about each
    # request, whose parameters (the summary and the opened entry echo every answer) are withheld.
    assert "Calling Bot API endpoint `<withheld>`" in caplog.text
    for secret in (answers.challenge, answers.value_why, answers.next_step, answers.appraisal_1):
        assert secret not in caplog.text
