"""What an update from Telegram means for Steady, decided without side effects.

Every update becomes exactly one :class:`Inbound`: an event for the practitioner's dialogue, a
gentle nudge that changes nothing (a photo, an edited message), a refusal (a forged button, a
group chat), a change in whether the practitioner can be reached, or nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from telegram import Chat, Message, MessageEntity, Update
from telegram.constants import ChatMemberStatus, ChatType

from bot.telegram.callbacks import CallbackCodec
from bot.telegram.render import PressedMessage
from dialogues.core import Event

# Kinds of message that carry no typed text, in the words the practitioner is told.
_NON_TEXT_KINDS = (
    ("photo", "photo"),
    ("sticker", "sticker"),
    ("voice", "voice note"),
    ("video_note", "video message"),
    ("video", "video"),
    ("audio", "audio file"),
    ("animation", "GIF"),
    ("document", "file"),
    ("location", "location"),
    ("venue", "location"),
    ("contact", "contact"),
    ("poll", "poll"),
    ("dice", "dice"),
)
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")


class Action(StrEnum):
    """What the channel does with an update."""

    EVENT = "event"  # pass ``event`` to the practitioner's dialogue
    NUDGE = "nudge"  # explain why nothing happened, then show the current question again
    REFUSE_BUTTON = "refuse_button"  # a press that is not genuine: answer it, change nothing
    GROUP = "group"  # a group chat: decline politely, store nothing
    UNREACHABLE = "unreachable"  # the practitioner blocked the bot
    REACHABLE = "reachable"  # ... and unblocked it
    IGNORE = "ignore"  # nothing to do (service messages, other update types)


@dataclass(frozen=True)
class Inbound:
    """One update, understood."""

    action: Action
    chat_id: int | None = None
    user_id: int | None = None
    event: Event | None = None
    nudge: str | None = None  # NUDGE: "edited" or the kind of message, e.g. "voice note"
    callback_query_id: str | None = None
    pressed: PressedMessage | None = None
    reply_in_group: bool = False  # GROUP: whether the update deserves an answer there


def chat_id_of(data: dict[str, Any]) -> int | None:
    """The chat an update (as JSON) belongs to, so its lane can be chosen before parsing."""
    for key in ("message", "edited_message", "my_chat_member", "chat_member"):
        chat = (data.get(key) or {}).get("chat") or {}
        if "id" in chat:
            return int(chat["id"])
    query = data.get("callback_query") or {}
    chat = (query.get("message") or {}).get("chat") or {}
    if "id" in chat:
        return int(chat["id"])
    sender = query.get("from") or {}
    return int(sender["id"]) if "id" in sender else None


def understand(update: Update, codec: CallbackCodec, bot_username: str | None) -> Inbound:
    """Decide what ``update`` asks of Steady."""
    chat = update.effective_chat
    if update.callback_query is not None:
        return _button(update, codec)
    if chat is None or update.effective_user is None:
        return Inbound(Action.IGNORE, chat_id=chat.id if chat else None)
    if chat.type != ChatType.PRIVATE:
        return _group(update, chat, bot_username)
    user_id = update.effective_user.id
    if update.my_chat_member is not None:
        status = update.my_chat_member.new_chat_member.status
        if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
            return Inbound(Action.UNREACHABLE, chat_id=chat.id, user_id=user_id)
        return Inbound(Action.REACHABLE, chat_id=chat.id, user_id=user_id)
    if update.edited_message is not None:
        return Inbound(Action.NUDGE, chat_id=chat.id, user_id=user_id, nudge="edited")
    message = update.message
    if message is None:
        return Inbound(Action.IGNORE, chat_id=chat.id, user_id=user_id)
    if message.text is not None:
        command = _command(message, bot_username)
        event = Event.command(command) if command is not None else Event.text(message.text)
        return Inbound(Action.EVENT, chat_id=chat.id, user_id=user_id, event=event)
    kind = _non_text_kind(message)
    if kind is None:  # a service message (pinned, and so on): nothing was said
        return Inbound(Action.IGNORE, chat_id=chat.id, user_id=user_id)
    return Inbound(Action.NUDGE, chat_id=chat.id, user_id=user_id, nudge=kind)


def _button(update: Update, codec: CallbackCodec) -> Inbound:
    query = update.callback_query
    assert query is not None
    message = query.message
    chat = message.chat if message is not None else None
    chat_id = chat.id if chat is not None else query.from_user.id
    if chat is not None and chat.type != ChatType.PRIVATE:
        return Inbound(Action.GROUP, chat_id=chat_id, callback_query_id=query.id)
    user_id = query.from_user.id
    press = codec.decode(user_id, query.data)
    if press is None:
        return Inbound(
            Action.REFUSE_BUTTON, chat_id=chat_id, user_id=user_id, callback_query_id=query.id
        )
    pressed = None
    if isinstance(message, Message):
        shown = frozenset(
            decoded.value
            for row in (message.reply_markup.inline_keyboard if message.reply_markup else ())
            for button in row
            if isinstance(button.callback_data, str)
            and (decoded := codec.decode(user_id, button.callback_data)) is not None
            and not decoded.value.startswith("ctl:")
        )
        pressed = PressedMessage(message.message_id, press.token, shown)
    return Inbound(
        Action.EVENT,
        chat_id=chat_id,
        user_id=user_id,
        event=Event.choice(press.value, press.token),
        callback_query_id=query.id,
        pressed=pressed,
    )


def _group(update: Update, chat: Chat, bot_username: str | None) -> Inbound:
    message = update.message
    if update.my_chat_member is not None:
        added = update.my_chat_member.new_chat_member.status in (
            ChatMemberStatus.MEMBER,
            ChatMemberStatus.ADMINISTRATOR,
        )
        return Inbound(Action.GROUP, chat_id=chat.id, reply_in_group=added)
    if message is None:
        return Inbound(Action.GROUP, chat_id=chat.id)
    body = message.text or message.caption or ""
    addressed = (
        _command(message, bot_username) is not None
        or (bot_username is not None and f"@{bot_username}".lower() in body.lower())
        or (
            message.reply_to_message is not None
            and message.reply_to_message.from_user is not None
            and message.reply_to_message.from_user.is_bot
        )
    )
    return Inbound(Action.GROUP, chat_id=chat.id, reply_in_group=addressed)


def _command(message: Message, bot_username: str | None) -> str | None:
    """The command a message starts with (lower case, no slash), if it is one for this bot."""
    text = message.text or ""
    entities = message.entities or ()
    if not any(e.type == MessageEntity.BOT_COMMAND and e.offset == 0 for e in entities):
        return None
    word = text.split(maxsplit=1)[0][1:]
    name, _, addressed_to = word.partition("@")
    if addressed_to and bot_username and addressed_to.lower() != bot_username.lower():
        return None
    return name.lower() or None


def _non_text_kind(message: Message) -> str | None:
    for attribute, words in _NON_TEXT_KINDS:
        if getattr(message, attribute, None):
            return words
    return None
