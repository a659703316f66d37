"""Optional flood control, shaped like Telegram's published limits.

Telegram asks bots to stay under about 30 messages a second overall, about one a second in a
single chat, and 20 a minute in a group, and answers 429 with `retry_after` beyond that. Off by
default; switch on with `FakeTelegram(rate_limits=RateLimits(...))` for benchmarks.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    """Message budgets; None switches a limit off."""

    global_per_second: int | None = None
    per_chat_per_second: int | None = None
    per_group_per_minute: int | None = None

    @classmethod
    def telegram_defaults(cls) -> RateLimits:
        """Telegram's documented guidance: 30/s overall, 1/s per chat, 20/min per group."""
        return cls(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)


class _SlidingWindow:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.stamps: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()
        if len(self.stamps) < self.limit:
            return 0.0
        return self.stamps[0] + self.window - now


class RateLimiter:
    """Counts sent messages in sliding windows and says when a send is over budget."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._global = (
            _SlidingWindow(limits.global_per_second, 1.0) if limits.global_per_second else None
        )
        self._chats: defaultdict[int, list[_SlidingWindow]] = defaultdict(list)
        self.rejections = 0

    def _windows_for(self, chat_id: int, is_group: bool) -> list[_SlidingWindow]:
        if chat_id not in self._chats:
            windows = self._chats[chat_id]
            if self.limits.per_chat_per_second:
                windows.append(_SlidingWindow(self.limits.per_chat_per_second, 1.0))
            if is_group and self.limits.per_group_per_minute:
                windows.append(_SlidingWindow(self.limits.per_group_per_minute, 60.0))
        return self._chats[chat_id]

    def admit(self, chat_id: int, *, is_group: bool) -> int | None:
        """Count one message; or, if over budget, count nothing and return `retry_after`."""
        now = self._clock()
        windows = self._windows_for(chat_id, is_group)
        if self._global is not None:
            windows = [self._global, *windows]
        wait = max((window.wait_needed(now) for window in windows), default=0.0)
        if wait > 0:
            self.rejections += 1
            return max(1, math.ceil(wait))
        for window in windows:
            window.stamps.append(now)
        return None
