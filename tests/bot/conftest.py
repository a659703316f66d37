"""Fixtures for the bot tests: the Bot API stand-in, and Steady's channel wired to it."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.database import create_engine
from tests.bot.harness import Harness, harness
from tests.botapi.fixtures import bot_api_server, fake_telegram
from tests.conftest import POSTGRES_SKIP_REASON, TEST_DATABASE_URL_VAR

__all__ = ["bot_api_server", "fake_telegram", "steady_telegram", "steady_telegram_postgres"]


@pytest.fixture
async def steady_telegram(tmp_path: Path) -> AsyncIterator[Harness]:
    """Steady's Telegram channel over a fresh store, talking to an in-process stand-in."""
    async with harness(tmp_path) as h:
        yield h


@pytest.fixture
async def steady_telegram_postgres(tmp_path: Path) -> AsyncIterator[Harness]:
    """The same on PostgreSQL, in a database made for the test and dropped afterwards."""
    base = os.environ.get(TEST_DATABASE_URL_VAR)
    if not base:
        pytest.skip(POSTGRES_SKIP_REASON)
    name = f"steady_tg_{secrets.token_hex(6)}"
    admin = create_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        async with harness(tmp_path, database_url=url) as h:
            yield h
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
