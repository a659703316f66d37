"""Weekly check-in schedules and the record of every prompt's outcome.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the schedule and delivery tables."""
    op.create_table(
        "checkin_schedules",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("local_time", sa.Time(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("snoozed_until", UTC_DATETIME, nullable=True),
        sa.Column("skip_until", sa.Date(), nullable=True),
        sa.Column("next_due_at", UTC_DATETIME, nullable=True),
        sa.Column("last_sent_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_checkin_schedules_weekday")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_checkin_schedules_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_checkin_schedules")),
    )
    op.create_index(
        op.f("ix_checkin_schedules_next_due_at"),
        "checkin_schedules",
        ["next_due_at"],
        unique=False,
    )
    op.create_table(
        "checkin_deliveries",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", UTC_DATETIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('sent', 'skipped_late', 'unreachable')",
            name=op.f("ck_checkin_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_checkin_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_deliveries")),
        sa.UniqueConstraint("user_id", "due_at", name=op.f("uq_checkin_deliveries_user_id_due_at")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    """Drop everything 0003 created."""
    op.drop_table("checkin_deliveries")
    op.drop_index(op.f("ix_checkin_schedules_next_due_at"), table_name="checkin_schedules")
    op.drop_table("checkin_schedules")
