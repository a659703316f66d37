"""The application service every channel talks to: one event in, replies out.

Each call is one unit of work: load the practitioner's conversation, let the dialogue layer
decide, carry out its effects in storage, and commit once, before any reply is shown. A reply
that says "saved" is therefore only ever sent after the save is durable.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.checkins import (
    DEFAULT_LOCAL_TIME,
    DEFAULT_WEEKDAY,
    change_schedule,
    skip_this_week,
    slot_of,
)
from bot.schedule import snooze_choices, zone
from dialogues.catalogue import Catalogue
from dialogues.checkin import CheckinSettings, FollowUp, RecordFollowUp, UpdateCheckin
from dialogues.conversation import (
    Conversation,
    ConversationState,
    IdentifierFinder,
    ParkedQuick,
    RiskScreen,
    Situation,
)
from dialogues.core import (
    Attachment,
    Event,
    EventKind,
    GrantConsent,
    Option,
    Reply,
    SaveEntry,
    Turn,
)
from storage import (
    CheckinAnswerRepository,
    ConversationRepository,
    EntryRepository,
    EntryView,
    KeyRing,
    UserRepository,
    Vault,
)
from storage.checkins import CheckinRepository
from storage.models import DEFAULT_TIMEZONE

log = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 5
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock; tests inject their own."""
    return datetime.now(UTC)


@dataclass
class _Unit:
    """The repositories of one unit of work."""

    session: AsyncSession
    users: UserRepository
    conversations: ConversationRepository
    entries: EntryRepository
    checkins: CheckinAnswerRepository


class Companion:
    """Handles one practitioner event at a time, durably."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: KeyRing,
        catalogue: Catalogue,
        risk_screen: RiskScreen,
        identifier_guard: IdentifierFinder,
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._catalogue = catalogue
        self._risk_screen = risk_screen
        self._identifier_guard = identifier_guard
        self._clock = clock
        self._conversation = Conversation()

    async def handle(self, user_id: int, event: Event) -> list[Reply]:
        """Handle one event from one practitioner and return what to show them."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            vault = Vault(session, self._keyring)
            unit = _Unit(
                session,
                UserRepository(session, self._keyring),
                ConversationRepository(session, vault),
                EntryRepository(session, vault),
                CheckinAnswerRepository(session, vault),
            )
            user, stored = await unit.conversations.load_with_user(user_id)
            consented = user is not None and user.consented_at is not None
            state = ConversationState.from_json(stored) if consented else ConversationState()
            ctx = self._situation(now, consented=consented)
            if consented:
                detour = await self._storage_command(unit, user_id, state, event, ctx)
                if detour is not None:
                    turn, erased = detour
                    if not erased:
                        await unit.conversations.save(user_id, state.to_json(), now=now)
                    return turn.replies
                ctx = await self._prepare(unit, user_id, _starting(event, state), ctx)
            turn = self._conversation.handle(state, event, ctx)
            consented = await self._apply(unit, user_id, turn, now) or consented
            if consented:
                await unit.conversations.save(user_id, state.to_json(), now=now)
        return turn.replies

    # --- for channels (added for the Telegram channel) ---------------------------------------
    def with_sessions(self, sessions: async_sessionmaker[AsyncSession]) -> Companion:
        """The same companion working through other sessions.

        A channel passes sessions joined to its own open transaction (savepoint mode), so the
        practitioner's step and the channel's bookkeeping for it commit together or not at all.
        """
        twin = copy.copy(self)
        twin._sessions = sessions
        return twin

    async def current_question(self, user_id: int) -> list[Reply]:
        """The question the practitioner is answering, asked again unchanged; [] if none.

        Read-only, and the question keeps its number, so buttons already shown still work. A
        channel uses it to answer what it cannot pass on (a photo, an edited message).
        """
        async with self._sessions() as session:
            conversations = ConversationRepository(session, Vault(session, self._keyring))
            user, stored = await conversations.load_with_user(user_id)
            if user is None or user.consented_at is None:
                return []
            turn = Turn()
            ctx = self._situation(self._clock(), consented=True)
            self._conversation.reask(ConversationState.from_json(stored), ctx, turn)
            return turn.replies

    def _situation(self, now: datetime, *, consented: bool) -> Situation:
        """What the dialogue layer may consult for one event (more is added when needed)."""
        return Situation(
            catalogue=self._catalogue,
            risk_screen=self._risk_screen,
            identifier_guard=self._identifier_guard,
            now=now,
            consented=consented,
        )

    # --- effects ---------------------------------------------------------------------------
    async def _apply(self, unit: _Unit, user_id: int, turn: Turn, now: datetime) -> bool:
        """Carry out the turn's effects; return whether consent was granted just now."""
        granted = False
        for effect in turn.effects:
            if isinstance(effect, GrantConsent):
                await unit.users.grant_consent(user_id, now=now, version=effect.version)
                granted = True
            elif isinstance(effect, SaveEntry) and effect.kind == "checkin":
                await unit.checkins.add(
                    user_id, at=now, wellbeing=effect.rating_before, private=dict(effect.private)
                )
            elif isinstance(effect, RecordFollowUp):
                await unit.checkins.record_follow_up(
                    user_id, effect.entry_id, tried=effect.tried, helped=effect.helped, at=now
                )
            elif isinstance(effect, UpdateCheckin):
                await self._update_checkin(unit, user_id, effect, now)
            elif isinstance(effect, SaveEntry):
                due = None
                if effect.next_step_due_days is not None:
                    due = (now + timedelta(days=effect.next_step_due_days)).date()
                entry_id = await unit.entries.add(
                    user_id,
                    kind=effect.kind,
                    created_at=now,
                    private=dict(effect.private),
                    category=effect.category,
                    values=effect.values,
                    strategy=effect.strategy,
                    rating_before=effect.rating_before,
                    rating_after=effect.rating_after,
                    intensity=effect.intensity,
                    next_step_due=due,
                )
                if effect.expands_quick_id is not None:
                    await unit.entries.mark_expanded(user_id, effect.expands_quick_id, entry_id)
                log.info("entry saved", extra={"kind": effect.kind})
        return granted

    async def _prepare(
        self, unit: _Unit, user_id: int, starting: str | None, ctx: Situation
    ) -> Situation:
        """Load what a dialogue about to start needs to know (and only then: it costs a query)."""
        if starting == "reflect":
            return replace(ctx, parked_quick=await self._parked_quick(unit, user_id))
        if starting == "checkin":
            return replace(ctx, checkin=await self._checkin_settings(unit, user_id))
        if starting == "weekly":
            today = ctx.now.astimezone(await self._zone(unit, user_id)).date()
            pending = await unit.checkins.pending_follow_up(user_id, today=today)
            if pending is not None:
                follow_up = FollowUp(
                    pending.entry_id, pending.next_step, pending.strategy, pending.created_at
                )
                return replace(ctx, follow_up=follow_up)
        return ctx

    async def _zone(self, unit: _Unit, user_id: int) -> ZoneInfo:
        schedule = await CheckinRepository(unit.session).get(user_id)
        return zone(schedule.timezone if schedule else DEFAULT_TIMEZONE)

    async def _checkin_settings(self, unit: _Unit, user_id: int) -> CheckinSettings:
        schedule = await CheckinRepository(unit.session).get(user_id)
        if schedule is None:
            user = await unit.users.get(user_id)
            return CheckinSettings(
                enabled=False,
                weekday=DEFAULT_WEEKDAY,
                local_time=DEFAULT_LOCAL_TIME.strftime("%H:%M"),
                timezone=(user.timezone if user else None) or DEFAULT_TIMEZONE,
            )
        return CheckinSettings(
            enabled=schedule.enabled,
            weekday=schedule.weekday,
            local_time=schedule.local_time.strftime("%H:%M"),
            timezone=schedule.timezone,
            paused_until=schedule.paused_until,
        )

    async def _update_checkin(
        self, unit: _Unit, user_id: int, effect: UpdateCheckin, now: datetime
    ) -> None:
        chosen = effect.settings
        await change_schedule(
            unit.session,
            user_id,
            now=now,
            enabled=chosen.enabled,
            weekday=chosen.weekday,
            local_time=time.fromisoformat(chosen.local_time),
            timezone=chosen.timezone,
            paused_until=chosen.paused_until,
            snoozed_until=None,
            skip_until=None,
        )
        user = await unit.users.get(user_id)
        if user is not None:
            user.timezone = chosen.timezone
        if effect.skip_week and chosen.enabled:
            await skip_this_week(unit.session, user_id, now=now)

    async def _parked_quick(self, unit: _Unit, user_id: int) -> ParkedQuick | None:
        view = await unit.entries.latest_parked_quick(user_id)
        if view is None:
            return None
        return ParkedQuick(
            id=view.id,
            created_at=view.created_at,
            category=view.category,
            intensity=view.intensity,
            note=view.private.get("note"),
        )

    # --- commands that need storage --------------------------------------------------------
    async def _storage_command(
        self, unit: _Unit, user_id: int, state: ConversationState, event: Event, ctx: Situation
    ) -> tuple[Turn, bool] | None:
        """/history, /export and /forget and their buttons: the turn, and whether all was erased.

        None for any other event.
        """
        name, _, argument = _command_and_argument(event)
        if name == "history":
            turn = await self._history(unit, user_id, _int(argument, default=0))
        elif name == "open":
            turn = await self._open_entry(unit, user_id, _int(argument, default=-1))
        elif name == "snooze":
            turn = await self._snooze(unit, user_id, argument, ctx.now)
        elif name == "checkin" and argument == "skip":
            turn = Turn()
            schedule = await CheckinRepository(unit.session).get(user_id)
            if schedule is None or not schedule.enabled:
                turn.say("checkin_unavailable.j2")
            else:
                await skip_this_week(unit.session, user_id, now=ctx.now)
                turn.say("week_skipped.j2")
        elif name == "export":
            turn = await self._export(unit, user_id, ctx)
        elif name == "forget":
            # Erasure cannot be undone, so only the confirmation just shown counts: an old
            # "yes" button pressed later is answered as stale, like any earlier question's.
            fresh = event.token is not None and event.token == state.token
            if argument == "yes" and fresh:
                await unit.users.erase(user_id)
                log.info("practitioner erased their data")
                farewell = Turn()
                farewell.say("forgotten.j2")
                return farewell, True
            turn = Turn()
            if argument in ("yes", "no") and not fresh:
                turn.say("stale_button.j2")
            elif argument == "no":
                turn.say("forget_kept.j2")
            else:
                state.token += 1
                turn.replies.append(
                    Reply(
                        "forget_confirm.j2",
                        options=(
                            Option("forget:yes", "Yes, erase everything"),
                            Option("forget:no", "No, keep it"),
                        ),
                        token=state.token,
                    )
                )
        else:
            return None
        # After a detour, show the question the practitioner was answering, if any.
        self._conversation.reask(state, ctx, turn)
        return turn, False

    async def _snooze(self, unit: _Unit, user_id: int, choice: str, now: datetime) -> Turn:
        turn = Turn()
        schedule = await CheckinRepository(unit.session).get(user_id)
        if schedule is None or not schedule.enabled:
            turn.say("checkin_unavailable.j2")
            return turn
        until = snooze_choices(slot_of(schedule), now=now).get(choice)
        if until is None:  # "this evening" when the evening has gone, or a tampered button
            turn.say("checkin_unavailable.j2")
            return turn
        await change_schedule(unit.session, user_id, now=now, snoozed_until=until)
        turn.say("snoozed.j2", until=until.astimezone(zone(schedule.timezone)))
        return turn

    async def _history(self, unit: _Unit, user_id: int, page: int) -> Turn:
        turn = Turn()
        page = max(page, 0)
        views, total = await unit.entries.page(
            user_id, offset=page * HISTORY_PAGE_SIZE, limit=HISTORY_PAGE_SIZE
        )
        if total == 0:
            turn.say("history_empty.j2")
            return turn
        if not views:  # a page beyond the end, e.g. after entries were erased
            page = 0
            views, total = await unit.entries.page(user_id, offset=0, limit=HISTORY_PAGE_SIZE)
        options = [Option(f"open:{v.id}", self._entry_label(v)) for v in views]
        if page > 0:
            options.append(Option(f"history:{page - 1}", "‹ Newer"))
        if (page + 1) * HISTORY_PAGE_SIZE < total:
            options.append(Option(f"history:{page + 1}", "Older ›"))
        first = page * HISTORY_PAGE_SIZE + 1
        turn.replies.append(
            Reply(
                "history.j2",
                {"first": first, "last": first + len(views) - 1, "total": total},
                tuple(options),
            )
        )
        return turn

    def _entry_label(self, view: EntryView) -> str:
        kind = "Reflection" if view.kind == "reflection" else "Quick"
        category = self._catalogue.label(view.category) or "No category"
        return f"{view.created_at:%a %-d %b} · {kind} · {category}"

    async def _open_entry(self, unit: _Unit, user_id: int, entry_id: int) -> Turn:
        turn = Turn()
        view = await unit.entries.get(user_id, entry_id) if entry_id >= 0 else None
        if view is None:
            # Someone else's entry, an erased one, or a tampered button: same polite answer.
            turn.say("entry_missing.j2")
            return turn
        c = self._catalogue
        appraisals = [
            {"prompt": c.appraisals.get(item.get("prompt", ""), ""), "answer": item.get("answer")}
            for item in view.private.get("appraisals", [])
        ]
        strategy = c.label(view.strategy) if view.strategy else view.private.get("own_strategy")
        turn.say(
            "entry.j2",
            entry=view,
            category=c.label(view.category),
            values=[c.label(code) for code in view.values],
            appraisals=appraisals,
            strategy=strategy,
            when_label=view.private.get("when") or c.label(view.private.get("timing")),
        )
        return turn

    async def _export(self, unit: _Unit, user_id: int, ctx: Situation) -> Turn:
        views = await unit.entries.export(user_id)
        document = {
            "exported_at": ctx.now.isoformat(),
            "practitioner_id": user_id,
            "entries": [_exportable(v) for v in views],
            **await unit.checkins.export(user_id),
        }
        content = json.dumps(document, ensure_ascii=False, indent=2).encode()
        turn = Turn()
        turn.replies.append(
            Reply(
                "export.j2",
                {"count": len(views)},
                attachment=Attachment(f"steady-export-{ctx.now:%Y-%m-%d}.json", content),
            )
        )
        return turn


def _exportable(view: EntryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "kind": view.kind,
        "created_at": view.created_at.isoformat(),
        "category": view.category,
        "values": list(view.values),
        "strategy": view.strategy,
        "rating_before": view.rating_before,
        "rating_after": view.rating_after,
        "intensity": view.intensity,
        "next_step_due": view.next_step_due.isoformat() if view.next_step_due else None,
        "your_words": view.private,
    }


def _command_and_argument(event: Event) -> tuple[str, str, str]:
    """Split ``history:2`` (a button) or ``history`` (a command) into name and argument."""
    if event.kind is EventKind.TEXT:
        return "", "", ""
    return event.value.partition(":")


def _int(text: str, *, default: int) -> int:
    return int(text) if text.isdigit() and len(text) < 10 else default


def _starting(event: Event, state: ConversationState) -> str | None:
    """The dialogue this event may start (a command, a menu button, "start afresh"), if any."""
    if event.kind is EventKind.TEXT:
        return None
    if event.value == "resume:fresh" and state.pending:
        return str(state.pending.get("dialogue"))
    return event.value.removeprefix("menu:")
