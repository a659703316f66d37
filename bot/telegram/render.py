"""Turning the dialogue layer's replies into Telegram messages, edits and keyboards.

The result is a list of plain JSON-ready operations, so it can be sealed into the outbox in the
same transaction as the step that produced it and sent (or re-sent after a crash) later:

    {"kind": "message", "text": html, "keyboard": rows or None}
    {"kind": "edit", "message_id": n, "text": html, "keyboard": rows or None}
    {"kind": "unbutton", "message_id": n}            (take the buttons off an answered question)
    {"kind": "document", "filename": ..., "media_type": ..., "content": base64, "caption": html}

A keyboard is a list of rows of ``[label, callback_data]`` pairs.
"""

from __future__ import annotations

import base64
import html as html_lib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.telegram.callbacks import CallbackCodec, CallbackDataError
from dialogues.conversation import COMMAND_PREFIX_CONTROL
from dialogues.core import Reply
from prompts import load_content
from prompts.rendering import html_to_plain, render_html

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
MAX_CAPTION_CHARS = 1024
_NUMERIC_ROW = 6
_SHORT_LABEL = 18

Operation = dict[str, Any]
Keyboard = list[list[list[str]]]


@dataclass(frozen=True)
class PressedMessage:
    """The bot message whose button was just pressed, as far as the answer to it matters."""

    message_id: int
    token: int | None
    values: frozenset[str]


def control_labels() -> Mapping[str, str]:
    """The labels of skip/back/pause/cancel, from the content file."""
    labels: Mapping[str, str] = load_content("telegram.yaml")["controls"]
    return labels


class ReplyRenderer:
    """Renders one turn's replies for one practitioner."""

    def __init__(self, codec: CallbackCodec, controls: Mapping[str, str] | None = None) -> None:
        self._codec = codec
        self._controls = dict(controls or control_labels())

    def keyboard(self, reply: Reply, user_id: int) -> Keyboard | None:
        """The inline keyboard for a reply's options and controls, or None if it has none."""
        options = [
            (option.label, data)
            for option in reply.options
            if (data := self._data(user_id, reply.token, option.value)) is not None
        ]
        rows = _layout(options)
        controls = [
            [self._controls.get(name, name.title()), data]
            for name in reply.controls
            if (data := self._data(user_id, reply.token, COMMAND_PREFIX_CONTROL + name)) is not None
        ]
        if controls:
            rows.append(controls)
        return rows or None

    def _data(self, user_id: int, token: int | None, value: str) -> str | None:
        try:
            return self._codec.encode(user_id, token, value)
        except CallbackDataError:
            # A content value that cannot travel in a button: leave the button out rather than
            # fail the whole reply (the option can still be typed). Tests check every value fits.
            log.error("an option value does not fit in a button; button left out")
            return None

    def operations(
        self,
        replies: Sequence[Reply],
        *,
        user_id: int,
        pressed: PressedMessage | None = None,
    ) -> list[Operation]:
        """The messages and edits that show ``replies``, in order.

        After a button press: a reply that asks the same question again (a tick in a
        multiple choice) replaces the pressed message in place; a turn that moved on takes the
        buttons off the pressed message, so an answered question cannot be answered again.
        """
        questions = [r for r in replies if r.options or r.controls]
        operations: list[Operation] = []
        if pressed is not None and pressed.values:
            if _asks_again(replies, pressed):
                text = render_html(replies[0].template, replies[0].data)
                if len(split_html(text)) == 1:
                    return [
                        {
                            "kind": "edit",
                            "message_id": pressed.message_id,
                            "text": text,
                            "keyboard": self.keyboard(replies[0], user_id),
                        }
                    ]
            if pressed.token is not None and all(q.token != pressed.token for q in questions):
                operations.append({"kind": "unbutton", "message_id": pressed.message_id})
        # Replies that only say something travel with the next one, as one message: fewer
        # notifications, and no wait of a second (Telegram's per-chat pace) between them.
        lead: list[str] = []
        for position, reply in enumerate(replies):
            last = position == len(replies) - 1
            if not last and reply.attachment is None and not (reply.options or reply.controls):
                text = render_html(reply.template, reply.data)
                if text.strip():
                    lead.append(text)
                continue
            operations.extend(self._show(reply, user_id, lead))
            lead = []
        return operations

    def _show(self, reply: Reply, user_id: int, lead: Sequence[str] = ()) -> list[Operation]:
        text = render_html(reply.template, reply.data)
        if lead and reply.attachment is None:
            text = "\n\n".join([*lead, text] if text.strip() else lead)
        elif lead:  # a document's caption is short: say the rest in a message before it
            text_first = "\n\n".join(lead)
            return [
                *(
                    {"kind": "message", "text": part, "keyboard": None}
                    for part in split_html(text_first)
                ),
                *self._show(reply, user_id),
            ]
        keyboard = self.keyboard(reply, user_id)
        if reply.attachment is not None:
            caption: str | None = text
            operations: list[Operation] = []
            if plain_length(text) > MAX_CAPTION_CHARS:
                operations = [{"kind": "message", "text": part, "keyboard": None}
                              for part in split_html(text)]  # fmt: skip
                caption = None
            operations.append(
                {
                    "kind": "document",
                    "filename": reply.attachment.filename,
                    "media_type": reply.attachment.media_type,
                    "content": base64.b64encode(reply.attachment.content).decode("ascii"),
                    "caption": caption,
                    "keyboard": keyboard,
                }
            )
            return operations
        parts = split_html(text) if text.strip() else []
        return [
            {"kind": "message", "text": part, "keyboard": keyboard if last else None}
            for last, part in ((i == len(parts) - 1, p) for i, p in enumerate(parts))
        ]


def _asks_again(replies: Sequence[Reply], pressed: PressedMessage) -> bool:
    if len(replies) != 1 or replies[0].attachment is not None:
        return False
    offered = {option.value for option in replies[0].options}
    return bool(offered) and offered == pressed.values


def _layout(options: list[tuple[str, str]]) -> Keyboard:
    """Ratings six to a row; short labels two to a row; long labels one to a row."""
    if not options:
        return []
    if all(label.isdigit() and len(label) <= 2 for label, _ in options):
        width = _NUMERIC_ROW
    elif all(len(label) <= _SHORT_LABEL for label, _ in options):
        width = 2
    else:
        width = 1
    return [
        [[label, data] for label, data in options[start : start + width]]
        for start in range(0, len(options), width)
    ]


def option_values(keyboard: Keyboard | None) -> list[str]:
    """Every callback data string on a keyboard (for tests and for checking sizes)."""
    return [data for row in keyboard or [] for _label, data in row]


# --- long messages ---------------------------------------------------------------------------
_TOKEN = re.compile(r"<[^<>]*>|&#?[A-Za-z0-9]+;|\s|[^\s<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")


@dataclass(frozen=True)
class _Piece:
    html: str
    size: int  # characters as Telegram counts them (UTF-16 code units, to be safe)
    tag: str | None = None
    closing: bool = False
    space: bool = False


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def plain_length(text: str) -> int:
    """How long Telegram will consider an HTML text once its tags are parsed."""
    return _utf16(html_to_plain(text))


def _pieces(text: str, limit: int) -> list[_Piece]:
    pieces: list[_Piece] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token.startswith("<") and token.endswith(">") and len(token) > 2:
            name = _TAG_NAME.match(token)
            pieces.append(
                _Piece(token, 0, name.group(1).lower() if name else None, token.startswith("</"))
            )
        elif token.startswith("&") and token.endswith(";") and len(token) > 2:
            pieces.append(_Piece(token, _utf16(html_lib.unescape(token))))
        elif token.isspace():
            pieces.append(_Piece(token, _utf16(token), space=True))
        else:
            # A word longer than half a message is cut, so every piece fits comfortably.
            step = max(limit // 2, 1)
            for start in range(0, len(token), step):
                part = token[start : start + step]
                pieces.append(_Piece(part, _utf16(part)))
    return pieces


def _open_tags(prefix: Sequence[_Piece], pieces: Sequence[_Piece]) -> list[_Piece]:
    stack: list[_Piece] = []
    for piece in (*prefix, *pieces):
        if piece.tag is None:
            continue
        if not piece.closing:
            stack.append(piece)
            continue
        for index in range(len(stack) - 1, -1, -1):
            if stack[index].tag == piece.tag:
                del stack[index:]
                break
    return stack


def _break_at(pieces: Sequence[_Piece]) -> int:
    """Where to cut: a blank line, else a line break, else a space, else right at the end."""
    floor = len(pieces) // 4
    for wanted in ("paragraph", "\n", " "):
        for index in range(len(pieces) - 1, floor, -1):
            piece = pieces[index]
            if not piece.space:
                continue
            if wanted == "paragraph":
                if "\n" in piece.html and index > 0 and "\n" in pieces[index - 1].html:
                    return index
            elif wanted in piece.html:
                return index
    return len(pieces)


def split_html(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split HTML into messages Telegram accepts, preferring paragraph and line breaks.

    Tags open at a cut are closed at the end of one part and opened again at the start of the
    next, and entities such as ``&amp;`` are never cut, so each part is valid HTML on its own.
    """
    if len(text) <= limit and _utf16(text) <= limit:
        return [text]  # the HTML source is never shorter than what Telegram counts
    pieces = _pieces(text, limit)
    if sum(p.size for p in pieces) <= limit:
        return [text]
    parts: list[str] = []
    reopen: list[_Piece] = []
    current: list[_Piece] = []
    size = 0

    def emit(body: list[_Piece]) -> None:
        while body and body[-1].space:
            body.pop()
        if sum(p.size for p in body) == 0:
            return
        still_open = _open_tags(reopen, body)
        closing = "".join(f"</{p.tag}>" for p in reversed(still_open))
        parts.append("".join(p.html for p in (*reopen, *body)) + closing)

    for piece in pieces:
        while size + piece.size > limit and current:
            cut = _break_at(current)
            head, tail = current[:cut], current[cut + 1 :] if cut < len(current) else []
            emit(head)
            reopen = _open_tags(reopen, head)
            while tail and tail[0].space:
                tail.pop(0)
            current, size = tail, sum(p.size for p in tail)
        if not current and piece.space:
            continue
        current.append(piece)
        size += piece.size
    emit(current)
    return parts
