"""Steady's Telegram channel, in-process, against the Bot API stand-in.

``Harness.pump()`` does what the poller does (record, then queue) and waits until every queued
update has been handled and every reply sent, so a test can assert straight after.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.app import Steady, create_app
from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.telegram.receivers import journalled
from storage import Entry, EntryRepository, User, Vault
from storage.crypto import encode_key
from storage.telegram_models import OutboxMessage, TelegramUpdate
from tests.botapi import ChatMessage, FakeTelegram, TelegramUser, in_process_builder


@dataclass
class Sleeps:
    """A sleep that records how long it was asked to wait and returns at once."""

    waited: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)
        await asyncio.sleep(0)


@dataclass
class Harness:
    tg: FakeTelegram
    steady: Steady
    channel: TelegramChannel
    application: Any
    master_key: bytes
    data_dir: Path
    sleeps: Sleeps

    async def pump(self) -> int:
        """Record every pending update (as the poller would), then handle it all."""
        updates = self.tg.take_pending_updates()
        if updates:
            await self.channel.accept([journalled(update) for update in updates])
        await self.channel.drain()
        return len(updates)

    async def say(self, user: TelegramUser, text: str) -> list[ChatMessage]:
        """The user types ``text``; returns the bot's new messages."""
        await user.send_text(text)
        return await self._new(user)

    async def command(self, user: TelegramUser, name: str) -> list[ChatMessage]:
        """The user sends ``/name``; returns the bot's new messages."""
        await user.send_command(name)
        return await self._new(user)

    async def press(self, user: TelegramUser, label: str) -> list[ChatMessage]:
        """The user presses the button labelled ``label`` on the latest question."""
        question = latest_question(user)
        await user.press(question, text=label)
        return await self._new(user)

    async def _new(self, user: TelegramUser) -> list[ChatMessage]:
        before = len(user.received(include_deleted=True))
        await self.pump()
        return user.received(include_deleted=True)[before:]

    async def consented(self, user: TelegramUser) -> None:
        """Take the user through /start and consent."""
        await self.command(user, "start")
        await self.press(user, "I agree")

    async def entries(self, user_id: int) -> list[Any]:
        """The user's saved entries, decrypted."""
        async with self.steady.sessions() as session:
            repository = EntryRepository(session, Vault(session, self.steady.keyring))
            return await repository.export(user_id)

    async def count(self, model: Any) -> int:
        async with self.steady.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def count_outbox(self) -> int:
        return await self.count(OutboxMessage)

    async def user_row(self, user_id: int) -> User | None:
        async with self.steady.sessions() as session:
            return await session.get(User, user_id)

    async def pending_journal(self) -> int:
        async with self.steady.sessions() as session:
            query = select(func.count()).where(TelegramUpdate.handled_at.is_(None))
            return int(await session.scalar(query) or 0)

    async def raw_database_bytes(self) -> bytes:
        """Everything on disk: the database and its write-ahead log (which holds recent pages)."""
        return b"".join(path.read_bytes() for path in sorted(self.data_dir.glob("steady.db*")))


def latest_question(user: TelegramUser) -> ChatMessage:
    """The newest bot message with buttons."""
    for message in reversed(user.received()):
        if message.buttons:
            return message
    raise AssertionError(f"no question with buttons; the bot sent {user.texts!r}")


@asynccontextmanager
async def harness(
    tmp_path: Path, database_url: str | None = None, **telegram: Any
) -> AsyncIterator[Harness]:
    """A fresh Steady store (SQLite, or the PostgreSQL database given), stand-in and channel."""
    master_key = os.urandom(32)
    data_dir = tmp_path / "data"
    sleeps = Sleeps()
    async with FakeTelegram(**telegram) as tg:
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            master_key=encode_key(master_key),
            telegram_token=tg.token,
        )
        steady = await create_app(settings)
        application = in_process_builder(tg).updater(None).build()
        channel = TelegramChannel(
            steady,
            application,
            master_key=master_key,
            sleep=sleeps,
            retry_delays=(0, 0),
        )
        try:
            async with application:
                h = Harness(tg, steady, channel, application, master_key, data_dir, sleeps)
                try:
                    yield h
                finally:
                    await h.channel.close()
                    if h.application is not application:
                        await h.application.shutdown()
        finally:
            await steady.close()


async def restart(h: Harness) -> TelegramChannel:
    """A new channel over the same store and stand-in, as after a process restart."""
    await h.channel.close()
    application = in_process_builder(h.tg).updater(None).build()
    await application.initialize()
    channel = TelegramChannel(
        h.steady, application, master_key=h.master_key, sleep=h.sleeps, retry_delays=(0, 0)
    )
    h.channel, h.application = channel, application
    return channel


__all__ = [
    "Entry",
    "Harness",
    "OutboxMessage",
    "Sleeps",
    "TelegramUpdate",
    "harness",
    "latest_question",
    "restart",
]
