"""Database tables. Codes and ratings are stored in clear for summaries; free text only ever
lives in sealed ``LargeBinary`` columns (see :mod:`storage.crypto`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ENTRY_KINDS = ("reflection", "quick")
DEFAULT_TIMEZONE = "Europe/London"

# Stable constraint names keep Alembic migrations (and SQLite batch rebuilds) predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored as UTC on every backend and read back as UTC.

    SQLite has no time zones, so values are stored there as naive UTC text; naive input is
    refused everywhere so a local time can never slip in unlabelled.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before writing."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetimes must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return UTC-aware datetimes whatever the backend gave back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base for every Steady table; other packages add tables here too."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), bytes: LargeBinary()}


class User(Base):
    """A practitioner, known only by their numeric Telegram (or terminal) id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    consented_at: Mapped[datetime | None]
    consent_version: Mapped[str | None] = mapped_column(String(32))
    unreachable_since: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)


class UserKey(Base):
    """A user's data key, wrapped under the master key. Deleting the row crypto-shreds."""

    __tablename__ = "user_keys"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_key: Mapped[bytes]
    created_at: Mapped[datetime]


class Conversation(Base):
    """The sealed, opaque state of a user's current dialogue; one row per user."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    payload: Mapped[bytes]
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]

    # The ORM bumps ``version`` on each save and refuses to overwrite a newer row.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy convention)


class Entry(Base):
    """A reflection or quick debrief: clear codes and ratings, sealed free text in ``body``."""

    __tablename__ = "entries"
    __table_args__ = (
        Index(None, "user_id", "created_at"),
        CheckConstraint("kind IN ('reflection', 'quick')", name="kind"),
        CheckConstraint("rating_before BETWEEN 0 AND 10", name="rating_before"),
        CheckConstraint("rating_after BETWEEN 0 AND 10", name="rating_after"),
        {"sqlite_autoincrement": True},  # never reuse an erased user's entry ids
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    category: Mapped[str | None] = mapped_column(String(64))
    values: Mapped[list[str]] = mapped_column(JSON, default=list)
    strategy: Mapped[str | None] = mapped_column(String(64))
    rating_before: Mapped[int | None]
    rating_after: Mapped[int | None]
    intensity: Mapped[int | None]
    next_step_due: Mapped[date | None] = mapped_column(Date)
    expanded_into_id: Mapped[int | None] = mapped_column(
        AutoId, ForeignKey("entries.id", ondelete="SET NULL")
    )
    body: Mapped[bytes]
