"""Repositories for a channel's update journal and reply outbox (see ``telegram_models``).

Everything an update or a reply carries may contain a practitioner's words, so both are sealed
under a channel key derived from the master key. The channel key is not a user's key: a raw
update arrives before Steady knows whether its sender has consented (and from group chats, which
are never stored), so it cannot wait for a user key. Payloads are removed as soon as they are
handled or sent, which keeps that window short.

Like the other repositories these flush but never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import KEY_BYTES, Sealer
from storage.telegram_models import OutboxMessage, TelegramUpdate

# Sealer binds every blob to an owner id; 0 is no practitioner (Telegram user ids are positive
# and the terminal practitioner is -1), so channel blobs can never pass for a user's.
CHANNEL_OWNER = 0


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose``, derived from the master key (HKDF-SHA256).

    Different purposes give unrelated keys, so the journal key, the button-signing key and the
    webhook secret never reveal each other or the master key.
    """
    if len(master_key) != KEY_BYTES:
        raise ValueError(f"the master key must be {KEY_BYTES} bytes")
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"steady/" + purpose.encode()
    ).derive(master_key)


def channel_sealer(master_key: bytes, channel: str = "telegram") -> Sealer:
    """The sealer for one channel's journal and outbox."""
    return Sealer(derive_key(master_key, f"{channel}/journal"), CHANNEL_OWNER)


@dataclass(frozen=True)
class JournalledUpdate:
    """An update as Telegram sent it (``data``), with the chat whose lane it belongs to."""

    update_id: int
    chat_id: int | None
    data: dict[str, Any]


_UPDATES = cast(Table, TelegramUpdate.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)

# The statements run for every update, built once: SQLAlchemy then reuses their compiled form
# without working out a cache key each time.
_CLAIM = (
    update(_UPDATES)
    .where(_UPDATES.c.update_id == bindparam("id"), _UPDATES.c.handled_at.is_(None))
    .values(handled_at=bindparam("now"), payload=None, chat_id=None)
)
_CLAIM_ALL = (
    update(_UPDATES)
    .where(
        _UPDATES.c.update_id.in_(bindparam("ids", expanding=True)),
        _UPDATES.c.handled_at.is_(None),
    )
    .values(handled_at=bindparam("now"), payload=None, chat_id=None)
)
_RECORD = {
    "sqlite": sqlite_insert(_UPDATES)
    .on_conflict_do_nothing(index_elements=[_UPDATES.c.update_id])
    .returning(_UPDATES.c.update_id),
    "postgresql": postgresql_insert(_UPDATES)
    .on_conflict_do_nothing(index_elements=[_UPDATES.c.update_id])
    .returning(_UPDATES.c.update_id),
}
_QUEUE = insert(_OUTBOX).returning(_OUTBOX.c.id)
_QUEUE_MANY = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)
_CLEAR = delete(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))


class UpdateJournal:
    """Updates recorded before they are acknowledged, and which of them have been handled.

    Plain Core statements on the tables: this runs for every update, so it stays lean.
    """

    def __init__(self, session: AsyncSession, sealer: Sealer) -> None:
        self._session = session
        self._sealer = sealer

    @staticmethod
    def _purpose(update_id: int) -> str:
        return f"telegram-update:{update_id}"

    async def record(
        self, updates: Iterable[JournalledUpdate], *, now: datetime
    ) -> list[JournalledUpdate]:
        """Record updates not seen before and return them, in order; repeats are left out.

        An update seen before is a repeat whether or not it has been handled yet, so an update
        Telegram delivers twice is queued for handling once.
        """
        unique: dict[int, JournalledUpdate] = {}
        for item in updates:
            unique.setdefault(item.update_id, item)
        if not unique:
            return []
        statement = _RECORD.get(self._session.get_bind().dialect.name)
        rows = [
            {
                "update_id": item.update_id,
                "chat_id": item.chat_id,
                "received_at": now,
                "handled_at": None,
                "payload": self._sealer.seal_json(self._purpose(item.update_id), item.data),
            }
            for item in unique.values()
        ]
        if statement is not None:
            # One statement: insert what is new, skip what is known, say which were inserted.
            inserted = set(await self._session.scalars(statement, rows))
        else:
            known = set(
                await self._session.scalars(
                    select(_UPDATES.c.update_id).where(_UPDATES.c.update_id.in_(unique))
                )
            )
            new_rows = [row for row in rows if row["update_id"] not in known]
            if new_rows:
                await self._session.execute(insert(_UPDATES), new_rows)
            inserted = {row["update_id"] for row in new_rows}
        return [item for update_id, item in sorted(unique.items()) if update_id in inserted]

    async def pending(self) -> list[JournalledUpdate]:
        """Recorded updates not yet handled, oldest first (what a restart must still do)."""
        rows = await self._session.execute(
            select(_UPDATES.c.update_id, _UPDATES.c.chat_id, _UPDATES.c.payload)
            .where(_UPDATES.c.handled_at.is_(None))
            .order_by(_UPDATES.c.update_id)
        )
        return [
            JournalledUpdate(
                update_id, chat_id, self._sealer.open_json(self._purpose(update_id), payload)
            )
            for update_id, chat_id, payload in rows
            if payload is not None
        ]

    async def claim(self, update_id: int, *, now: datetime) -> bool:
        """Mark an update handled and drop its payload; False if it was handled already.

        Call it in the same transaction as the update's effects: the update then counts as
        handled exactly when its effects are committed. What is left is a tombstone holding only
        the update id (no payload, no chat), so nothing about the sender outlives the handling.
        An update that was never recorded (fed in directly, say) is claimed too.
        """
        result = await self._session.execute(_CLAIM, {"id": update_id, "now": now})
        if getattr(result, "rowcount", 0) == 1:
            return True
        exists = await self._session.scalar(
            select(_UPDATES.c.update_id).where(_UPDATES.c.update_id == update_id)
        )
        if exists is not None:
            return False
        await self._session.execute(
            insert(_UPDATES).values(
                update_id=update_id, chat_id=None, received_at=now, handled_at=now, payload=None
            )
        )
        return True

    async def claim_all(self, update_ids: Sequence[int], *, now: datetime) -> bool:
        """Claim several recorded, unhandled updates at once; False (claiming nothing) if any
        of them is not recorded or already handled, for the caller to roll back."""
        wanted = set(update_ids)
        if len(wanted) != len(update_ids):
            return False
        result = await self._session.execute(_CLAIM_ALL, {"ids": list(wanted), "now": now})
        return getattr(result, "rowcount", -1) == len(wanted)

    async def is_handled(self, update_id: int) -> bool:
        """Whether the update has been handled."""
        handled = await self._session.scalar(
            select(_UPDATES.c.handled_at).where(_UPDATES.c.update_id == update_id)
        )
        return handled is not None

    async def prune(self, *, handled_before: datetime) -> int:
        """Forget tombstones of updates handled before a time; returns how many went.

        Telegram redelivers an unconfirmed update for at most a day, so a week's tombstones is
        plenty to recognise repeats.
        """
        result = await self._session.execute(
            delete(_UPDATES).where(_UPDATES.c.handled_at < handled_before)
        )
        return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class OutboxEntry:
    """Everything one update (or one apology) has to send to one chat, in order."""

    id: int
    chat_id: int
    update_id: int | None
    operations: tuple[dict[str, Any], ...]


class OutboxRepository:
    """Replies waiting to be sent, in the order they must arrive: one row per cause."""

    def __init__(self, session: AsyncSession, sealer: Sealer) -> None:
        self._session = session
        self._sealer = sealer

    @staticmethod
    def _purpose(chat_id: int, update_id: int | None) -> str:
        return f"telegram-outbox:{chat_id}:{update_id}"

    async def add(
        self,
        chat_id: int,
        update_id: int | None,
        operations: Sequence[dict[str, Any]],
        *,
        now: datetime,
    ) -> OutboxEntry | None:
        """Queue operations for a chat, in order; returns the entry (None if nothing to send)."""
        if not operations:
            return None
        payload = self._sealer.seal_json(self._purpose(chat_id, update_id), list(operations))
        entry_id = await self._session.scalar(
            _QUEUE,
            {"chat_id": chat_id, "update_id": update_id, "created_at": now, "payload": payload},
        )
        assert entry_id is not None
        return OutboxEntry(int(entry_id), chat_id, update_id, tuple(operations))

    async def add_many(
        self,
        items: Sequence[tuple[int, int | None, Sequence[dict[str, Any]]]],
        *,
        now: datetime,
    ) -> list[OutboxEntry]:
        """Queue ``(chat_id, update_id, operations)`` for several chats in one statement."""
        if not items:
            return []
        ids = await self._session.scalars(
            _QUEUE_MANY,
            [
                {
                    "chat_id": chat_id,
                    "update_id": update_id,
                    "created_at": now,
                    "payload": self._sealer.seal_json(
                        self._purpose(chat_id, update_id), list(operations)
                    ),
                }
                for chat_id, update_id, operations in items
            ],
        )
        return [
            OutboxEntry(int(entry_id), chat_id, update_id, tuple(operations))
            for entry_id, (chat_id, update_id, operations) in zip(ids, items, strict=True)
        ]

    async def pending(self) -> list[OutboxEntry]:
        """Everything not yet sent, oldest first."""
        rows = await self._session.execute(
            select(
                _OUTBOX.c.id, _OUTBOX.c.chat_id, _OUTBOX.c.update_id, _OUTBOX.c.payload
            ).order_by(_OUTBOX.c.id)
        )
        return [
            OutboxEntry(
                row_id,
                chat_id,
                update_id,
                tuple(self._sealer.open_json(self._purpose(chat_id, update_id), payload)),
            )
            for row_id, chat_id, update_id, payload in rows
        ]

    async def remove(self, ids: Iterable[int]) -> None:
        """Forget entries that were sent (or given up on)."""
        wanted = list(ids)
        if wanted:
            await self._session.execute(_CLEAR, {"ids": wanted})

    async def count(self) -> int:
        """How many entries are waiting."""
        return int(await self._session.scalar(select(func.count()).select_from(_OUTBOX)) or 0)
