"""Text rules Telegram applies to every message: UTF-16 offsets, commands, trimming."""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]

# tdlib's find_bot_commands: a slash not glued to a word, 1-64 command characters, an optional
# @botname, and no word character, slash or angle bracket straight after.
_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram entity offset and length."""
    return len(text.encode("utf-16-le")) // 2


def find_bot_commands(text: str) -> list[Entity]:
    """The `bot_command` entities Telegram attaches to a user's message text."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group(0)),
        }
        for match in _BOT_COMMAND.finditer(text)
    ]


def strip_with_entities(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim leading and trailing whitespace as Telegram does, keeping entities aligned.

    Entities that covered only the trimmed whitespace disappear; others are clipped.
    """
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def sort_entities(entities: list[Entity]) -> list[Entity]:
    """Order entities as Telegram returns them: by offset, outer (longer) entity first."""
    return sorted(entities, key=lambda entity: (entity["offset"], -entity["length"]))
