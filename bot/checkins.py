"""Weekly check-ins: changing a practitioner's schedule, and sending the prompts that are due.

Every schedule lives in the database (``storage.checkins``), so a restart or deploy loses
nothing. :class:`CheckinDispatcher` works through due schedules one practitioner at a time:
in one short transaction it locks the schedule, records the outcome and moves ``next_due_at``
on, then commits before sending. A crash part-way through a fan-out therefore never re-sends a
prompt already recorded, and two processes sharing PostgreSQL never claim the same schedule.

The price of committing before sending is that a crash in the instant between the commit and
the send loses that one prompt rather than repeating it: never twice is the promise kept. A
channel with a durable outbox closes that gap by making :meth:`PromptSender.send` a write to
its outbox.

A prompt missed while the bot was down is sent late once if it is within the grace period;
otherwise it is recorded as ``skipped_late`` and the next one is scheduled.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.schedule import WeeklySlot, next_due, skip_date
from dialogues.core import Option, Reply
from storage.checkin_models import CheckinSchedule
from storage.checkins import CheckinRepository, DuplicateDeliveryError, ScheduleSettings
from storage.models import DEFAULT_TIMEZONE, User

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PromptFor = Callable[[int, datetime], Reply]

DEFAULT_GRACE = timedelta(hours=6)
# Friday afternoon: the end of a clinical week, when looking back is most useful.
DEFAULT_WEEKDAY = 4
DEFAULT_LOCAL_TIME = time(15, 0)
PROMPT_TEMPLATE = "checkin_prompt.j2"


class RecipientUnreachableError(Exception):
    """The practitioner cannot be reached any more (Telegram answered 403: bot blocked)."""


class PromptSender(Protocol):
    """Whatever carries a prompt to the practitioner; the Telegram channel implements it.

    Retrying after a 429 and pacing within Telegram's limits are the sender's job. It raises
    :class:`RecipientUnreachableError` when the practitioner has blocked the bot.
    """

    async def send(self, user_id: int, reply: Reply) -> None:
        """Deliver ``reply`` to the practitioner ``user_id``."""


def default_prompt(user_id: int, due_at: datetime) -> Reply:
    """The weekly prompt: check in now, put it off, or skip this week.

    Its buttons carry no question number: they stay valid until used, whatever the
    practitioner does in between, and each one is safe to press twice.
    """
    return Reply(
        PROMPT_TEMPLATE,
        data={"due_at": due_at},
        options=(
            Option("menu:weekly", "Check in now"),
            Option("snooze:hour", "In an hour"),
            Option("snooze:evening", "This evening"),
            Option("snooze:tomorrow", "Tomorrow"),
            Option("checkin:skip", "Skip this week"),
        ),
    )


def slot_of(schedule: CheckinSchedule | ScheduleSettings) -> WeeklySlot:
    """The weekly slot a stored schedule (or settings) describes."""
    return WeeklySlot(schedule.weekday, schedule.local_time, schedule.timezone)


def settings_of(schedule: CheckinSchedule) -> ScheduleSettings:
    """The practitioner-chosen settings of a stored schedule."""
    return ScheduleSettings(
        enabled=schedule.enabled,
        weekday=schedule.weekday,
        local_time=schedule.local_time,
        timezone=schedule.timezone,
        paused_until=schedule.paused_until,
        snoozed_until=schedule.snoozed_until,
        skip_until=schedule.skip_until,
    )


def due_after(settings: ScheduleSettings, now: datetime) -> datetime | None:
    """When the next prompt is due under ``settings``, or None when check-ins are off."""
    if not settings.enabled:
        return None
    return next_due(
        slot_of(settings),
        after=now,
        paused_until=settings.paused_until,
        skip_until=settings.skip_until,
        snoozed_until=settings.snoozed_until,
    )


async def change_schedule(
    session: AsyncSession, user_id: int, *, now: datetime, **changes: Any
) -> CheckinSchedule:
    """Apply ``changes`` (fields of :class:`ScheduleSettings`) and reschedule the next prompt.

    A practitioner without a schedule starts from Friday 15:00 in their own time zone, off.
    Nothing is scheduled while the practitioner is marked unreachable.
    """
    repo = CheckinRepository(session)
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    current = await repo.get(user_id)
    base = (
        settings_of(current)
        if current is not None
        else ScheduleSettings(
            enabled=False,
            weekday=DEFAULT_WEEKDAY,
            local_time=DEFAULT_LOCAL_TIME,
            timezone=user.timezone or DEFAULT_TIMEZONE,
        )
    )
    settings = dataclasses.replace(base, **changes)
    slot_of(settings)  # validates weekday, time and zone before anything is stored
    due = None if user.unreachable_since is not None else due_after(settings, now)
    return await repo.save(user_id, settings, next_due_at=due)


async def skip_this_week(session: AsyncSession, user_id: int, *, now: datetime) -> CheckinSchedule:
    """Skip the next regular prompt only; the one after arrives as usual."""
    repo = CheckinRepository(session)
    current = await repo.get(user_id)
    if current is None or not current.enabled:
        raise LookupError(f"no weekly check-in for user {user_id}")
    held = max((d for d in (current.paused_until, current.skip_until) if d), default=None)
    until: date = skip_date(slot_of(current), now=now, paused_until=held)
    return await change_schedule(session, user_id, now=now, skip_until=until, snoozed_until=None)


async def reachable_again(session: AsyncSession, user_id: int, *, now: datetime) -> None:
    """The practitioner wrote to the bot again after blocking it: resume their check-ins."""
    await session.execute(update(User).where(User.id == user_id).values(unreachable_since=None))
    if await CheckinRepository(session).get(user_id) is not None:
        await change_schedule(session, user_id, now=now)


@dataclasses.dataclass(frozen=True)
class _Claim:
    user_id: int
    due_at: datetime
    send: bool


class CheckinDispatcher:
    """Sends the weekly prompts that are due, exactly once each, across restarts and processes."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: PromptSender,
        *,
        clock: Clock,
        grace: timedelta = DEFAULT_GRACE,
        prompt_for: PromptFor = default_prompt,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._clock = clock
        self._grace = grace
        self._prompt_for = prompt_for

    async def run_due(
        self, now: datetime | None = None, *, keep_going: Callable[[], bool] | None = None
    ) -> list[tuple[int, Reply]]:
        """Handle every schedule due at ``now`` (default: the clock); return what was sent.

        ``keep_going`` is asked before each claim: once it says no, nothing more is claimed
        (how a stopping process finishes the prompt in hand without starting another).
        """
        now = self._clock() if now is None else now
        sent: list[tuple[int, Reply]] = []
        while (keep_going is None or keep_going()) and (
            claim := await self._claim_one(now)
        ) is not None:
            if not claim.send:
                continue
            reply = self._prompt_for(claim.user_id, claim.due_at)
            try:
                await self._sender.send(claim.user_id, reply)
            except RecipientUnreachableError:
                async with self._sessions() as session, session.begin():
                    await CheckinRepository(session).mark_unreachable(
                        claim.user_id, due_at=claim.due_at, at=self._clock()
                    )
                continue
            except Exception as error:
                # One failed send must not hold up everyone else's prompt; never log content.
                log.warning(
                    "check-in prompt for user %s failed: %s", claim.user_id, type(error).__name__
                )
                continue
            sent.append((claim.user_id, reply))
        return sent

    async def _claim_one(self, now: datetime) -> _Claim | None:
        """Lock one due schedule, record its outcome and move it on, in one transaction."""
        async with self._sessions() as session, session.begin():
            repo = CheckinRepository(session)
            schedule = await repo.claim_due(now)
            if schedule is None or schedule.next_due_at is None:
                return None
            due_at = schedule.next_due_at
            send = now - due_at <= self._grace
            try:
                await repo.record_delivery(
                    schedule.user_id,
                    due_at=due_at,
                    status="sent" if send else "skipped_late",
                    at=now,
                )
            except DuplicateDeliveryError:
                # Already recorded by an earlier run: move on without sending again.
                send = False
            if schedule.snoozed_until is not None and schedule.snoozed_until <= now:
                schedule.snoozed_until = None  # the snoozed prompt is this one, or long gone
            if send:
                schedule.last_sent_at = now
            schedule.next_due_at = due_after(settings_of(schedule), max(now, due_at))
            return _Claim(schedule.user_id, due_at, send)
