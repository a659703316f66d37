"""Alembic environment for Steady.

Steady normally runs migrations itself (``storage.database.migrate``), handing Alembic an open
connection. For development, the Alembic command line also works, e.g.::

    alembic -c storage/alembic.ini -x url=sqlite:///steady-data/steady.db revision \
        --autogenerate -m "add processed updates"
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from storage.database import create_engine
from storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url_from_command_line() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "STEADY_DATABASE_URL"
    )
    if not url:
        raise SystemExit("pass -x url=<database url> or set STEADY_DATABASE_URL")
    return url


async def _run_from_command_line() -> None:
    engine = create_engine(_url_from_command_line())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    """Run migrations on the connection we were given, or on ``-x url=...``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    elif context.is_offline_mode():
        url = _url_from_command_line()
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_from_command_line())


main()
