"""Receiving updates: long polling and a webhook, each acknowledging only what is recorded.

Polling: Telegram forgets updates below the ``offset`` of the next ``getUpdates``. The poller
computes the next offset only after :meth:`Inbox.accept` has committed the batch, so a crash
at any moment leaves Telegram holding whatever was not yet recorded.

Webhook: Telegram resends an update until it gets a 2xx. The handler answers 200 only after
the update is committed, 500 if it could not be, and 403 (checked in constant time) to anyone
without the secret token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from bot.outbound import retry_seconds
from bot.telegram.logsafety import describe_error
from bot.telegram.routing import ALLOWED_UPDATES, chat_id_of
from storage.journal import JournalledUpdate

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
Accept = Callable[[Sequence[JournalledUpdate]], Awaitable[int]]
AcceptParsed = Callable[[Sequence[Update]], Awaitable[int]]
Sleep = Callable[[float], Awaitable[None]]


def journalled(data: dict[str, Any]) -> JournalledUpdate:
    """An update as received (JSON) ready for the journal; raises on a malformed one."""
    return JournalledUpdate(int(data["update_id"]), chat_id_of(data), data)


class Backoff:
    """Growing pauses after consecutive failures: 0.5 s doubling to 30 s."""

    def __init__(self, sleep: Sleep, first: float = 0.5, most: float = 30.0) -> None:
        self._sleep = sleep
        self._first = first
        self._most = most
        self.failures = 0

    async def wait(self) -> None:
        """Pause after one more failure."""
        self.failures += 1
        await self._sleep(min(self._first * 2 ** (self.failures - 1), self._most))

    def reset(self) -> None:
        """A success: start small again next time."""
        self.failures = 0


class Poller:
    """Long polling with ``getUpdates``; the offset advances only past recorded updates."""

    def __init__(
        self, bot: Bot, accept: AcceptParsed, *, timeout: int = 30, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._bot = bot
        self._accept = accept
        self._timeout = timeout
        self._sleep = sleep
        self.offset: int | None = None

    async def prepare(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Remove any webhook (keeping pending updates), or getUpdates would be refused."""
        backoff = Backoff(self._sleep)
        while not stopping():
            try:
                await self._bot.delete_webhook(drop_pending_updates=False)
                return
            except InvalidToken:
                raise
            except RetryAfter as error:
                await self._sleep(retry_seconds(error))
            except TelegramError as error:
                log.warning("could not remove the webhook yet (%s)", type(error).__name__)
                await backoff.wait()

    async def run(self) -> None:
        """Poll until cancelled."""
        backoff = Backoff(self._sleep)
        while True:
            try:
                updates = await self._bot.get_updates(
                    offset=self.offset,
                    timeout=self._timeout,
                    limit=100,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except InvalidToken:
                raise
            except RetryAfter as error:
                await self._sleep(retry_seconds(error))
                continue
            except Conflict:
                log.warning("another bot instance (or a webhook) is taking the updates")
                await backoff.wait()
                continue
            except TelegramError as error:
                log.warning("polling failed (%s); trying again", type(error).__name__)
                await backoff.wait()
                continue
            backoff.reset()
            if not updates:
                continue
            await self._record(updates)
            # Only now may Telegram forget them: the next getUpdates confirms this offset.
            self.offset = updates[-1].update_id + 1

    async def _record(self, batch: Sequence[Update]) -> None:
        backoff = Backoff(self._sleep)
        while True:
            try:
                await self._accept(batch)
                return
            except Exception as error:
                # Not recorded, so not acknowledged: keep trying; Telegram still has them.
                log.error("could not record updates: %s", describe_error(error))
                await backoff.wait()

    async def confirm(self) -> None:
        """Tell Telegram the recorded updates arrived (on a clean stop); best effort."""
        if self.offset is None:
            return
        try:
            await self._bot.get_updates(offset=self.offset, timeout=0, limit=1)
        except TelegramError as error:
            log.info("could not confirm the last updates (%s); they will be deduplicated",
                     type(error).__name__)  # fmt: skip


class _UpdateHandler(tornado.web.RequestHandler):
    """POST <path>: one update from Telegram."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, accept: Accept, secret: str) -> None:
        """Tornado passes the receiver's settings to each request."""
        self._accept_updates = accept
        self._secret = secret.encode()

    async def post(self) -> None:
        """Record the update, then (and only then) answer 200."""
        given = self.request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self.set_status(403)
            return
        try:
            data = json.loads(self.request.body)
            update = journalled(data)
        except (ValueError, TypeError, KeyError):
            self.set_status(400)
            return
        try:
            await self._accept_updates([update])
        except Exception as error:
            log.error("could not record update %s: %s", update.update_id, describe_error(error))
            self.set_status(500)  # Telegram will deliver it again
            return
        self.set_status(200)

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Never let tornado log a request (its body is a practitioner's message)."""
        log.error("webhook request failed: %s", describe_error(value))


class WebhookServer:
    """A small HTTP server for Telegram's webhook calls."""

    def __init__(self, accept: Accept, *, secret: str, path: str, listen: str, port: int) -> None:
        self._app = tornado.web.Application(
            [(path or "/", _UpdateHandler, {"accept": accept, "secret": secret})],
            log_function=lambda handler: None,
        )
        self._listen = listen
        self.port = port
        self._server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> None:
        """Start listening (on a free port if ``port`` is 0; ``self.port`` says which)."""
        sockets = tornado.netutil.bind_sockets(self.port, self._listen)
        self.port = int(sockets[0].getsockname()[1])
        self._server = tornado.httpserver.HTTPServer(self._app, xheaders=True)
        self._server.add_sockets(sockets)

    async def stop(self) -> None:
        """Stop accepting; requests being recorded finish first."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None
