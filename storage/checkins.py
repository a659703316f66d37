"""Check-in schedules and deliveries: read, save, claim due work and record outcomes.

Like the other repositories this flushes but never commits; the caller's unit of work decides.
Claiming is safe with several processes on PostgreSQL: :meth:`CheckinRepository.claim_due`
locks the row with ``FOR UPDATE SKIP LOCKED``, so another process passes over it rather than
waiting, and the lock holds until the caller commits the delivery and the new ``next_due_at``
together. SQLite has no row locks (the clause is left out there); its ``BEGIN IMMEDIATE``
serialises writers, which is enough for the single process SQLite mode supports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.checkin_models import (
    DELIVERY_STATUSES,
    CheckinAnswer,
    CheckinDelivery,
    CheckinSchedule,
    FollowUp,
)
from storage.models import Entry, User
from storage.repositories import ENTRY_PURPOSE, EntryNotFoundError, Vault


class DuplicateDeliveryError(Exception):
    """A delivery for this practitioner and due instant is already recorded."""


@dataclass(frozen=True)
class ScheduleSettings:
    """The practitioner-chosen part of a schedule (no bookkeeping columns)."""

    enabled: bool
    weekday: int
    local_time: time
    timezone: str
    paused_until: date | None = None
    snoozed_until: datetime | None = None
    skip_until: date | None = None


class CheckinRepository:
    """Persistence for weekly check-ins within one session (one unit of work)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: int) -> CheckinSchedule | None:
        """The practitioner's schedule, or None if they never set one up."""
        return await self._session.get(CheckinSchedule, user_id)

    async def save(
        self, user_id: int, settings: ScheduleSettings, *, next_due_at: datetime | None
    ) -> CheckinSchedule:
        """Create or replace the practitioner's settings and when the next prompt is due."""
        schedule = await self.get(user_id)
        if schedule is None:
            schedule = CheckinSchedule(user_id=user_id)
            self._session.add(schedule)
        schedule.enabled = settings.enabled
        schedule.weekday = settings.weekday
        schedule.local_time = settings.local_time
        schedule.timezone = settings.timezone
        schedule.paused_until = settings.paused_until
        schedule.snoozed_until = settings.snoozed_until
        schedule.skip_until = settings.skip_until
        schedule.next_due_at = next_due_at if settings.enabled else None
        await self._session.flush()
        return schedule

    async def claim_due(self, now: datetime) -> CheckinSchedule | None:
        """Lock and return the longest-overdue enabled schedule due at ``now``, if any.

        The row stays locked until the session's transaction ends; other processes skip it.
        """
        statement = (
            select(CheckinSchedule)
            .where(CheckinSchedule.enabled.is_(True), CheckinSchedule.next_due_at <= now)
            .order_by(CheckinSchedule.next_due_at, CheckinSchedule.user_id)
            .limit(1)
            .with_for_update(skip_locked=True)
            # Another process may have moved the row on since this session last saw it.
            .execution_options(populate_existing=True)
        )
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def record_delivery(
        self, user_id: int, *, due_at: datetime, status: str, at: datetime
    ) -> CheckinDelivery:
        """Record what became of the prompt due at ``due_at``; refuses a second record."""
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown delivery status {status!r}")
        delivery = CheckinDelivery(user_id=user_id, due_at=due_at, status=status, sent_at=at)
        try:
            async with self._session.begin_nested():
                self._session.add(delivery)
        except IntegrityError as error:
            raise DuplicateDeliveryError(user_id) from error
        return delivery

    async def mark_unreachable(self, user_id: int, *, due_at: datetime, at: datetime) -> None:
        """The practitioner blocked the bot: say so, and schedule nothing more for them."""
        await self._session.execute(
            update(CheckinDelivery)
            .where(CheckinDelivery.user_id == user_id, CheckinDelivery.due_at == due_at)
            .values(status="unreachable", sent_at=at)
        )
        await self._session.execute(
            update(User)
            .where(User.id == user_id, User.unreachable_since.is_(None))
            .values(unreachable_since=at)
        )
        await self._session.execute(
            update(CheckinSchedule)
            .where(CheckinSchedule.user_id == user_id)
            .values(next_due_at=None)
        )

    async def deliveries(self, user_id: int) -> list[CheckinDelivery]:
        """Every recorded outcome for the practitioner, oldest due first."""
        statement = (
            select(CheckinDelivery)
            .where(CheckinDelivery.user_id == user_id)
            .order_by(CheckinDelivery.due_at)
        )
        return list((await self._session.execute(statement)).scalars())


CHECKIN_PURPOSE = "checkin-answer"


@dataclass(frozen=True)
class PendingFollowUp:
    """A reflection whose next step is due and not yet followed up."""

    entry_id: int
    created_at: datetime
    strategy: str | None
    next_step: str


class CheckinAnswerRepository:
    """Weekly check-in answers (free text sealed per user) and follow-ups on next steps."""

    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._session = session
        self._vault = vault

    async def add(
        self, user_id: int, *, at: datetime, wellbeing: int | None, private: dict[str, Any]
    ) -> int:
        """Store one check-in; return its id."""
        sealer = await self._vault.sealer_for(user_id)
        answer = CheckinAnswer(
            user_id=user_id,
            created_at=at,
            wellbeing=wellbeing,
            body=sealer.seal_json(CHECKIN_PURPOSE, private),
        )
        self._session.add(answer)
        await self._session.flush()
        return answer.id

    async def pending_follow_up(self, user_id: int, *, today: date) -> PendingFollowUp | None:
        """The most recent reflection whose next step is due by ``today`` and not followed up."""
        statement = (
            select(Entry)
            .outerjoin(FollowUp, FollowUp.entry_id == Entry.id)
            .where(
                Entry.user_id == user_id,
                Entry.kind == "reflection",
                Entry.next_step_due.is_not(None),
                Entry.next_step_due <= today,
                FollowUp.entry_id.is_(None),
            )
            .order_by(Entry.next_step_due.desc(), Entry.id.desc())
            .limit(1)
        )
        entry = (await self._session.execute(statement)).scalar_one_or_none()
        if entry is None:
            return None
        private = (await self._vault.sealer_for(user_id)).open_json(ENTRY_PURPOSE, entry.body)
        next_step = private.get("next_step")
        if not next_step:
            return None
        return PendingFollowUp(entry.id, entry.created_at, entry.strategy, str(next_step))

    async def record_follow_up(
        self, user_id: int, entry_id: int, *, tried: str, helped: str | None, at: datetime
    ) -> None:
        """Record how a next step went; only the owner's reflection, and only once."""
        entry = await self._session.get(Entry, entry_id)
        if entry is None or entry.user_id != user_id:
            raise EntryNotFoundError(entry_id)
        if await self._session.get(FollowUp, entry_id) is not None:
            return  # answered already (a replayed button): the first answer stands
        self._session.add(
            FollowUp(entry_id=entry_id, user_id=user_id, tried=tried, helped=helped, recorded_at=at)
        )
        await self._session.flush()

    async def export(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every check-in and follow-up of the practitioner, decrypted, oldest first."""
        sealer = await self._vault.sealer_for(user_id)
        answers = (
            await self._session.execute(
                select(CheckinAnswer)
                .where(CheckinAnswer.user_id == user_id)
                .order_by(CheckinAnswer.created_at, CheckinAnswer.id)
            )
        ).scalars()
        follow_ups = (
            await self._session.execute(
                select(FollowUp).where(FollowUp.user_id == user_id).order_by(FollowUp.recorded_at)
            )
        ).scalars()
        return {
            "checkins": [
                {
                    "created_at": a.created_at.isoformat(),
                    "wellbeing": a.wellbeing,
                    "your_words": sealer.open_json(CHECKIN_PURPOSE, a.body),
                }
                for a in answers
            ],
            "follow_ups": [
                {
                    "entry_id": f.entry_id,
                    "tried": f.tried,
                    "helped": f.helped,
                    "recorded_at": f.recorded_at.isoformat(),
                }
                for f in follow_ups
            ],
        }
