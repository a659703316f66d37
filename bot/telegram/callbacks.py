"""Inline button data: compact, signed, and bound to one practitioner and one question.

Telegram hands callback data back verbatim from the client, so anything in it can be forged.
Each button carries ``<value>|<question number>|<signature>``, where the signature is an HMAC
over the practitioner's id, the question number and the value. A press whose signature does not
match (tampered, made up, or a button shown to someone else) is refused before it reaches a
dialogue; a genuine press of an old button reaches the dialogue with its old question number,
which the dialogue answers as stale. Everything fits Telegram's 64 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

MAX_CALLBACK_BYTES = 64
_SIGNATURE_CHARS = 16  # 96 bits: far beyond guessing through a chat window
_SEPARATOR = "|"
# Option values are short codes (``caseload``, ``open:17``, ``ctl:skip``); nothing else is signed.
_VALUE = re.compile(r"[A-Za-z0-9_:.\-]{1,40}")


class CallbackDataError(ValueError):
    """A button's data cannot be encoded (a value too long or with odd characters)."""


@dataclass(frozen=True)
class Press:
    """A verified button press: the option value and the question number it was shown with."""

    value: str
    token: int | None


class CallbackCodec:
    """Signs button data for a practitioner and checks it when the button is pressed."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the signing key is too short")
        self._key = key

    def _signature(self, user_id: int, token: str, value: str) -> str:
        message = f"{user_id}{_SEPARATOR}{token}{_SEPARATOR}{value}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:_SIGNATURE_CHARS]

    def encode(self, user_id: int, token: int | None, value: str) -> str:
        """The callback data for a button offering ``value`` to ``user_id``."""
        if not _VALUE.fullmatch(value):
            raise CallbackDataError(f"option value {value!r} cannot go in a button")
        token_text = "" if token is None else _base36(token)
        data = _SEPARATOR.join((value, token_text, self._signature(user_id, token_text, value)))
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise CallbackDataError(f"button data for {value!r} is over {MAX_CALLBACK_BYTES} bytes")
        return data

    def decode(self, user_id: int, data: str | None) -> Press | None:
        """The press, if ``data`` is a button this codec made for ``user_id``; otherwise None."""
        if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
            return None
        parts = data.split(_SEPARATOR)
        if len(parts) != 3:
            return None
        value, token_text, signature = parts
        expected = self._signature(user_id, token_text, value)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        if not _VALUE.fullmatch(value):
            return None
        token = int(token_text, 36) if token_text else None
        return Press(value, token)


def _base36(number: int) -> str:
    if number < 0:
        raise CallbackDataError("question numbers are never negative")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text
