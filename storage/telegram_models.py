"""Tables for the Telegram channel: the update journal (inbox) and the reply outbox.

Both hold sealed payloads only for as long as they are needed. A journal row keeps its
``update_id`` after it is handled (a tombstone, so a redelivered update is recognised) but its
payload is removed at the same moment; an outbox row is deleted once its message is out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import AutoId, Base


class TelegramUpdate(Base):
    """One update Telegram delivered, recorded before Telegram was told it arrived."""

    __tablename__ = "telegram_updates"
    __table_args__ = (
        Index(None, "handled_at", "update_id"),
        Index(None, "received_at"),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Which chat's lane the update belongs to; None outside any chat, and once handled.
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    # The update as Telegram sent it, sealed under the channel key; None once handled.
    payload: Mapped[bytes | None]


class OutboxMessage(Base):
    """What one update has to send to a chat, written in the same transaction as its cause."""

    __tablename__ = "telegram_outbox"
    __table_args__ = (
        Index(None, "chat_id", "id"),
        {"sqlite_autoincrement": True},  # ids give the sending order: never reuse one
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # The messages and edits to send, in order, sealed under the channel key (they can echo the
    # practitioner's words).
    payload: Mapped[bytes]
