"""Helpers for storage tests: a fixed clock and a unit of work bundling the repositories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import (
    ConversationRepository,
    EntryRepository,
    KeyRing,
    UserRepository,
    Vault,
)

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
CONSENT_VERSION = "2025-03"


@dataclass
class Repos:
    """The repositories of one unit of work, sharing its session and vault."""

    session: AsyncSession
    users: UserRepository
    vault: Vault
    conversations: ConversationRepository
    entries: EntryRepository


UnitOfWork = Callable[[], AbstractAsyncContextManager[Repos]]


@pytest.fixture
def unit_of_work(session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing) -> UnitOfWork:
    """Open a unit of work that commits when its block ends normally, as the bot does."""

    @asynccontextmanager
    async def open_unit() -> AsyncIterator[Repos]:
        async with session_factory() as session:
            vault = Vault(session, keyring)
            yield Repos(
                session=session,
                users=UserRepository(session, keyring),
                vault=vault,
                conversations=ConversationRepository(session, vault),
                entries=EntryRepository(session, vault),
            )
            await session.commit()

    return open_unit


@pytest.fixture
def now() -> datetime:
    """The fixed instant tests treat as the present."""
    return NOW


@pytest.fixture
def add_user(unit_of_work: UnitOfWork) -> Callable[[int], Awaitable[None]]:
    """Create a user who has consented (and so has a data key), as onboarding would."""

    async def add(user_id: int) -> None:
        async with unit_of_work() as repos:
            await repos.users.grant_consent(user_id, now=NOW, version=CONSENT_VERSION)

    return add
