"""Shared database fixtures: every test that asks for ``engine`` runs on SQLite and, when
``STEADY_TEST_DATABASE_URL`` is set, on PostgreSQL too, each time in a fresh database."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import database
from storage.crypto import KeyRing

# python-telegram-bot 22 warns (an error here) when it builds a RetryAfter unless durations are
# timedelta objects, which this switches on; the Telegram channel reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "1")

TEST_DATABASE_URL_VAR = "STEADY_TEST_DATABASE_URL"
POSTGRES_SKIP_REASON = f"set {TEST_DATABASE_URL_VAR} to run the PostgreSQL storage tests"

EngineMaker = Callable[[], AsyncEngine]


def _use_schema(engine: AsyncEngine, schema: str) -> None:
    """Point every new connection of ``engine`` at ``schema`` only."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _set_search_path(_dialect: Any, _record: Any, _cargs: Any, cparams: Any) -> None:
        cparams["server_settings"] = {**cparams.get("server_settings", {}), "search_path": schema}


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(
                not os.environ.get(TEST_DATABASE_URL_VAR), reason=POSTGRES_SKIP_REASON
            ),
        ),
    ]
)
async def make_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EngineMaker]:
    """A factory of engines that all reach this test's own empty database (not migrated).

    SQLite gets a fresh file under ``tmp_path``; PostgreSQL gets a throwaway schema that is
    dropped afterwards. Every engine made is disposed at teardown.
    """
    made: list[AsyncEngine] = []
    schema: str | None = None
    if request.param == "sqlite":
        url = database.sqlite_url(database.ensure_data_dir(tmp_path / "data"))
    else:
        url = os.environ[TEST_DATABASE_URL_VAR]
        schema = f"steady_test_{secrets.token_hex(6)}"
        admin = database.create_engine(url)
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def make() -> AsyncEngine:
        engine = database.create_engine(url)
        if schema is not None:
            _use_schema(engine, schema)
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in made:
            await engine.dispose()
        if schema is not None:
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


@pytest.fixture
async def engine(make_engine: EngineMaker) -> AsyncEngine:
    """A migrated engine on a fresh database (parametrised over the backends)."""
    engine = make_engine()
    await database.migrate(engine)
    return engine


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The production session factory, bound to the test database."""
    return database.session_factory(engine)


@pytest.fixture
def keyring() -> KeyRing:
    """A key ring under a random master key."""
    return KeyRing(os.urandom(32))
