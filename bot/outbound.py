"""Sending to Telegram without losing a message or sending one twice when it can be helped.

Every failed call is sorted by one question: could Telegram have carried it out?

* Telegram answered with an error (429, 4xx, 5xx), or the connection was never made (refused,
  connect timeout, no free connection in the pool): it did not. The call is repeated: after
  ``retry_after`` for 429, with exponential back-off for the rest.
* The request went out and the answer was lost (read timeout, connection dropped mid-way): it
  may have (and usually did). Sending again could show the practitioner the same message
  twice, so it is not repeated; it is logged as uncertain and the conversation carries on (if
  it really was lost, ``/start`` shows the current question again).
* 403 (blocked, deactivated): the practitioner cannot be reached. Nothing more is sent to them
  and the caller marks them unreachable; their data stays.

Logs name the chat and the kind of failure only, never what a message said.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from prompts.rendering import html_to_plain
from storage.journal import OutboxEntry

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class Delivery(StrEnum):
    """How one message ended."""

    SENT = "sent"
    SKIPPED = "skipped"  # Telegram refused it for good (an edit of a deleted message, say)
    UNCERTAIN = "uncertain"  # it may have arrived; not sent again
    UNREACHABLE = "unreachable"  # 403: the practitioner blocked Steady or left Telegram
    GAVE_UP = "gave_up"  # still failing after every retry


@dataclass
class DeliveryReport:
    """What happened to a chat's queued replies, by outbox entry."""

    outcomes: dict[int, Delivery] = field(default_factory=dict)
    unreachable: bool = False

    @property
    def finished_ids(self) -> list[int]:
        """Outbox ids that need no further attempt (all of them, unless cancelled mid-way)."""
        return list(self.outcomes)


def retry_seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds, whichever form python-telegram-bot gives it in."""
    value: Any = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def telegram_did_not_act(error: BaseException) -> bool:
    """Whether a failed call certainly did nothing at Telegram, so repeating it is safe."""
    if isinstance(error, RetryAfter | BadRequest | Forbidden | InvalidToken | ChatMigrated):
        return True  # Telegram answered: it refused
    cause = error.__cause__
    if isinstance(error, TimedOut):
        # Only a timeout before the request left is safe: connecting, or waiting for the pool.
        before_sending = isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout)
        return before_sending or "Pool timeout" in str(error)
    if isinstance(error, NetworkError):
        if isinstance(cause, httpx.ConnectError):
            return True
        message = str(error)
        if message.startswith("httpx."):
            # python-telegram-bot names the transport error; only a failed connect is safe.
            return message.startswith(("httpx.ConnectError", "httpx.ConnectTimeout"))
        # Telegram (or a proxy in front of it) answered with a 5xx: the call was not carried out.
        return cause is None or not isinstance(cause, httpx.HTTPError)
    return False


def _markup(keyboard: Sequence[Sequence[Sequence[str]]] | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in keyboard
        ]
    )


class Outbound:
    """Sends queued operations to one chat at a time, in order, with the retry rules above."""

    def __init__(
        self,
        bot: Bot,
        *,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 12,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._bot = bot
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._jitter = jitter

    async def deliver(self, chat_id: int, entries: Sequence[OutboxEntry]) -> DeliveryReport:
        """Send ``entries`` to ``chat_id`` in order; stop early if the chat is unreachable."""
        report = DeliveryReport()
        for entry in entries:
            outcomes = []
            for operation in entry.operations:
                if report.unreachable:
                    break
                outcome = await self.send(chat_id, operation)
                outcomes.append(outcome)
                report.unreachable = outcome is Delivery.UNREACHABLE
            # Each entry is finished either way; its outcome is the first thing that went wrong.
            report.outcomes[entry.id] = (
                Delivery.UNREACHABLE
                if report.unreachable
                else next((o for o in outcomes if o is not Delivery.SENT), Delivery.SENT)
            )
        return report

    async def send(self, chat_id: int, operation: dict[str, Any]) -> Delivery:
        """Carry out one operation, retrying only where Telegram certainly did nothing."""
        kind = str(operation.get("kind"))
        plain = False
        failures = 0
        while True:
            try:
                await self._call(chat_id, operation, plain=plain)
                return Delivery.SENT
            except RetryAfter as error:
                failures += 1
                wait = retry_seconds(error)
                log.info("chat %s: flood control, waiting %.1fs before retrying", chat_id, wait)
                if failures > self._max_attempts * 2:
                    return self._give_up(chat_id, kind, error)
                await self._sleep(wait)
            except Forbidden:
                log.info("chat %s cannot be reached (403); nothing more will be sent", chat_id)
                return Delivery.UNREACHABLE
            except BadRequest as error:
                outcome = self._refused(chat_id, kind, error, plain)
                if outcome is None:
                    plain = True  # the HTML was refused: send the same words without markup
                    continue
                return outcome
            except TelegramError as error:
                if not telegram_did_not_act(error):
                    log.warning(
                        "chat %s: %s may have been delivered (%s); not sending it again",
                        chat_id,
                        kind,
                        type(error).__name__,
                    )
                    return Delivery.UNCERTAIN
                failures += 1
                if failures >= self._max_attempts:
                    return self._give_up(chat_id, kind, error)
                delay = min(self._first_delay * 2 ** (failures - 1), self._max_delay)
                delay *= 0.5 + self._jitter() / 2
                log.info(
                    "chat %s: %s failed (%s), retrying in %.1fs",
                    chat_id,
                    kind,
                    type(error).__name__,
                    delay,
                )
                await self._sleep(delay)

    def _refused(self, chat_id: int, kind: str, error: BadRequest, plain: bool) -> Delivery | None:
        """How a 400 ends the operation; None means: send it again as plain text."""
        reason = error.message.lower()
        if "message is not modified" in reason:
            return Delivery.SENT  # already looks the way we wanted (e.g. sent before a crash)
        if "can't parse entities" in reason and not plain and kind in ("message", "edit"):
            log.error(
                "chat %s: Telegram refused the HTML of a %s; sending plain text", chat_id, kind
            )
            return None
        if "chat not found" in reason:
            return Delivery.UNREACHABLE
        if any(
            phrase in reason
            for phrase in ("message to edit not found", "can't be edited", "message_id_invalid")
        ):
            return Delivery.SKIPPED
        log.error("chat %s: Telegram refused a %s: %s", chat_id, kind, error.message[:120])
        return Delivery.SKIPPED

    @staticmethod
    def _give_up(chat_id: int, kind: str, error: BaseException) -> Delivery:
        log.error("chat %s: gave up sending a %s after repeated %s", chat_id, kind,
                  type(error).__name__)  # fmt: skip
        return Delivery.GAVE_UP

    async def _call(self, chat_id: int, operation: dict[str, Any], *, plain: bool) -> None:
        kind = operation.get("kind")
        markup = _markup(operation.get("keyboard"))
        text = str(operation.get("text") or "")
        parse_mode: str | None = ParseMode.HTML
        if plain:
            text, parse_mode = html_to_plain(text), None
        if kind == "message":
            await self._bot.send_message(chat_id, text, parse_mode=parse_mode, reply_markup=markup)
        elif kind == "edit":
            await self._bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=int(operation["message_id"]),
                parse_mode=parse_mode,
                reply_markup=markup,
            )
        elif kind == "unbutton":
            await self._bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=int(operation["message_id"]), reply_markup=None
            )
        elif kind == "document":
            content = base64.b64decode(str(operation["content"]))
            await self._bot.send_document(
                chat_id,
                content,
                filename=str(operation["filename"]),
                caption=operation.get("caption"),
                parse_mode=ParseMode.HTML if operation.get("caption") else None,
                reply_markup=markup,
            )
        else:
            raise ValueError(f"unknown outbox operation {kind!r}")

    async def answer_button(self, query_id: str, text: str | None = None) -> None:
        """Stop a pressed button's spinner (with a short note if given); best effort."""
        try:
            await self._bot.answer_callback_query(query_id, text=text)
        except TelegramError as error:
            # Too old, or already answered before a restart: the press itself was handled.
            log.debug("a button press could not be acknowledged (%s)", type(error).__name__)
