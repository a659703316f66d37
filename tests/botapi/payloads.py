"""Shapes of Bot API objects, and the checks Telegram makes on what bots send in them."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from tests.botapi.errors import bad_request
from tests.botapi.models import StoredFile, image_size

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100


def check_inline_keyboard(rows: Any) -> None:
    """Refuse an inline keyboard Telegram would refuse (shape, button count, data, URLs)."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardMarkup must be an Array of Arrays"
        )
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("REPLY_MARKUP_TOO_LONG")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = set(button) - {"text"}
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if (
                    not isinstance(data, str)
                    or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not re.match(r"(https?|tg)://\S+$", url):
                    raise bad_request("BUTTON_URL_INVALID")


def scope_key(scope: dict[str, Any] | None) -> str:
    """A stable key for a BotCommandScope (absent means the default scope)."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def opaque_id(seed: str) -> str:
    """A file id shaped like Telegram's: URL-safe base64 without padding, opaque to the bot."""
    return "BQACAgQ" + base64.urlsafe_b64encode(seed.encode()).decode().rstrip("=")


def document_json(stored: StoredFile) -> dict[str, Any]:
    """A `Document` object."""
    data: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }
    if stored.file_name:
        data["file_name"] = stored.file_name
    if stored.mime_type:
        data["mime_type"] = stored.mime_type
    return data


def photo_json(stored: StoredFile) -> list[dict[str, Any]]:
    """A photo as a list of `PhotoSize` (Telegram sends several; one is enough here)."""
    width, height = image_size(stored.content)
    return [
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "width": width,
            "height": height,
        }
    ]
