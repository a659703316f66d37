"""The composition root: build a ready Steady from settings (Flask's ``create_app`` idea).

Tests build a fresh one against a temporary data directory; the CLI builds one per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.companion import Clock, Companion, utc_now
from bot.settings import Settings
from dialogues.catalogue import default_catalogue
from dialogues.identifiers import default_identifier_guard
from dialogues.safety import default_risk_screen
from storage import (
    KeyRing,
    create_engine,
    ensure_data_dir,
    load_or_create_master_key,
    migrate,
    session_factory,
    sqlite_url,
)


@dataclass
class Steady:
    """The parts of a running Steady process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    companion: Companion
    master_key: bytes  # also signs Telegram buttons and derives the webhook secret

    async def close(self) -> None:
        """Release the database connections."""
        await self.engine.dispose()


async def create_app(settings: Settings, clock: Clock = utc_now) -> Steady:
    """Open (and migrate) the store, load keys and content, and wire the companion."""
    ensure_data_dir(settings.data_dir)
    url = settings.database_url or sqlite_url(settings.data_dir)
    engine = create_engine(url)
    try:
        await migrate(engine)
        master_key = load_or_create_master_key(settings.data_dir, settings.master_key)
    except BaseException:
        await engine.dispose()
        raise
    keyring = KeyRing(master_key)
    sessions = session_factory(engine)
    companion = Companion(
        sessions,
        keyring,
        catalogue=default_catalogue(),
        risk_screen=default_risk_screen(),
        identifier_guard=default_identifier_guard(),
        clock=clock,
    )
    return Steady(settings, engine, sessions, keyring, companion, master_key)
