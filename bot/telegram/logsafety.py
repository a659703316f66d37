"""Keeping practitioners' words and the bot token out of the logs.

python-telegram-bot logs request parameters and raw updates at DEBUG level, and its URLs carry
the bot token; httpx logs every request URL at INFO. Steady's own modules never log text, so the
filter here is a second line of defence for everything else: arguments of third-party log
records are withheld, and every configured secret is masked wherever it appears.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

THIRD_PARTY = (
    "telegram",
    "httpx",
    "httpcore",
    "tornado",
    "asyncio",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "transitions",
)
_FORMAT_FIELD = re.compile(
    r"%(?:\([^)]*\))?[#0\- +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]"
)
MASK = "[secret]"


class LogSafetyFilter(logging.Filter):
    """Withholds third-party log arguments and masks secrets in every record it sees."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def add_secret(self, secret: str | None) -> None:
        """Mask ``secret`` from now on."""
        if secret and len(secret) >= 8 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if record.name.startswith(THIRD_PARTY) and record.args:
            template = str(record.msg)
            record.msg = _FORMAT_FIELD.sub(
                lambda m: "%" if m.group() == "%%" else "<withheld>", template
            )
            record.args = None
        else:
            record.msg = record.getMessage()
            record.args = None
        record.msg = self.mask(str(record.msg))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.mask("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        return True


def protect_logging(secrets: Iterable[str]) -> LogSafetyFilter:
    """Install the filter on every root handler and quieten chatty HTTP loggers."""
    safety = LogSafetyFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(safety)
    # Request URLs carry the token: httpx logs one per call at INFO.
    for name in ("httpx", "httpcore", "tornado.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return safety


def describe_error(error: BaseException | None) -> str:
    """An error's type and where it happened, without its message (which may quote text)."""
    if error is None:
        return "unknown error"
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " <- ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
                        for frame in reversed(frames))  # fmt: skip
    return f"{type(error).__name__}" + (f" at {where}" if where else "")
