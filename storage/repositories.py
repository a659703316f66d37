"""Repositories over one ``AsyncSession``. They flush but never commit: whoever owns the unit
of work commits (or rolls back) at its edge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from storage.crypto import KeyDestroyedError, KeyRing, Sealer
from storage.models import ENTRY_KINDS, Conversation, Entry, User, UserKey

CONVERSATION_PURPOSE = "conversation"
ENTRY_PURPOSE = "entry"


class ConversationConflictError(RuntimeError):
    """Another unit of work saved this user's conversation first; reload and retry."""


class EntryNotFoundError(LookupError):
    """No entry of the right kind with that id belongs to the user."""


class UserRepository:
    """Users, their consent and reachability, their data keys, and erasure."""

    def __init__(self, session: AsyncSession, keyring: KeyRing) -> None:
        self._session = session
        self._keyring = keyring

    async def get(self, user_id: int) -> User | None:
        """Return the user, or None if Steady has never met them (or they were erased)."""
        return await self._session.get(User, user_id)

    async def ensure(self, user_id: int, *, now: datetime) -> User:
        """Return the user, creating them and their data key first if new (no consent implied)."""
        user = await self.get(user_id)
        if user is None:
            user = User(id=user_id, created_at=now)
            self._session.add(user)
        if await self._session.get(UserKey, user_id) is None:
            _dek, wrapped = self._keyring.new_wrapped_key(user_id)
            self._session.add(UserKey(user_id=user_id, wrapped_key=wrapped, created_at=now))
        await self._session.flush()
        return user

    async def grant_consent(self, user_id: int, *, now: datetime, version: str) -> User:
        """Record consent to privacy notice ``version``, creating the user and key if new."""
        user = await self.ensure(user_id, now=now)
        user.consented_at = now
        user.consent_version = version
        await self._session.flush()
        return user

    async def withdraw_consent(self, user_id: int) -> None:
        """Forget the user's consent; their data stays until they ask for erasure."""
        user = await self.get(user_id)
        if user is not None:
            user.consented_at = None
            user.consent_version = None
            await self._session.flush()

    async def mark_unreachable(self, user_id: int, now: datetime) -> None:
        """Note that Telegram refused delivery (403), keeping the first time it happened."""
        user = await self.get(user_id)
        if user is not None and user.unreachable_since is None:
            user.unreachable_since = now
            await self._session.flush()

    async def mark_reachable(self, user_id: int) -> None:
        """Clear the unreachable mark, e.g. when the user writes to Steady again."""
        user = await self.get(user_id)
        if user is not None and user.unreachable_since is not None:
            user.unreachable_since = None
            await self._session.flush()

    async def erase(self, user_id: int) -> None:
        """Erase everything about the user, destroying their data key first (crypto-shred)."""
        for statement in (
            delete(UserKey).where(UserKey.user_id == user_id),
            delete(Entry).where(Entry.user_id == user_id),
            delete(Conversation).where(Conversation.user_id == user_id),
            delete(User).where(User.id == user_id),
        ):
            await self._session.execute(statement)
        await self._session.flush()


class Vault:
    """Hands out sealers for one unit of work, unwrapping each user's key at most once."""

    def __init__(self, session: AsyncSession, keyring: KeyRing) -> None:
        self._session = session
        self._keyring = keyring
        self._sealers: dict[int, Sealer] = {}

    def prime(self, user_id: int, wrapped_key: bytes) -> None:
        """Accept a wrapped key the caller already fetched (saves a query per message)."""
        if user_id not in self._sealers:
            self._sealers[user_id] = Sealer(self._keyring.unwrap(user_id, wrapped_key), user_id)

    async def sealer_for(self, user_id: int) -> Sealer:
        """Return the user's sealer; raise KeyDestroyedError if their key is gone."""
        sealer = self._sealers.get(user_id)
        if sealer is None:
            wrapped = await self._session.scalar(
                select(UserKey.wrapped_key).where(UserKey.user_id == user_id)
            )
            if wrapped is None:
                raise KeyDestroyedError(f"no data key for user {user_id}")
            sealer = Sealer(self._keyring.unwrap(user_id, wrapped), user_id)
            self._sealers[user_id] = sealer
        return sealer


class ConversationRepository:
    """The sealed state of each user's current dialogue, with optimistic concurrency.

    The repository remembers which version of each conversation it loaded, so a save fails
    if another unit of work saved in between rather than silently overwriting it.
    """

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._session = session
        self._vault = vault
        # Strong references: the session's identity map alone would let rows be collected.
        self._seen: dict[int, Conversation | None] = {}

    async def _row(self, user_id: int) -> Conversation | None:
        if user_id not in self._seen:
            self._seen[user_id] = await self._session.get(Conversation, user_id)
        return self._seen[user_id]

    async def load_with_user(self, user_id: int) -> tuple[User | None, dict[str, Any] | None]:
        """The user and their decrypted conversation state, fetched in a single query.

        This is the first read of every message, so it is worth one join instead of three
        lookups (user, data key, conversation).
        """
        row = (
            await self._session.execute(
                select(User, UserKey.wrapped_key, Conversation)
                .outerjoin(UserKey, UserKey.user_id == User.id)
                .outerjoin(Conversation, Conversation.user_id == User.id)
                .where(User.id == user_id)
            )
        ).one_or_none()
        if row is None:
            self._seen[user_id] = None
            return None, None
        user, wrapped, conversation = row
        self._seen[user_id] = conversation
        if wrapped is not None:
            self._vault.prime(user_id, wrapped)
        return user, await self.load(user_id)

    async def load(self, user_id: int) -> dict[str, Any] | None:
        """Return the user's decrypted conversation state, or None if there is none."""
        row = await self._row(user_id)
        if row is None:
            return None
        sealer = await self._vault.sealer_for(user_id)
        state: dict[str, Any] = sealer.open_json(CONVERSATION_PURPOSE, row.payload)
        return state

    async def save(self, user_id: int, state: dict[str, Any], *, now: datetime) -> None:
        """Seal and store ``state``, bumping its version.

        Raises ConversationConflictError if another unit of work saved (or cleared) it since
        this repository loaded it; the session must then be rolled back.
        """
        payload = (await self._vault.sealer_for(user_id)).seal_json(CONVERSATION_PURPOSE, state)
        row = await self._row(user_id)
        if row is None:
            row = Conversation(user_id=user_id, payload=payload, updated_at=now)
            self._session.add(row)
            self._seen[user_id] = row
        else:
            row.payload = payload
            row.updated_at = now
        try:
            await self._session.flush()
        except (StaleDataError, IntegrityError) as error:
            raise ConversationConflictError(f"conversation of user {user_id} changed") from error

    async def clear(self, user_id: int) -> None:
        """Forget the user's conversation state, if any."""
        await self._session.execute(delete(Conversation).where(Conversation.user_id == user_id))
        await self._session.flush()
        self._seen[user_id] = None


@dataclass(frozen=True)
class EntryView:
    """A decrypted entry as the owner may see it."""

    id: int
    kind: str
    created_at: datetime
    category: str | None
    values: tuple[str, ...]
    strategy: str | None
    rating_before: int | None
    rating_after: int | None
    intensity: int | None
    next_step_due: date | None
    expanded_into_id: int | None
    # Free text: kept out of repr so an entry that reaches a log line carries none of it.
    private: dict[str, Any] = field(repr=False)


class EntryRepository:
    """Reflections and quick debriefs, with all free text sealed in ``body``."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._session = session
        self._vault = vault

    async def add(
        self,
        user_id: int,
        *,
        kind: str,
        created_at: datetime,
        private: dict[str, Any],
        category: str | None = None,
        values: Sequence[str] = (),
        strategy: str | None = None,
        rating_before: int | None = None,
        rating_after: int | None = None,
        intensity: int | None = None,
        next_step_due: date | None = None,
    ) -> int:
        """Store an entry; ``private`` holds every piece of free text. Returns the new id."""
        if kind not in ENTRY_KINDS:
            raise ValueError(f"unknown entry kind {kind!r}")
        sealer = await self._vault.sealer_for(user_id)
        entry = Entry(
            user_id=user_id,
            kind=kind,
            created_at=created_at,
            category=category,
            values=list(values),
            strategy=strategy,
            rating_before=rating_before,
            rating_after=rating_after,
            intensity=intensity,
            next_step_due=next_step_due,
            body=sealer.seal_json(ENTRY_PURPOSE, private),
        )
        self._session.add(entry)
        await self._session.flush()
        return entry.id

    async def page(self, user_id: int, *, offset: int, limit: int) -> tuple[list[EntryView], int]:
        """Return one page of the user's entries, newest first, and how many they have."""
        total = await self._session.scalar(
            select(func.count()).select_from(Entry).where(Entry.user_id == user_id)
        )
        rows = await self._session.scalars(
            select(Entry)
            .where(Entry.user_id == user_id)
            .order_by(Entry.created_at.desc(), Entry.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return await self._views(user_id, rows.all()), total or 0

    async def get(self, user_id: int, entry_id: int) -> EntryView | None:
        """Return the entry if it exists and belongs to ``user_id``, else None."""
        row = await self._owned(user_id, entry_id)
        return None if row is None else (await self._views(user_id, [row]))[0]

    async def latest_parked_quick(self, user_id: int) -> EntryView | None:
        """Return the newest quick debrief not yet expanded into a reflection."""
        row = await self._session.scalar(
            select(Entry)
            .where(
                Entry.user_id == user_id,
                Entry.kind == "quick",
                Entry.expanded_into_id.is_(None),
            )
            .order_by(Entry.created_at.desc(), Entry.id.desc())
            .limit(1)
        )
        return None if row is None else (await self._views(user_id, [row]))[0]

    async def mark_expanded(self, user_id: int, quick_id: int, reflection_id: int) -> None:
        """Record that the user's quick debrief ``quick_id`` grew into ``reflection_id``."""
        quick = await self._owned(user_id, quick_id)
        reflection = await self._owned(user_id, reflection_id)
        if quick is None or quick.kind != "quick":
            raise EntryNotFoundError(f"no quick debrief {quick_id} for user {user_id}")
        if reflection is None or reflection.kind != "reflection":
            raise EntryNotFoundError(f"no reflection {reflection_id} for user {user_id}")
        quick.expanded_into_id = reflection_id
        await self._session.flush()

    async def export(self, user_id: int) -> list[EntryView]:
        """Return all of the user's entries, oldest first, for a data export."""
        rows = await self._session.scalars(
            select(Entry)
            .where(Entry.user_id == user_id)
            .order_by(Entry.created_at.asc(), Entry.id.asc())
        )
        return await self._views(user_id, rows.all())

    async def _owned(self, user_id: int, entry_id: int) -> Entry | None:
        return await self._session.scalar(
            select(Entry).where(Entry.id == entry_id, Entry.user_id == user_id)
        )

    async def _views(self, user_id: int, rows: Sequence[Entry]) -> list[EntryView]:
        if not rows:
            return []
        sealer = await self._vault.sealer_for(user_id)
        return [
            EntryView(
                id=row.id,
                kind=row.kind,
                created_at=row.created_at,
                category=row.category,
                values=tuple(row.values),
                strategy=row.strategy,
                rating_before=row.rating_before,
                rating_after=row.rating_after,
                intensity=row.intensity,
                next_step_due=row.next_step_due,
                expanded_into_id=row.expanded_into_id,
                private=sealer.open_json(ENTRY_PURPOSE, row.body),
            )
            for row in rows
        ]
