"""Shortcuts for pointing a real python-telegram-bot `Application` at the stand-in."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from tests.botapi.core import FakeTelegram
from tests.botapi.request import FakeTelegramRequest
from tests.botapi.server import BotApiServer


def in_process_builder(telegram: FakeTelegram) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """An `Application.builder()` whose bot talks to `telegram` in-process."""
    return (
        Application.builder()
        .token(telegram.token)
        .request(FakeTelegramRequest(telegram))
        .get_updates_request(FakeTelegramRequest(telegram))
    )


def http_builder(server: BotApiServer) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """An `Application.builder()` whose bot talks to the loopback HTTP server."""
    return (
        Application.builder()
        .token(server.telegram.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
    )


async def process_pending_updates(
    application: Application[Any, Any, Any, Any, Any, Any], telegram: FakeTelegram
) -> int:
    """Feed every pending update to `application.process_update`, oldest first.

    The in-process alternative to polling: handlers run to completion before this returns,
    so a test can assert straight after. Returns how many updates were processed.
    """
    updates = telegram.take_pending_updates()
    for data in updates:
        update = Update.de_json(data, application.bot)
        await application.process_update(update)
    return len(updates)
