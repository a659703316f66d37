"""Zero loss, exactly once: the durable intake of updates and the per-chat lanes that run them.

The argument, step by step:

1. **Recorded before acknowledged.** :meth:`Inbox.accept` seals each update into the journal and
   commits before it returns; only then does the poller ask for the next ``offset`` (which is
   what tells Telegram the update arrived) or the webhook answer 200. A crash before that commit
   means Telegram still holds the update and sends it again.
2. **Recorded once.** The journal is keyed by ``update_id``; an update delivered twice (a
   webhook retry, a poll repeated after a crash) finds its row and is not queued again.
3. **Handled once.** Handling an update *claims* its journal row in the same database transaction
   as everything the update changes (the practitioner's answer, and the replies queued in the
   outbox). Either all of it commits, or none of it does and the row stays unclaimed; a claimed
   row is never handled again. (Several chats' steps may share one transaction, a group commit;
   the claim is checked for all of them, and if anything is off the transaction is undone and
   each step is run again in a transaction of its own.)
4. **Nothing recorded is forgotten.** On start, every unclaimed row is queued again, after any
   replies still waiting in the outbox for the same chat.
5. **In order per chat, concurrent across chats.** :class:`ChatLanes` runs one chat's work
   strictly one item at a time, in the order recorded, while other chats proceed.

Replies are the one thing that can, rarely, happen twice: a reply is deleted from the outbox
by the first commit after Telegram accepts it, and a crash in between sends it again on restart.
A repeated question (with the same question number, so either copy's buttons work) is preferred
to a question that never arrives. A clean stop clears everything sent, so it repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from storage import KeyRing, UserRepository
from storage.crypto import Sealer
from storage.journal import JournalledUpdate, OutboxEntry, OutboxRepository, UpdateJournal

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
TOMBSTONE_DAYS = 7

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Unit:
    """One unit of work on the channel's store: a transaction and what can be done in it."""

    session: AsyncSession
    sessions: async_sessionmaker[AsyncSession]  # for services that open their own sessions
    journal: UpdateJournal
    outbox: OutboxRepository
    users: UserRepository
    committed: bool = False

    async def commit(self) -> None:
        """Commit everything done in this unit, together."""
        await self.session.commit()
        self.committed = True


URGENT, ROUTINE = 0, 1
MAX_BATCH = 16
# How long sent replies may wait for another commit to clear them before one of their own.
CLEAR_WITHIN = 0.1


@dataclass(frozen=True)
class StepOutcome:
    """What handling one update decided, before it is committed."""

    update_id: int
    chat_id: int | None
    operations: list[dict[str, Any]]  # replies to queue for ``chat_id``, in order
    note: str | None = None  # a short note for a pressed button, if any


@dataclass(frozen=True)
class Settled:
    """A committed step: the replies queued for it (None if none), and the button note."""

    entry: OutboxEntry | None
    note: str | None


Step = Callable[[Unit], Awaitable[StepOutcome]]


class WriteGate:
    """One writer at a time, urgent writers first.

    SQLite has a single writer; its busy handler makes waiting writers sleep and poll. Queueing
    this process's writers here keeps them orderly, and lets the short commits that someone is
    waiting on (recording an update before Telegram is answered, clearing sent replies) go
    ahead of the next practitioner's step. On PostgreSQL writers need no queue.
    """

    def __init__(self, serialise: bool = True) -> None:
        self._serialise = serialise
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = 0

    @asynccontextmanager
    async def hold(self, priority: int = ROUTINE) -> AsyncIterator[None]:
        """Hold the gate for one transaction."""
        if not self._serialise:
            yield
            return
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrivals += 1
        heapq.heappush(self._waiting, (priority, self._arrivals, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed the gate just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)  # the gate stays busy, now held by that waiter
                return
        self._busy = False


class ChannelStore:
    """The channel's view of the database: units of work, the journal and the outbox.

    On SQLite every unit runs on one long-lived connection (there is one writer anyway), which
    spares a pool checkout and reset per update. Sent replies are cleared from the outbox in
    whichever transaction commits next, rather than in a commit of their own.
    """

    def __init__(self, engine: AsyncEngine, sealer: Sealer, keyring: KeyRing) -> None:
        self._engine = engine
        self._sealer = sealer
        self._keyring = keyring
        self._single_writer = engine.dialect.name == "sqlite"
        self._gate = WriteGate(serialise=self._single_writer)
        self._connection: AsyncConnection | None = None
        self._sent: list[int] = []
        self._clearing: asyncio.Task[None] | None = None
        self._steps: list[tuple[Step, asyncio.Future[Settled | None]]] = []
        self._stepping: asyncio.Task[None] | None = None

    async def _connect(self) -> tuple[AsyncConnection, bool]:
        """A connection for one unit, and whether the unit owns (and so closes) it."""
        if not self._single_writer:
            return await self._engine.connect(), True
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = await self._engine.connect()
        return self._connection, False

    @asynccontextmanager
    async def unit(self, priority: int = ROUTINE) -> AsyncIterator[Unit]:
        """A transaction; call ``unit.commit()`` to keep its work, otherwise it is undone.

        Sessions from ``unit.sessions`` work inside the same transaction: their commits only
        flush into it, and a rollback in any of them undoes the whole unit. So a service that
        runs its own unit of work (the companion) commits exactly when this unit does.
        """
        async with self._gate.hold(priority), self._locked_unit() as unit:
            yield unit

    @asynccontextmanager
    async def _locked_unit(self) -> AsyncIterator[Unit]:
        connection, owned = await self._connect()
        clearing: list[int] = []
        try:
            transaction = await connection.begin()
            sessions = async_sessionmaker(
                bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False
            )
            session = sessions()
            unit = Unit(
                session,
                sessions,
                UpdateJournal(session, self._sealer),
                OutboxRepository(session, self._sealer),
                UserRepository(session, self._keyring),
            )
            try:
                yield unit
                if unit.committed and transaction.is_active:
                    clearing, self._sent = self._sent, []
                    await unit.outbox.remove(clearing)
                    await transaction.commit()
                    clearing = []
            finally:
                self._sent[:0] = clearing  # not cleared after all: the next commit tries again
                await session.close()
                if transaction.is_active:
                    await transaction.rollback()
        except BaseException:
            if not owned:
                # The shared connection may be mid-transaction or broken: start afresh next time.
                self._connection = None
                with contextlib.suppress(Exception):
                    await connection.close()
            raise
        finally:
            if owned:
                await connection.close()

    async def run_step(self, step: Step, now: Clock) -> Settled | None:
        """Run ``step`` and commit it with its journal claim and queued replies, all or nothing.

        Returns None if the update had been handled already (nothing is changed then). On
        SQLite, steps that arrive together (from different chats) run back to back in one
        transaction, so one commit serves them all: group commit. If that shared transaction
        fails, each step is run again on its own, so one failing update cannot fail another.
        """
        if not self._single_writer:
            async with self.unit() as unit:
                return await self._settle_alone(unit, step, now())
        future: asyncio.Future[Settled | None] = asyncio.get_running_loop().create_future()
        self._steps.append((step, future))
        if self._stepping is None or self._stepping.done():
            self._stepping = asyncio.create_task(self._run_steps(now), name="steady-steps")
        return await future

    async def _run_steps(self, now: Clock) -> None:
        while self._steps:
            batch, self._steps = self._steps[:MAX_BATCH], self._steps[MAX_BATCH:]
            async with self._gate.hold(ROUTINE):
                settled: list[Settled] | None = None
                if len(batch) > 1:
                    try:
                        settled = await self._settle_together([s for s, _ in batch], now())
                    except Exception:
                        settled = None  # run them one by one below, to find the culprit
                if settled is not None:
                    for (_, future), result in zip(batch, settled, strict=True):
                        if not future.done():
                            future.set_result(result)
                    continue
                for step, future in batch:
                    try:
                        async with self._locked_unit() as unit:
                            alone = await self._settle_alone(unit, step, now())
                    except Exception as error:
                        if not future.done():
                            future.set_exception(error)
                    else:
                        if not future.done():
                            future.set_result(alone)

    async def _settle_together(self, steps: list[Step], now: datetime) -> list[Settled] | None:
        """Run several steps in one transaction; None if any of them was handled before."""
        async with self._locked_unit() as unit:
            outcomes = [await step(unit) for step in steps]
            if not await unit.journal.claim_all([o.update_id for o in outcomes], now=now):
                return None  # a repeat among them: the careful one-by-one path decides
            entries = await unit.outbox.add_many(
                [(o.chat_id, o.update_id, o.operations) for o in outcomes
                 if o.chat_id is not None and o.operations],
                now=now,
            )  # fmt: skip
            await unit.commit()
        by_update = {entry.update_id: entry for entry in entries}
        return [Settled(by_update.get(o.update_id), o.note) for o in outcomes]

    @staticmethod
    async def _settle_alone(unit: Unit, step: Step, now: datetime) -> Settled | None:
        outcome = await step(unit)
        if not await unit.journal.claim(outcome.update_id, now=now):
            return None
        entry = None
        if outcome.chat_id is not None:
            entry = await unit.outbox.add(
                outcome.chat_id, outcome.update_id, outcome.operations, now=now
            )
        await unit.commit()
        return Settled(entry, outcome.note)

    def forget_sent(self, ids: Sequence[int]) -> None:
        """Clear sent replies from the outbox in the next commit (within ``CLEAR_WITHIN``)."""
        if not ids:
            return
        self._sent.extend(ids)
        if self._clearing is None or self._clearing.done():
            self._clearing = asyncio.create_task(self._clear_sent(), name="steady-outbox-clear")

    async def _clear_sent(self, wait: float = CLEAR_WITHIN) -> None:
        # Under load another commit comes within milliseconds and clears these for free; only
        # when things are quiet does this one commit. Until some commit does, a crash would
        # send these replies again, so the wait is short.
        if wait:
            await asyncio.sleep(wait)
        async with self._gate.hold(URGENT):
            if not self._sent:
                return
            async with self._locked_unit() as unit:
                await unit.commit()

    async def flush(self) -> None:
        """Clear sent replies now (on stopping, and in tests)."""
        if self._clearing is not None:
            self._clearing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._clearing
        if self._sent:
            await self._clear_sent(wait=0)

    async def close(self) -> None:
        """Finish the steps in hand, clear what was sent and release the shared connection."""
        if self._stepping is not None:
            with contextlib.suppress(Exception):
                await self._stepping
        await self.flush()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def record(self, updates: Sequence[JournalledUpdate], now: datetime) -> list[bool]:
        """Record updates durably; for each, whether it is new (False: seen before)."""
        for attempt in range(2):
            try:
                async with self.unit(URGENT) as unit:
                    fresh = await unit.journal.record(updates, now=now)
                    await unit.commit()
                new_ids = {item.update_id for item in fresh}
                verdicts = []
                for item in updates:  # a repeat within one batch is a repeat too
                    verdicts.append(item.update_id in new_ids)
                    new_ids.discard(item.update_id)
                return verdicts
            except IntegrityError:
                # Another process recorded one of them between our check and insert: look again.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def pending_updates(self) -> list[JournalledUpdate]:
        """Recorded updates not yet handled, oldest first."""
        async with self.unit() as unit:
            return await unit.journal.pending()

    async def pending_outbox(self) -> list[OutboxEntry]:
        """Replies not yet sent, oldest first."""
        async with self.unit() as unit:
            return await unit.outbox.pending()

    async def mark_unreachable(self, user_id: int, now: datetime) -> None:
        """Note that Telegram refused to deliver to this practitioner (403)."""
        async with self.unit() as unit:
            await unit.users.mark_unreachable(user_id, now)
            await unit.commit()

    async def prune(self, now: datetime) -> int:
        """Drop journal tombstones older than a week."""
        async with self.unit() as unit:
            gone = await unit.journal.prune(handled_before=now - timedelta(days=TOMBSTONE_DAYS))
            await unit.commit()
        return gone


class Coalescer(Generic[T, R]):
    """Group commit: items submitted while a flush runs go together in the next flush.

    Under load many webhook requests (or outbox acknowledgements) share one durable commit;
    when idle each is flushed at once. Flushes run in their own task, so a caller that gives up
    waiting (a webhook request cancelled by a disconnect) cannot strand the others.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Add ``items`` to the next flush and return their results once committed."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._waiting.append((item, future))
            futures.append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="steady-group-commit")
        return list(await asyncio.shield(asyncio.gather(*futures)))

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def idle(self) -> None:
        """Wait for the flush in progress, if any."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


class ChatLanes:
    """Runs work for each chat strictly in order, and different chats concurrently.

    Each chat with work has one worker task, which ends when its queue is empty; ``limit``
    bounds how many chats run at once (and so how many database connections are busy).
    """

    def __init__(self, run: Callable[[Any], Awaitable[None]], *, limit: int = 64) -> None:
        self._run = run
        self._queues: dict[int, deque[Any]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(limit)
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, chat_key: int | None, work: Any) -> None:
        """Queue ``work`` behind everything already queued for the same chat."""
        key = chat_key or 0
        self._queues.setdefault(key, deque()).append(work)
        self._idle.clear()
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"steady-chat-{key}")

    @property
    def busy_chats(self) -> int:
        """How many chats have work queued or running."""
        return len(self._workers)

    async def _work(self, key: int) -> None:
        queue = self._queues[key]
        try:
            while queue:
                work = queue[0]
                async with self._slots:
                    try:
                        await self._run(work)
                    except Exception:
                        # The runner handles its own failures; this is a last line of defence.
                        log.exception("chat lane %s: unexpected failure", key)
                queue.popleft()
        finally:
            del self._workers[key]
            if not queue:
                del self._queues[key]
            if not self._workers:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until every queued item has run."""
        await self._idle.wait()

    async def close(self) -> None:
        """Stop every worker; work not yet done stays recorded and runs after a restart."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queues.clear()
        self._idle.set()


@dataclass(frozen=True)
class HandleUpdate:
    """Lane work: handle a recorded update."""

    update: JournalledUpdate


@dataclass(frozen=True)
class DeliverReplies:
    """Lane work: send replies left in the outbox by an earlier run."""

    chat_id: int
    entries: tuple[OutboxEntry, ...]


class Inbox:
    """Where receivers (polling, webhook) hand updates over."""

    def __init__(self, store: ChannelStore, lanes: ChatLanes, clock: Clock) -> None:
        self._store = store
        self._lanes = lanes
        self._clock = clock
        self._recorder: Coalescer[JournalledUpdate, bool] = Coalescer(self._record)

    async def _record(self, updates: list[JournalledUpdate]) -> list[bool]:
        return await self._store.record(updates, self._clock())

    async def accept(self, updates: Sequence[JournalledUpdate]) -> list[int]:
        """Record updates durably, then queue the new ones; returns the new ones' ids.

        When this returns, the updates are safe: the caller may acknowledge them to Telegram.
        If it raises, nothing may be acknowledged. (Handling an update before recording it,
        to save this commit when things are quiet, was tried: the poller then waits for the
        step, and losing the overlap of polling and handling cost far more than it saved.)
        """
        fresh = await self._recorder.submit(updates)
        accepted = []
        for item, is_new in zip(updates, fresh, strict=True):
            if is_new:
                accepted.append(item.update_id)
                self._lanes.submit(item.chat_id, HandleUpdate(item))
        return accepted

    async def recover(self) -> tuple[int, int]:
        """Queue what an earlier run left: unsent replies first, then unhandled updates.

        Returns how many replies and how many updates were queued.
        """
        waiting: dict[int, list[OutboxEntry]] = {}
        for entry in await self._store.pending_outbox():
            waiting.setdefault(entry.chat_id, []).append(entry)
        for chat_id, entries in waiting.items():
            self._lanes.submit(chat_id, DeliverReplies(chat_id, tuple(entries)))
        updates = await self._store.pending_updates()
        for update in updates:
            self._lanes.submit(update.chat_id, HandleUpdate(update))
        replies = sum(len(entries) for entries in waiting.values())  # one per interrupted step
        if replies or updates:
            log.info("recovered %d unsent replies and %d unhandled updates", replies, len(updates))
        return replies, len(updates)
