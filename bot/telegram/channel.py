"""The Telegram channel: python-telegram-bot's ``Application`` wired to Steady's companion.

Receivers (``receivers.py``) record each update in the journal before acknowledging it; per-chat
lanes (``bot.inbox``) feed recorded updates, in order, to ``Application.process_update``; the
one handler registered here turns an update into a unit of work:

    run the practitioner's step + claim the journal row + queue the replies   -> one commit
    then answer the button press, send the replies, and clear them from the outbox.

Steps for different chats that are ready together share a transaction (see
``ChannelStore.run_step``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application, CallbackContext, TypeHandler

from bot.app import Steady
from bot.checkins import reachable_again
from bot.companion import Companion, utc_now
from bot.inbox import (
    ChannelStore,
    ChatLanes,
    DeliverReplies,
    HandleUpdate,
    Inbox,
    StepOutcome,
    Unit,
)
from bot.outbound import Outbound
from bot.telegram.callbacks import CallbackCodec
from bot.telegram.logsafety import describe_error
from bot.telegram.receivers import journalled
from bot.telegram.render import ReplyRenderer
from bot.telegram.routing import Action, Inbound, understand
from dialogues.core import Reply
from prompts import load_content
from storage.journal import JournalledUpdate, OutboxEntry, channel_sealer, derive_key

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
Context = CallbackContext[Any, Any, Any, Any]

# Pauses before handling a failed update again; after the last, the practitioner gets an apology.
RETRY_DELAYS = (0.2, 1.0, 5.0)


class TelegramChannel:
    """Handles every update through the companion, exactly once, replying in order."""

    def __init__(
        self,
        steady: Steady,
        application: AnyApplication,
        *,
        master_key: bytes,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        outbound: Outbound | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        lane_limit: int = 64,
    ) -> None:
        self.application = application
        self._companion: Companion = steady.companion
        self._clock = clock
        self._sleep = sleep
        self._retry_delays = tuple(retry_delays)
        self.codec = CallbackCodec(derive_key(master_key, "telegram/buttons"))
        self.renderer = ReplyRenderer(self.codec)
        self.store = ChannelStore(steady.engine, channel_sealer(master_key), steady.keyring)
        self.outbound = outbound or Outbound(application.bot, sleep=sleep)
        self.lanes = ChatLanes(self._run, limit=lane_limit)
        self.inbox = Inbox(self.store, self.lanes, clock)
        self._handled: set[int] = set()
        # Updates the poller has already parsed, so the lane need not parse them again.
        self._parsed: dict[int, Update] = {}
        self._notes: dict[str, str] = dict(load_content("telegram.yaml")["button_answers"])
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)

    # --- start-up ------------------------------------------------------------------------------
    async def register_commands(self) -> None:
        """Publish the command menu (from ``prompts/content/telegram.yaml``)."""
        commands = load_content("telegram.yaml")["commands"]
        await self.application.bot.set_my_commands(
            [BotCommand(item["command"], item["description"]) for item in commands]
        )

    async def recover(self) -> tuple[int, int]:
        """Queue what an earlier run left undone, and drop week-old journal tombstones."""
        await self.store.prune(self._clock())
        return await self.inbox.recover()

    async def drain(self) -> None:
        """Wait until everything queued has been handled, sent and cleared from the outbox."""
        await self.lanes.wait_idle()
        await self.store.flush()

    async def close(self) -> None:
        """Stop the lanes; whatever was not finished is still recorded for the next start."""
        await self.lanes.close()
        await self.store.close()

    # --- lanes ---------------------------------------------------------------------------------
    async def _run(self, work: object) -> None:
        if isinstance(work, DeliverReplies):
            user_id = work.chat_id if work.chat_id > 0 else None
            await self._deliver(work.chat_id, work.entries, user_id)
        elif isinstance(work, HandleUpdate):
            await self._handle_recorded(work.update)

    async def _handle_recorded(self, recorded: JournalledUpdate) -> None:
        """Feed a recorded update to the application until it is handled, or give up."""
        for delay in (*self._retry_delays, None):
            try:
                update = self._parsed.pop(recorded.update_id, None) or Update.de_json(
                    recorded.data, self.application.bot
                )
            except Exception as error:
                log.error("update %s is malformed: %s", recorded.update_id, describe_error(error))
                break
            await self.application.process_update(update)
            if recorded.update_id in self._handled:
                self._handled.discard(recorded.update_id)
                return
            if delay is None:
                break
            await self._sleep(delay)
        await self._give_up(recorded)

    async def _give_up(self, recorded: JournalledUpdate) -> None:
        """Close an update that keeps failing, with an apology; leave it if even that fails."""
        log.error("giving up on update %s after repeated failures", recorded.update_id)
        chat_id = recorded.chat_id
        apology = []
        if chat_id is not None and chat_id > 0:
            apology = self.renderer.operations([Reply("telegram_failed.j2")], user_id=chat_id)

        async def close_it(unit: Unit) -> StepOutcome:
            return StepOutcome(recorded.update_id, chat_id, apology)

        try:
            settled = await self.store.run_step(close_it, self._clock)
        except Exception as error:
            log.error("update %s stays recorded for the next start: %s", recorded.update_id,
                      describe_error(error))  # fmt: skip
            return
        if settled is not None and settled.entry is not None and chat_id is not None:
            await self._deliver(chat_id, [settled.entry], chat_id)

    # --- the handler ---------------------------------------------------------------------------
    async def _on_update(
        self, update: Update, context: CallbackContext[Any, Any, Any, Any]
    ) -> None:
        """The application's only handler: one update, one unit of work, then the replies."""
        inbound = understand(update, self.codec, self.application.bot.username)

        async def step(unit: Unit) -> StepOutcome:
            replies, note = await self._respond(unit, inbound, self._clock())
            operations = self.renderer.operations(
                replies, user_id=inbound.user_id or 0, pressed=inbound.pressed
            )
            return StepOutcome(update.update_id, inbound.chat_id, operations, note)

        settled = await self.store.run_step(step, self._clock)
        self._handled.add(update.update_id)
        if settled is None:
            return  # handled before (delivered twice): nothing more to do
        if inbound.callback_query_id is not None:
            await self.outbound.answer_button(inbound.callback_query_id, settled.note)
        if settled.entry is not None and inbound.chat_id is not None:
            await self._deliver(inbound.chat_id, [settled.entry], inbound.user_id)

    async def _on_error(self, update: object, context: Context) -> None:
        update_id = getattr(update, "update_id", None)
        log.error("update %s failed: %s", update_id, describe_error(context.error))

    async def _respond(
        self, unit: Unit, inbound: Inbound, now: datetime
    ) -> tuple[list[Reply], str | None]:
        """The replies to an update, and a note for its button; effects go into ``unit``."""
        companion = self._companion.with_sessions(unit.sessions)
        user_id = inbound.user_id
        match inbound.action:
            case Action.EVENT if user_id is not None and inbound.event is not None:
                return await companion.handle(user_id, inbound.event), None
            case Action.NUDGE if user_id is not None:
                question = await companion.current_question(user_id)
                template = "telegram_edited.j2" if inbound.nudge == "edited" else (
                    "telegram_non_text.j2")  # fmt: skip
                nudge = Reply(template, {"kind": inbound.nudge, "asking": bool(question)})
                return [nudge, *question], None
            case Action.REFUSE_BUTTON:
                return [], self._notes["invalid"]
            case Action.GROUP:
                replies = [Reply("telegram_group.j2")] if inbound.reply_in_group else []
                return replies, self._notes["group"]
            case Action.UNREACHABLE if user_id is not None:
                await unit.users.mark_unreachable(user_id, now)
            case Action.REACHABLE if user_id is not None:
                # Unblocked: clear the mark and put their weekly check-in back on the calendar.
                await reachable_again(unit.session, user_id, now=now)
        return [], None

    # --- sending -------------------------------------------------------------------------------
    async def _deliver(
        self, chat_id: int, entries: Sequence[OutboxEntry], user_id: int | None
    ) -> None:
        report = await self.outbound.deliver(chat_id, entries)
        if report.unreachable and user_id is not None:
            try:
                await self.store.mark_unreachable(user_id, self._clock())
            except Exception as error:
                log.error("could not mark chat %s unreachable: %s", chat_id, describe_error(error))
        self.store.forget_sent(report.finished_ids)

    # --- receivers hand over here --------------------------------------------------------------
    async def accept(self, updates: Sequence[JournalledUpdate]) -> int:
        """Record updates durably and queue them; safe to acknowledge once this returns."""
        return len(await self.inbox.accept(updates))

    async def accept_parsed(self, updates: Sequence[Update]) -> int:
        """:meth:`accept` for updates python-telegram-bot has already parsed (polling)."""
        for update in updates:
            self._parsed[update.update_id] = update
        fresh: set[int] = set()
        try:
            fresh = set(await self.inbox.accept([journalled(u.to_dict()) for u in updates]))
        finally:
            for update in updates:
                if update.update_id not in fresh:
                    self._parsed.pop(update.update_id, None)
        return len(fresh)
