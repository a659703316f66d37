"""What the stand-in remembers: messages, files, button presses and API calls."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from tests.botapi.text import Entity


@dataclass(frozen=True)
class Button:
    """One inline keyboard button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content: bytes
    mime_type: str | None = None


@dataclass(frozen=True)
class StoredFile:
    """A file Telegram holds, addressable by `file_id` and downloadable by `file_path`."""

    file_id: str
    file_unique_id: str
    content: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.content)


@dataclass
class ChatMessage:
    """A message in a chat, from the bot or from a user, in its current (edited) state.

    `text` and `caption` are the plain text users see, with HTML already turned into
    `entities`; `source_text` is exactly what the bot sent, before parse mode.
    """

    chat_id: int
    message_id: int
    date: int
    sender_id: int
    from_bot: bool
    kind: str  # "text", "photo", "document", "sticker", "voice" or "location"
    text: str | None = None
    caption: str | None = None
    entities: list[Entity] = field(default_factory=list)
    source_text: str | None = None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    media: dict[str, Any] = field(default_factory=dict)
    file: StoredFile | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    history: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    @property
    def body(self) -> str:
        """The text, or the caption of a media message, or an empty string."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def buttons(self) -> list[list[Button]]:
        """The inline keyboard, row by row (empty if there is none)."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [
            [
                Button(
                    text=button.get("text", ""),
                    callback_data=button.get("callback_data"),
                    url=button.get("url"),
                )
                for button in row
            ]
            for row in self.reply_markup["inline_keyboard"]
        ]

    @property
    def button_texts(self) -> list[str]:
        """Every inline button's label, left to right, top to bottom."""
        return [button.text for row in self.buttons for button in row]

    @property
    def callback_data(self) -> list[str]:
        """Every inline button's callback data, in reading order."""
        return [
            button.callback_data
            for row in self.buttons
            for button in row
            if button.callback_data is not None
        ]

    def button(self, text: str) -> Button:
        """The inline button labelled `text`; raises `LookupError` if there is none."""
        for row in self.buttons:
            for button in row:
                if button.text == text:
                    return button
        raise LookupError(f"no button labelled {text!r}; buttons are {self.button_texts!r}")

    def entities_of_type(self, entity_type: str) -> list[str]:
        """The pieces of `body` covered by entities of one type (e.g. "bold")."""
        encoded = self.body.encode("utf-16-le")
        return [
            encoded[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
            for e in self.entities
            if e["type"] == entity_type
        ]


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot said in `answerCallbackQuery`."""

    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int


@dataclass
class ButtonPress:
    """A callback query the user caused by pressing an inline button."""

    query_id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: float
    answer: CallbackAnswer | None = None

    @property
    def answered(self) -> bool:
        """Whether the bot has answered the query."""
        return self.answer is not None


@dataclass(frozen=True)
class ChatAction:
    """A `sendChatAction` ("typing", ...) the bot showed in a chat."""

    chat_id: int
    action: str
    at: float


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made and how the stand-in answered it.

    `status` is None when the connection failed before any answer; `accepted` is True when
    Telegram carried the call out (even if the answer was then lost).
    """

    method: str
    params: dict[str, Any]
    files: tuple[str, ...]
    status: int | None
    description: str | None
    accepted: bool
    at: float

    @property
    def ok(self) -> bool:
        """Whether the bot got a successful answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of an update to the webhook, and how it went."""

    update_id: int
    status: int | None
    error: str | None
    at: float

    @property
    def delivered(self) -> bool:
        """Whether the webhook accepted the update (any 2xx)."""
        return self.error is None


def image_size(content: bytes) -> tuple[int, int]:
    """Width and height of a PNG, or a plausible photo size for anything else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return int(width), int(height)
    return 1280, 960
