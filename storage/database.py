"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import stat
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DATABASE_FILE = "steady.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
# Any fixed 64-bit number works; it only has to be the same in every Steady process.
_MIGRATION_LOCK_KEY = 0x5354454144590001


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory with mode 0700 if missing and return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "data directory %s is open to other users (mode %04o); consider chmod 700", path, mode
        )
    return path


def sqlite_url(data_dir: Path) -> str:
    """Return the SQLite URL for the database file inside ``data_dir``."""
    return f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}"


def _async_url(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
        if "sslmode" in parsed.query:
            # libpq spells it sslmode; asyncpg takes the same values as ``ssl``.
            parsed = parsed.difference_update_query(["sslmode"]).update_query_dict(
                {"ssl": parsed.query["sslmode"]}
            )
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported database backend {backend!r}; use SQLite or PostgreSQL")
    return parsed


def create_engine(url: str) -> AsyncEngine:
    """Build an async engine; ``postgres://`` and ``postgresql://`` URLs use asyncpg.

    SQLite connections run in WAL mode with ``synchronous=FULL`` (each commit is durable),
    foreign keys on and a 5 s busy timeout. Every SQLite transaction starts with
    ``BEGIN IMMEDIATE`` so writers queue on the busy timeout instead of failing mid-way, and
    savepoints and DDL are properly transactional. Keep units of work short: do not hold a
    session open across network calls.
    """
    parsed = _async_url(url)
    engine = create_async_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
            _switch_file_to_wal(parsed.database)
        _configure_sqlite(engine)
    return engine


def _switch_file_to_wal(path: str) -> None:
    """Put the database file in WAL mode once, before any pooled connections open.

    WAL mode is a property of the file. Switching needs an exclusive lock, and SQLite fails
    at once (ignoring busy_timeout) when another connection is switching at the same moment,
    so two connections racing on a fresh file would fail. This happens once per file, at
    start-up, with a short bounded retry for processes that start together.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            with closing(
                sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            ) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module so SQLAlchemy's "begin" hook below owns it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] != "wal":  # normally done already by _switch_file_to_wal
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory for units of work; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code, pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the schema to the latest revision; safe to run on every start.

    On PostgreSQL a transaction-scoped advisory lock serialises processes that start together;
    on SQLite ``BEGIN IMMEDIATE`` does the same job.
    """
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(_upgrade_to_head)
