"""Webhook mode: the secret header is checked in constant time; 200 only after recording."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from bot.telegram import receivers
from bot.telegram.receivers import WebhookServer
from storage.journal import JournalledUpdate
from tests.bot.harness import Harness, TelegramUpdate

SECRET = "steady-webhook-secret-for-tests"


@pytest.fixture
async def webhook(steady_telegram: Harness) -> AsyncIterator[tuple[Harness, WebhookServer]]:
    """Steady's webhook receiver on a loopback port, registered with the stand-in."""
    h = steady_telegram
    server = WebhookServer(
        h.channel.accept, secret=SECRET, path="/telegram", listen="127.0.0.1", port=0
    )
    await server.start()
    try:
        yield h, server
    finally:
        await h.tg.call("deleteWebhook")
        await server.stop()


async def _point_at(h: Harness, server: WebhookServer, secret: str) -> None:
    url = f"http://127.0.0.1:{server.port}/telegram"
    assert (await h.tg.call("setWebhook", url=url, secret_token=secret))["ok"]


async def test_updates_arrive_by_webhook_and_are_answered(
    webhook: tuple[Harness, WebhookServer],
) -> None:
    h, server = webhook
    await _point_at(h, server, SECRET)
    priya = h.tg.user(1001, "Priya")

    await priya.send_command("/start")
    await h.tg.wait_until_delivered()
    await h.channel.drain()

    assert "Do you agree" in priya.last_received.text
    assert [attempt.status for attempt in h.tg.webhook_attempts] == [200]


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_recorded(
    webhook: tuple[Harness, WebhookServer],
) -> None:
    h, server = webhook
    priya = h.tg.user(1001, "Priya")
    await _point_at(h, server, SECRET[:-1] + "X")  # same length, one character off
    await priya.send_command("/start")
    await h.tg.wait_for_webhook_attempts(3)
    await h.tg.call("setWebhook", url=f"http://127.0.0.1:{server.port}/telegram")  # no secret
    await h.tg.wait_for_webhook_attempts(5)

    assert {attempt.status for attempt in h.tg.webhook_attempts} == {403}
    assert await h.count(TelegramUpdate) == 0
    assert priya.received() == []

    await _point_at(h, server, SECRET)  # Telegram kept the update and now delivers it
    await h.tg.wait_until_delivered()
    await h.channel.drain()
    assert sum("Do you agree" in text for text in priya.texts) == 1


async def test_the_secret_is_compared_in_constant_time(
    webhook: tuple[Harness, WebhookServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, server = webhook
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return constant_time(given, expected)

    monkeypatch.setattr(receivers.hmac, "compare_digest", spy)
    await _point_at(h, server, SECRET)
    await h.tg.user(1001, "Priya").send_command("/start")
    await h.tg.wait_until_delivered()
    assert compared == [(SECRET.encode(), SECRET.encode())]


async def test_no_200_until_recorded_so_a_failed_recording_is_delivered_again(
    webhook: tuple[Harness, WebhookServer],
) -> None:
    h, _ = webhook
    failures = [OSError("database unavailable")]

    async def accept(updates: Sequence[JournalledUpdate]) -> int:
        if failures:
            raise failures.pop()
        return await h.channel.accept(updates)

    failing = WebhookServer(accept, secret=SECRET, path="/telegram", listen="127.0.0.1", port=0)
    await failing.start()
    try:
        await _point_at(h, failing, SECRET)
        priya = h.tg.user(1001, "Priya")
        await priya.send_command("/start")
        await h.tg.wait_until_delivered()
        await h.channel.drain()
    finally:
        await failing.stop()
    assert [attempt.status for attempt in h.tg.webhook_attempts] == [500, 200]
    assert sum("Do you agree" in text for text in priya.texts) == 1


async def test_an_update_recorded_but_not_acknowledged_is_handled_once(
    webhook: tuple[Harness, WebhookServer],
) -> None:
    h, _ = webhook
    lost_answer: list[Any] = [True]

    async def accept(updates: Sequence[JournalledUpdate]) -> int:
        accepted = await h.channel.accept(updates)
        if lost_answer:
            lost_answer.pop()
            raise ConnectionResetError("the 200 never reached Telegram")
        return accepted

    flaky = WebhookServer(accept, secret=SECRET, path="/telegram", listen="127.0.0.1", port=0)
    await flaky.start()
    try:
        await _point_at(h, flaky, SECRET)
        priya = h.tg.user(1001, "Priya")
        await priya.send_command("/start")
        await h.tg.wait_until_delivered()
        await h.channel.drain()
    finally:
        await flaky.stop()
    assert len(h.tg.webhook_attempts) == 2  # Telegram delivered it twice
    assert sum("Do you agree" in text for text in priya.texts) == 1  # Steady handled it once


async def test_a_malformed_body_is_refused(webhook: tuple[Harness, WebhookServer]) -> None:
    import httpx

    _, server = webhook
    async with httpx.AsyncClient(trust_env=False) as client:
        url = f"http://127.0.0.1:{server.port}/telegram"
        headers = {receivers.SECRET_HEADER: SECRET}
        assert (await client.post(url, content=b"{not json", headers=headers)).status_code == 400
        assert (await client.post(url, json={"no": "id"}, headers=headers)).status_code == 400
        assert (await client.get(url, headers=headers)).status_code == 405
