"""Tables for weekly check-ins: each practitioner's schedule and every prompt's outcome.

Schedules live in the database so a restart or deploy never loses one. ``next_due_at`` is
worked out by the bot (``bot.schedule``) and stored in UTC so due work can be found with one
indexed query. A delivery row is written in the same transaction that moves ``next_due_at`` on,
and ``(user_id, due_at)`` is unique, so a prompt can never be recorded twice.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import DEFAULT_TIMEZONE, AutoId, Base

DELIVERY_STATUSES = ("sent", "skipped_late", "unreachable")


class CheckinSchedule(Base):
    """One practitioner's weekly check-in settings and when the next prompt is due."""

    __tablename__ = "checkin_schedules"
    __table_args__ = (
        Index(None, "next_due_at"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool]
    # 0 is Monday, as in ``date.weekday()``.
    weekday: Mapped[int] = mapped_column(SmallInteger)
    local_time: Mapped[time] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    # Prompts resume on this local date (annual leave).
    paused_until: Mapped[date | None] = mapped_column(Date)
    # A one-off later time for a prompt the practitioner put off.
    snoozed_until: Mapped[datetime | None]
    # "Skip this week": no regular prompt on a local date before this one.
    skip_until: Mapped[date | None] = mapped_column(Date)
    # None when nothing is scheduled: turned off, or the practitioner cannot be reached.
    next_due_at: Mapped[datetime | None]
    last_sent_at: Mapped[datetime | None]


class CheckinDelivery(Base):
    """What became of one due prompt: sent, skipped because too late, or undeliverable."""

    __tablename__ = "checkin_deliveries"
    __table_args__ = (
        UniqueConstraint("user_id", "due_at"),
        CheckConstraint("status IN ('sent', 'skipped_late', 'unreachable')", name="status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    # When the outcome was decided (the send time for ``sent``).
    sent_at: Mapped[datetime]


class CheckinAnswer(Base):
    """A weekly check-in: how the practitioner was (0-10) and, sealed, any line they wrote."""

    __tablename__ = "checkin_answers"
    __table_args__ = (
        Index(None, "user_id", "created_at"),
        CheckConstraint("wellbeing BETWEEN 0 AND 10", name="wellbeing"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    wellbeing: Mapped[int | None] = mapped_column(SmallInteger)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class FollowUp(Base):
    """Whether a reflection's next step was tried and how much it helped (one per entry)."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        CheckConstraint("tried IN ('yes', 'not_yet', 'no')", name="tried"),
        CheckConstraint("helped IN ('not_at_all', 'a_bit', 'a_lot')", name="helped"),
    )

    entry_id: Mapped[int] = mapped_column(
        AutoId, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    tried: Mapped[str] = mapped_column(String(8))
    helped: Mapped[str | None] = mapped_column(String(12))
    recorded_at: Mapped[datetime]
