"""Webhook mode: updates POSTed in order with the secret header, retried until accepted."""

import asyncio
import json
from typing import Any

import httpx

from tests.botapi import FakeTelegram, ManualClock

SECRET = "steady-webhook-secret"


class RecordingTransport:
    """A webhook receiver that answers with scripted statuses (or connection failures)."""

    def __init__(self, *outcomes: int | Exception) -> None:
        self.outcomes = list(outcomes)
        self.posts: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)  # give a second delivery the chance to overlap, if it could
        self.in_flight -= 1
        self.posts.append((url, json.loads(body), headers))
        outcome = self.outcomes.pop(0) if self.outcomes else 200
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def test_updates_are_posted_in_order_one_at_a_time_with_the_secret() -> None:
    transport = RecordingTransport()
    async with FakeTelegram(webhook_transport=transport) as tg:
        user = tg.user(1001)
        await user.send_text("queued before the webhook")
        set_result = await tg.call(
            "setWebhook", url="https://bot.example/hook", secret_token=SECRET
        )
        assert set_result == {"ok": True, "result": True, "description": "Webhook was set"}
        for text in ("one", "two", "three"):
            await user.send_text(text)
        await tg.wait_until_delivered()
    texts = [update["message"]["text"] for _, update, _ in transport.posts]
    assert texts == ["queued before the webhook", "one", "two", "three"]
    ids = [update["update_id"] for _, update, _ in transport.posts]
    assert ids == sorted(ids)
    assert transport.most_in_flight == 1
    url, _, headers = transport.posts[0]
    assert url == "https://bot.example/hook"
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    assert headers["Content-Type"] == "application/json"


async def test_failed_deliveries_are_retried_with_backoff_and_reported() -> None:
    clock = ManualClock()
    transport = RecordingTransport(500, httpx.ConnectError("refused"), 200)
    async with FakeTelegram(webhook_transport=transport, clock=clock, sleep=clock.sleep) as tg:
        await tg.call("setWebhook", url="https://bot.example/hook")
        user = tg.user(1001)
        await user.send_text("hello")
        attempts = await tg.wait_for_webhook_attempts(3)
        assert [attempt.error for attempt in attempts] == [
            "Wrong response from the webhook: 500 Internal Server Error",
            "Connection refused",
            None,
        ]
        assert len({attempt.update_id for attempt in attempts}) == 1
        assert clock.sleeps == [0.01, 0.02]  # back-off doubles
        info = (await tg.call("getWebhookInfo"))["result"]
        assert info["url"] == "https://bot.example/hook"
        assert info["pending_update_count"] == 0
        assert info["last_error_message"] == "Connection refused"
        assert info["last_error_date"] == int(clock.now)


async def test_a_later_update_waits_while_an_earlier_one_keeps_failing() -> None:
    transport = RecordingTransport(503, 503)
    async with FakeTelegram(webhook_transport=transport) as tg:
        await tg.call("setWebhook", url="https://bot.example/hook")
        user = tg.user(1001)
        await user.send_text("first")
        await user.send_text("second")
        await tg.wait_until_delivered()
    texts = [update["message"]["text"] for _, update, _ in transport.posts]
    assert texts == ["first", "first", "first", "second"]


async def test_get_updates_conflicts_while_a_webhook_is_set() -> None:
    async with FakeTelegram(webhook_transport=RecordingTransport()) as tg:
        waiting = asyncio.create_task(tg.call("getUpdates", timeout=30))
        await asyncio.sleep(0)
        await tg.call("setWebhook", url="https://bot.example/hook")
        conflict = (
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
            "to delete the webhook first",
        )
        ended = await asyncio.wait_for(waiting, timeout=1)
        assert (ended["error_code"], ended["description"]) == conflict
        refused = await tg.call("getUpdates")
        assert (refused["error_code"], refused["description"]) == conflict


async def test_deleting_the_webhook_hands_pending_updates_to_get_updates() -> None:
    transport = RecordingTransport(*([500] * 1000))
    async with FakeTelegram(webhook_transport=transport, sleep=_no_wait) as tg:
        await tg.call("setWebhook", url="https://bot.example/hook")
        user = tg.user(1001)
        await user.send_text("stuck")
        await tg.wait_for_webhook_attempts(1)
        deleted = await tg.call("deleteWebhook")
        assert deleted["description"] == "Webhook was deleted"
        assert (await tg.call("deleteWebhook"))["description"] == "Webhook is already deleted"
        updates = (await tg.call("getUpdates"))["result"]
        assert [u["message"]["text"] for u in updates] == ["stuck"]
        assert (await tg.call("getWebhookInfo"))["result"] == {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": 1,
        }


async def test_drop_pending_updates_forgets_the_queue() -> None:
    async with FakeTelegram(webhook_transport=RecordingTransport()) as tg:
        user = tg.user(1001)
        await user.send_text("old news")
        await tg.call("setWebhook", url="https://bot.example/hook", drop_pending_updates=True)
        await tg.call("deleteWebhook", drop_pending_updates=True)
        assert (await tg.call("getUpdates"))["result"] == []


async def test_webhook_settings_are_validated() -> None:
    async with FakeTelegram(
        webhook_transport=RecordingTransport(), require_https_webhook=True
    ) as tg:
        http = await tg.call("setWebhook", url="http://bot.example/hook")
        assert http["description"] == (
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
        secret = await tg.call("setWebhook", url="https://bot.example/hook", secret_token="a b")
        assert secret["description"] == "Bad Request: secret token contains unallowed characters"


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)
