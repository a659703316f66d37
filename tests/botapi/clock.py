"""A hand-driven clock, so tests control time instead of waiting for it."""

from __future__ import annotations

import asyncio

# 14 November 2023, a plain weekday: a realistic Unix time for message `date` fields.
DEFAULT_START = 1_700_000_000.0


class ManualClock:
    """Wall-clock time that only moves when told to.

    Pass it as `FakeTelegram(clock=clock, sleep=clock.sleep)`: message dates, rate-limit windows
    and callback-query expiry then follow `advance()`, and scripted delays ("slow" faults,
    webhook retry back-off) finish at once while still moving the clock forward.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """The current time, in Unix seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        if seconds < 0:
            raise ValueError("time only moves forwards")
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the delay, move time forward by it, and let other tasks run once."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)
