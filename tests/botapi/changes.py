"""Waiting for state to change without polling it."""

# Waits take a `timeout` on purpose: it is how long a test tolerates silence before failing.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ChangeSignal:
    """Wakes every waiter whenever the guarded state changes; waiters re-check a predicate.

    Cheaper and simpler than one `asyncio.Event` per condition: whoever mutates the state calls
    `notify()`, and each waiter decides for itself whether what it waits for has happened.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake all current waiters."""
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Return once `predicate()` is true; raise `TimeoutError` after `timeout` seconds."""
        if predicate():
            return
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.add(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.discard(waiter)
