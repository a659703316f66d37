"""Sending a week's check-in prompts within Telegram's limits, without keeping anyone waiting.

Telegram asks a bot to stay under about 30 messages a second overall and about one a second in
any one chat, and answers 429 with ``retry_after`` beyond that. Everything this process sends
to Telegram draws from one :class:`SendBudget`: the Telegram channel's replies through a
:class:`PacedOutbound` marked interactive, the weekly broadcast through :class:`FanoutSender`.

How a practitioner in the middle of a conversation is kept from waiting behind the broadcast:
the budget hands out send slots spaced ``1 / rate`` apart. A reply *reserves* the earliest free
slot the moment it asks, even if that slot is a little in the future; the broadcast only ever
takes a slot that is free right now, and never reserves ahead. So a reply waits at most one
slot (33 ms at 30/s) plus whatever other replies are ahead of it, however many thousand
prompts are queued; and the broadcast still uses every slot the conversations leave free.
Capping the broadcast below the limit instead would waste the headroom when nobody is chatting
and still let replies queue when more people chat than it allows; priority does neither.
Replies are not held to one a second per chat: someone who has just written expects an answer,
Telegram tolerates a reply's short burst, and a 429 is still waited out if it comes. Prompts
are, so a practitioner's prompt never lands within a second of another message to them.

Slots are spaced evenly rather than handed out in bursts, because Telegram counts over a
sliding second: even spacing at ``1 / rate`` can never put more than ``rate`` messages in any
one second, and it keeps each reply's wait short. Only messages and documents count; edits and
button answers are not paced (Telegram's published limits are about messages).

A 429 means our view of the budget was wrong (another process sharing the token, say), so the
broadcast stops for the whole ``retry_after``, and the chat that got it waits too. Replies to
other chats carry on: if Telegram refuses them as well, :class:`bot.outbound.Outbound` waits
them out one by one. With several ``steady run`` processes sharing one bot, give each a
``global_per_second`` of its share of the 30.

Prompts go straight to Telegram, not through the channel's outbox: the dispatcher has already
recorded each prompt before sending it, which is what keeps a restart from repeating one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot
from telegram.error import RetryAfter

from bot.checkins import CheckinDispatcher, RecipientUnreachableError
from bot.outbound import Delivery, Outbound, retry_seconds
from bot.telegram.render import ReplyRenderer
from dialogues.core import Reply

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

TELEGRAM_GLOBAL_PER_SECOND = 30.0
TELEGRAM_PER_CHAT_PER_SECOND = 1.0
# Kinds of operation Telegram counts as messages sent.
PACED_KINDS = frozenset({"message", "document"})
# A microsecond of slack per slot absorbs float rounding, so spacing never falls below 1 / rate.
_SLACK = 1e-6
# Per-chat bookkeeping older than this is forgotten, so a weekly broadcast does not keep an
# entry for every practitioner for ever.
_PRUNE_AFTER = 10_000


class PromptNotSentError(Exception):
    """Telegram did not take the prompt, after every retry the outbound rules allow."""


class SendBudget:
    """Evenly spaced send slots under a global and a per-chat rate; replies go first.

    ``clock`` returns seconds (any epoch) and ``sleep`` waits on the same clock, so tests can
    run a whole broadcast on a hand-driven clock without sleeping for real.
    """

    def __init__(
        self,
        *,
        global_per_second: float = TELEGRAM_GLOBAL_PER_SECOND,
        per_chat_per_second: float = TELEGRAM_PER_CHAT_PER_SECOND,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if global_per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        self._interval = 1.0 / global_per_second + _SLACK
        self._chat_interval = 1.0 / per_chat_per_second + _SLACK
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._chat_free_at: dict[int, float] = {}
        self._broadcast_held_until = float("-inf")
        self.granted = {"interactive": 0, "broadcast": 0}

    @property
    def global_per_second(self) -> float:
        """The overall rate slots are handed out at."""
        return 1.0 / (self._interval - _SLACK)

    async def acquire(self, chat_id: int, *, interactive: bool) -> float:
        """Wait for a slot to send one message to ``chat_id``; returns how long it waited."""
        started = self._clock()
        if interactive:
            await self._acquire_interactive(chat_id)
        else:
            await self._acquire_broadcast(chat_id)
        self.granted["interactive" if interactive else "broadcast"] += 1
        return self._clock() - started

    async def _acquire_interactive(self, chat_id: int) -> None:
        now = self._clock()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval  # reserved: the broadcast cannot take it
        self._claim_chat(chat_id, slot)  # this chat's prompt gives way to the conversation
        if slot > now:
            await self._sleep(slot - now)

    async def _acquire_broadcast(self, chat_id: int) -> None:
        while True:
            now = self._clock()
            ready = max(
                self._next_slot,
                self._broadcast_held_until,
                self._chat_free_at.get(chat_id, float("-inf")),
            )
            if ready <= now:
                self._next_slot = now + self._interval
                self._claim_chat(chat_id, now)
                return
            # Someone may take this slot first (a reply always can); then look again.
            await self._sleep(ready - now)

    def _claim_chat(self, chat_id: int, at: float) -> None:
        if len(self._chat_free_at) > _PRUNE_AFTER:
            now = self._clock()
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}
        self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, at), at) + (
            self._chat_interval
        )

    def hold_off(self, seconds: float, *, chat_id: int | None = None) -> None:
        """Telegram answered 429: stop the broadcast (and ``chat_id``) for ``seconds``."""
        until = self._clock() + seconds
        self._broadcast_held_until = max(self._broadcast_held_until, until)
        if chat_id is not None:
            self._chat_free_at[chat_id] = max(self._chat_free_at.get(chat_id, until), until)


class PacedOutbound(Outbound):
    """:class:`~bot.outbound.Outbound` whose every message attempt takes a slot from a budget.

    Pass one marked ``interactive=True`` to the Telegram channel (``TelegramChannel(...,
    outbound=...)``) so its replies go ahead of the broadcast. Retries after a 429, a 5xx or a
    refused connection follow ``Outbound``'s rules unchanged; a 429 also holds off the budget.
    """

    def __init__(self, bot: Bot, budget: SendBudget, *, interactive: bool, **options: Any) -> None:
        super().__init__(bot, **options)
        self.budget = budget
        self.interactive = interactive

    async def _call(self, chat_id: int, operation: dict[str, Any], *, plain: bool) -> None:
        if operation.get("kind") in PACED_KINDS:
            await self.budget.acquire(chat_id, interactive=self.interactive)
        try:
            await super()._call(chat_id, operation, plain=plain)
        except RetryAfter as error:
            self.budget.hold_off(retry_seconds(error), chat_id=chat_id)
            raise


class FanoutSender:
    """Carries weekly prompts to Telegram for :class:`~bot.checkins.CheckinDispatcher`.

    Prompts are rendered exactly as the channel renders replies, with the channel's signed
    buttons (so a press is accepted), and sent at broadcast priority.
    """

    def __init__(self, renderer: ReplyRenderer, outbound: PacedOutbound) -> None:
        self._renderer = renderer
        self._outbound = outbound
        self.sent = 0

    @classmethod
    def for_bot(
        cls,
        bot: Bot,
        renderer: ReplyRenderer,
        budget: SendBudget,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> FanoutSender:
        """A sender using ``bot`` at broadcast priority within ``budget``.

        Pass the Telegram channel's ``renderer`` so the prompt's buttons carry its signatures.
        """
        return cls(renderer, PacedOutbound(bot, budget, interactive=False, sleep=sleep))

    async def send(self, user_id: int, reply: Reply) -> None:
        """Send the prompt; raises :class:`RecipientUnreachableError` on 403."""
        for operation in self._renderer.operations([reply], user_id=user_id):
            outcome = await self._outbound.send(user_id, operation)
            if outcome is Delivery.UNREACHABLE:
                raise RecipientUnreachableError(user_id)
            if outcome in (Delivery.GAVE_UP, Delivery.SKIPPED):
                raise PromptNotSentError(f"prompt for user {user_id}: {outcome}")
            # UNCERTAIN: it may have arrived; sending it again could show it twice.
        self.sent += 1


class CheckinLoop:
    """Runs the dispatcher every ``interval`` seconds until stopped; for ``steady run``.

    ``workers`` claimants share each run, so the database round trip of one prompt overlaps
    the sending of another (safe: each claim is its own locked transaction). Two are enough on
    SQLite, where claims queue for the one writer anyway; more only make replies wait for the
    database. Stopping lets the
    prompts already claimed finish sending and claims no more; anything still due is sent by
    the next start.
    """

    def __init__(
        self,
        dispatcher: CheckinDispatcher,
        *,
        interval: float = 30.0,
        workers: int = 2,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self._dispatcher = dispatcher
        self._interval = interval
        self._workers = workers
        self._sleep = sleep
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.sent = 0

    @property
    def stopping(self) -> bool:
        """Whether a stop has been asked for."""
        return self._stopping.is_set()

    async def run_once(self) -> int:
        """Send everything due now; returns how many prompts were sent."""
        results = await asyncio.gather(
            *(
                self._dispatcher.run_due(keep_going=lambda: not self.stopping)
                for _ in range(self._workers)
            )
        )
        sent = sum(len(result) for result in results)
        self.runs += 1
        self.sent += sent
        if sent:
            log.info("weekly check-ins: %d prompts sent", sent)
        return sent

    async def run(self) -> None:
        """Run until :meth:`stop`; a failed run is logged and tried again next time."""
        while not self.stopping:
            try:
                await self.run_once()
            except Exception as error:
                log.error("weekly check-ins: run failed (%s); trying again", type(error).__name__)
            if self.stopping:
                break
            pause = asyncio.ensure_future(self._sleep(self._interval))
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({pause, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (pause, stop):
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run` in the background."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="steady-checkins")
        return self._task

    async def stop(self, grace: float = 10.0) -> None:
        """Claim nothing more, let claimed prompts go out (up to ``grace`` s), then end."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            async with asyncio.timeout(grace):
                await asyncio.shield(self._task)
        except TimeoutError:
            # A prompt still waiting now is lost, not repeated: it is already recorded as sent.
            log.warning("weekly check-ins: stopped before every claimed prompt went out")
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
