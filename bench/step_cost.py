"""What one dialogue step costs, against a bare durable commit, and memory per practitioner.

    python -m bench.step_cost [--steps 400] [--practitioners 10000]

Part 1 times one /reflect step end to end through ``Companion.handle`` (load and decrypt the
conversation, run the dialogue, encrypt and save, durable commit on SQLite in WAL mode with
synchronous=FULL) and, interleaved in the same run on the same database, a bare commit that
updates a row of the same size. Target: the step costs at most 2x the bare commit.

Part 2 puts N practitioners into a paused reflection through the same companion and measures
Python heap growth (tracemalloc) after a warm-up, to show nothing per practitioner stays in
memory between messages. That part runs on a RAM-backed directory when one exists, because it
measures memory, not disk.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import LargeBinary, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.app import create_app
from bot.settings import Settings
from dialogues.conversation import ConversationState
from dialogues.core import Event
from dialogues.form import FormModel


class _Base(DeclarativeBase):
    pass


class BareRow(_Base):
    """A row the size of a conversation, committed with nothing else going on."""

    __tablename__ = "bench_bare_row"
    id: Mapped[int] = mapped_column(primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def step_cost(data_dir: Path, steps: int) -> dict[str, float]:
    app = await create_app(Settings(data_dir=data_dir))
    try:
        async with app.engine.begin() as conn:
            await conn.run_sync(_Base.metadata.create_all)
        companion = app.companion
        user = 42
        await companion.handle(user, Event.command("start"))
        await companion.handle(user, Event.choice("consent:yes:reflect"))
        await companion.handle(user, Event.text("5"))
        challenge = "Back-to-back calls and a risk review I did not feel ready for. " * 3
        await companion.handle(user, Event.text(challenge))
        await companion.handle(user, Event.command("back"))
        async with app.engine.connect() as conn:
            size = len((await conn.execute(text("SELECT payload FROM conversations"))).scalar_one())
        async with app.sessions() as session, session.begin():
            session.add(BareRow(id=1, payload=os.urandom(size)))

        step_times: list[float] = []
        bare_times: list[float] = []
        for i in range(steps):
            # A step that moves forward, then one that moves back: the practitioner stays put.
            event = Event.text(challenge) if i % 2 == 0 else Event.command("back")
            started = time.perf_counter()
            await companion.handle(user, event)
            step_times.append(time.perf_counter() - started)

            payload = os.urandom(size)
            started = time.perf_counter()
            async with app.sessions() as session, session.begin():
                await session.execute(
                    update(BareRow).where(BareRow.id == 1).values(payload=payload)
                )
            bare_times.append(time.perf_counter() - started)
    finally:
        await app.close()
    return {
        "payload_bytes": size,
        "step_median_ms": statistics.median(step_times) * 1000,
        "step_p99_ms": percentile(step_times, 0.99) * 1000,
        "bare_median_ms": statistics.median(bare_times) * 1000,
        "bare_p99_ms": percentile(bare_times, 0.99) * 1000,
    }


async def memory_growth(data_dir: Path, practitioners: int) -> dict[str, float]:
    app = await create_app(Settings(data_dir=data_dir))
    companion = app.companion

    async def pause_a_reflection(user: int) -> None:
        await companion.handle(user, Event.command("start"))
        await companion.handle(user, Event.choice("consent:yes:reflect"))
        await companion.handle(user, Event.text("4"))
        await companion.handle(user, Event.text("A client cancelled at the last minute"))
        await companion.handle(user, Event.command("pause"))

    try:
        warm_up = 200
        for user in range(1, warm_up + 1):
            await pause_a_reflection(user)
        gc.collect()
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        for user in range(warm_up + 1, warm_up + practitioners + 1):
            await pause_a_reflection(user)
        elapsed = time.perf_counter() - started
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_practitioner_objects = sum(
            isinstance(o, FormModel | ConversationState) for o in gc.get_objects()
        )
        # Every practitioner's draft must still be there to resume.
        async with app.engine.connect() as conn:
            drafts = (await conn.execute(text("SELECT count(*) FROM conversations"))).scalar_one()
    finally:
        await app.close()
    return {
        "practitioners": practitioners,
        "drafts_stored": drafts,
        "heap_growth_kib": (after - before) / 1024,
        "bytes_per_practitioner": (after - before) / practitioners,
        "seconds": elapsed,
        "live_dialogue_objects": per_practitioner_objects,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--practitioners", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="steady-bench-") as disk:
        cost = await step_cost(Path(disk), args.steps)
    ram = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108, ASYNC240 - RAM disk
    with tempfile.TemporaryDirectory(prefix="steady-bench-", dir=ram) as scratch:
        memory = await memory_growth(Path(scratch), args.practitioners)
    ratio = cost["step_median_ms"] / cost["bare_median_ms"]
    print(f"conversation payload: {cost['payload_bytes']:.0f} bytes")
    print(
        f"dialogue step: median {cost['step_median_ms']:.2f} ms, p99 {cost['step_p99_ms']:.2f} ms"
    )
    print(
        f"bare commit:   median {cost['bare_median_ms']:.2f} ms, p99 {cost['bare_p99_ms']:.2f} ms"
    )
    print(f"ratio (median step / median bare commit): {ratio:.2f}x (target <= 2x)")
    print(f"p99 ratio: {cost['step_p99_ms'] / cost['bare_p99_ms']:.2f}x")
    print(
        f"{memory['practitioners']:.0f} practitioners with paused reflections "
        f"({memory['drafts_stored']:.0f} drafts stored, {memory['seconds']:.1f} s): heap growth "
        f"{memory['heap_growth_kib']:.1f} KiB, {memory['bytes_per_practitioner']:.1f} bytes each"
    )
    print(f"dialogue objects alive between messages: {memory['live_dialogue_objects']:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
