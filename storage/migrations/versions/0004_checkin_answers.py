"""Weekly check-in answers and follow-ups on chosen next steps.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the check-in answer and follow-up tables."""
    op.create_table(
        "checkin_answers",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("wellbeing", sa.SmallInteger(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("wellbeing BETWEEN 0 AND 10", name=op.f("ck_checkin_answers_wellbeing")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_checkin_answers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_answers")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_checkin_answers_user_id_created_at"),
        "checkin_answers",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "follow_ups",
        sa.Column("entry_id", AUTO_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("tried", sa.String(8), nullable=False),
        sa.Column("helped", sa.String(12), nullable=True),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("tried IN ('yes', 'not_yet', 'no')", name=op.f("ck_follow_ups_tried")),
        sa.CheckConstraint(
            "helped IN ('not_at_all', 'a_bit', 'a_lot')", name=op.f("ck_follow_ups_helped")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name=op.f("fk_follow_ups_entry_id_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_follow_ups_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_follow_ups")),
    )
    op.create_index(op.f("ix_follow_ups_user_id"), "follow_ups", ["user_id"], unique=False)


def downgrade() -> None:
    """Drop the check-in answer and follow-up tables."""
    op.drop_index(op.f("ix_follow_ups_user_id"), table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_index(op.f("ix_checkin_answers_user_id_created_at"), table_name="checkin_answers")
    op.drop_table("checkin_answers")
