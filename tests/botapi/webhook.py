"""Webhook delivery: POST each pending update in order, retrying until the bot says 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httpx

from tests.botapi.models import WebhookAttempt
from tests.botapi.updates import UpdateQueue

_log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

WebhookTransport = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
"""POSTs `body` to a URL with headers and returns the HTTP status; raises on connection failure."""

Backoff = Callable[[int], float]


def quick_backoff(failures: int) -> float:
    """Seconds to wait after the n-th consecutive failure: 10 ms doubling, at most 1 s.

    Telegram backs off for minutes; tests want retries to happen promptly.
    """
    return float(min(0.01 * 2**failures, 1.0))


@dataclass
class WebhookConfig:
    """What `setWebhook` stored, plus the error history `getWebhookInfo` reports."""

    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None
    allowed_updates: list[str] | None = field(default=None)


class HttpxWebhookTransport:
    """The default transport: a real HTTP POST with httpx (a python-telegram-bot dependency)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the status code."""
        if self._client is None:
            # trust_env=False: a proxy from the environment must never see loopback test traffic.
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False)
        response = await self._client.post(url, content=body, headers=headers)
        return response.status_code

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def describe_failure(exc: BaseException) -> str:
    """Telegram-style `last_error_message` for a failed connection."""
    if isinstance(exc, httpx.TimeoutException):
        return "Read timeout expired"
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return "Connection refused"
    return "Connection failed"


class WebhookDeliverer:
    """The background task that empties the update queue into the webhook, one at a time."""

    def __init__(
        self,
        queue: UpdateQueue,
        config: WebhookConfig,
        *,
        transport: WebhookTransport,
        sleep: Callable[[float], Awaitable[None]],
        backoff: Backoff,
        clock: Callable[[], float],
    ) -> None:
        self._queue = queue
        self._config = config
        self._transport = transport
        self._sleep = sleep
        self._backoff = backoff
        self._clock = clock
        self.attempts: list[WebhookAttempt] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the delivery task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start delivering (no-op if already running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="botapi-webhook-delivery"
            )

    async def stop(self) -> None:
        """Stop delivering; an update in flight stays pending."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._queue.changed.wait_for(lambda: len(self._queue) > 0)
            update = self._queue.first()
            assert update is not None
            error = await self._post(update)
            if error is None:
                self._queue.remove_delivered(update)
                failures = 0
                continue
            self._config.last_error_date = int(self._clock())
            self._config.last_error_message = error
            await self._sleep(self._backoff(failures))
            failures += 1

    async def _post(self, update: dict[str, object]) -> str | None:
        headers = {"Content-Type": "application/json"}
        if self._config.secret_token:
            headers[SECRET_HEADER] = self._config.secret_token
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        status: int | None = None
        try:
            status = await self._transport(self._config.url, body, headers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error: str | None = describe_failure(exc)
        else:
            error = None if 200 <= status <= 299 else _wrong_response(status)
        update_id = int(str(update["update_id"]))
        self.attempts.append(WebhookAttempt(update_id, status, error, self._clock()))
        self._queue.changed.notify()
        if error is not None:
            _log.debug("webhook delivery of update %d failed: %s", update_id, error)
        return error


def _wrong_response(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"Wrong response from the webhook: {status} {phrase}"
