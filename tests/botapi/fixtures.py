"""pytest fixtures for the Bot API stand-in; import them into a conftest.py to use them.

# tests/conftest.py
from tests.botapi.fixtures import bot_api_server, fake_telegram  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.botapi.core import FakeTelegram
from tests.botapi.server import BotApiServer


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A fresh stand-in for one test, closed (webhook delivery stopped) afterwards."""
    async with FakeTelegram() as telegram:
        yield telegram


@pytest.fixture
async def bot_api_server(fake_telegram: FakeTelegram) -> AsyncIterator[BotApiServer]:
    """The `fake_telegram` stand-in served over loopback HTTP."""
    async with BotApiServer(fake_telegram) as server:
        yield server
