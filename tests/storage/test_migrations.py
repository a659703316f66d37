"""Schema migrations and engine set-up on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import alembic_config, create_engine, migrate, session_factory
from storage.models import Base, User

EngineMaker = Callable[[], AsyncEngine]
STEADY_TABLES = {"users", "user_keys", "conversations", "entries"}


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def _current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migrate_builds_the_schema_on_an_empty_database(make_engine: EngineMaker) -> None:
    engine = make_engine()
    assert await _tables(engine) == set()

    await migrate(engine)

    assert await _tables(engine) >= STEADY_TABLES
    assert await _current_revision(engine) == _head()


async def test_migrating_again_changes_nothing_and_keeps_data(make_engine: EngineMaker) -> None:
    engine = make_engine()
    await migrate(engine)
    async with session_factory(engine)() as session:
        session.add(User(id=7, created_at=datetime.now(UTC)))
        await session.commit()

    await migrate(engine)

    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT id FROM users"))).scalars().all() == [7]
    assert await _current_revision(engine) == _head()


async def test_processes_starting_together_both_migrate_cleanly(make_engine: EngineMaker) -> None:
    first, second = make_engine(), make_engine()

    await asyncio.gather(migrate(first), migrate(second))

    assert await _current_revision(first) == _head()
    assert await _tables(second) >= STEADY_TABLES


async def test_models_and_migrations_describe_the_same_schema(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_sqlite_is_durable_write_ahead_logged_and_enforces_foreign_keys(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas only")
    async with engine.connect() as connection:

        async def pragma(name: str) -> object:
            return (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()

        assert await pragma("journal_mode") == "wal"
        assert await pragma("synchronous") == 2  # FULL
        assert await pragma("foreign_keys") == 1
        assert await pragma("busy_timeout") == 5000


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgres://u@db:5432/steady", "postgresql+asyncpg"),
        ("postgresql://u@db:5432/steady", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db/steady", "postgresql+asyncpg"),
        ("sqlite:////tmp/steady.db", "sqlite+aiosqlite"),
    ],
)
async def test_database_urls_are_given_async_drivers(given: str, driver: str) -> None:
    engine = create_engine(given)
    try:
        assert engine.url.drivername == driver
    finally:
        await engine.dispose()


async def test_libpq_sslmode_is_translated_for_asyncpg() -> None:
    engine = create_engine("postgres://u@db/steady?sslmode=require")
    try:
        assert dict(engine.url.query) == {"ssl": "require"}
    finally:
        await engine.dispose()


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql://u@db/steady")
