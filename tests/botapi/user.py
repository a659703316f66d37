"""The user's side of the conversation: what a test does instead of tapping a phone.

user = tg.user(1001, first_name="Priya")
await user.send_command("/reflect")
[prompt] = await user.next_messages(1)
press = await user.press(prompt, text="Skip")
answer = await user.wait_for_answer(press)
"""

# Waits take a `timeout` on purpose: it is how long a test tolerates silence before failing.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.botapi.models import ButtonPress, CallbackAnswer, ChatAction, ChatMessage, image_size

if TYPE_CHECKING:
    from tests.botapi.core import ChatState, FakeTelegram
    from tests.botapi.text import Entity

DEFAULT_WAIT = 5.0
"""Seconds a test waits for the bot before failing: a safety net, never a pause."""

# A 1x1 transparent PNG: the smallest real image, for photos whose content does not matter.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001b50d0a2d0000000049454e44ae426082"
)
# The first bytes of an Ogg Opus file, which is what Telegram voice notes are.
OGG_OPUS_HEADER = b"OggS\x00\x02" + bytes(20) + b"OpusHead"


class ChatView:
    """What a chat shows: the bot's messages in it, and ways to wait for more."""

    def __init__(self, telegram: FakeTelegram, chat_id: int) -> None:
        self._tg = telegram
        self.chat_id = chat_id
        self._cursor = 0

    @property
    def _state(self) -> ChatState:
        return self._tg.chat(self.chat_id)

    def _bot_messages(self) -> list[ChatMessage]:
        state = self._state
        return [state.messages[message_id] for message_id in state.bot_message_ids]

    def received(self, *, include_deleted: bool = False) -> list[ChatMessage]:
        """Messages the bot has sent to this chat, oldest first, as they look now."""
        return [m for m in self._bot_messages() if include_deleted or not m.deleted]

    @property
    def last_received(self) -> ChatMessage:
        """The bot's most recent message here that is still visible."""
        received = self.received()
        if not received:
            raise AssertionError(f"the bot has sent nothing to chat {self.chat_id}")
        return received[-1]

    @property
    def texts(self) -> list[str]:
        """The plain text (or caption) of every visible bot message."""
        return [message.body for message in self.received()]

    @property
    def chat_actions(self) -> list[ChatAction]:
        """Chat actions ("typing", ...) the bot showed here."""
        return list(self._state.actions)

    def message(self, message_id: int) -> ChatMessage:
        """Any message in this chat, by id."""
        return self._state.messages[message_id]

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = DEFAULT_WAIT, what: str = "it"
    ) -> None:
        """Wait until `predicate()` holds after a change in this chat; fail after `timeout`."""
        try:
            await self._state.changed.wait_for(predicate, timeout)
        except TimeoutError:
            raise AssertionError(
                f"waited {timeout}s in chat {self.chat_id} for {what}; the bot has sent "
                f"{self.texts!r}"
            ) from None

    async def wait_for_messages(
        self, count: int, timeout: float = DEFAULT_WAIT
    ) -> list[ChatMessage]:
        """Wait until the bot has sent at least `count` messages here in total; return them.

        Deleted messages count (they were sent) but are not returned.
        """
        await self.wait_until(
            lambda: len(self._state.bot_message_ids) >= count,
            timeout,
            f"{count} message(s) from the bot",
        )
        return self.received()

    async def next_messages(
        self, count: int = 1, timeout: float = DEFAULT_WAIT
    ) -> list[ChatMessage]:
        """The next `count` bot messages this handle has not returned yet, waiting if needed."""
        target = self._cursor + count
        await self.wait_until(
            lambda: len(self._state.bot_message_ids) >= target,
            timeout,
            f"{count} more message(s) from the bot",
        )
        ids = self._state.bot_message_ids[self._cursor : target]
        self._cursor = target
        return [self._state.messages[message_id] for message_id in ids]

    async def wait_for_answer(
        self, press: ButtonPress, timeout: float = DEFAULT_WAIT
    ) -> CallbackAnswer:
        """Wait until the bot answers a button press (the spinner stops)."""
        return await self._tg.wait_for_answer(press, timeout)


class TelegramUser(ChatView):
    """A person talking to the bot; the handle also views their private chat with it."""

    def __init__(
        self,
        telegram: FakeTelegram,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> None:
        super().__init__(telegram, user_id)
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.deactivated = False

    def __repr__(self) -> str:
        return f"TelegramUser(id={self.id}, first_name={self.first_name!r})"

    def json(self) -> dict[str, Any]:
        """This user as a Telegram `User` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    @property
    def has_blocked_bot(self) -> bool:
        """Whether the user has blocked the bot."""
        return self._state.blocked

    # -- sending ---------------------------------------------------------------------------

    async def send_text(
        self,
        text: str,
        *,
        chat: GroupChat | None = None,
        reply_to: ChatMessage | int | None = None,
        entities: list[Entity] | None = None,
    ) -> ChatMessage:
        """Send a text message (to the bot, or in `chat`); /commands get bot_command entities."""
        return await self._tg._user_sends(
            self, chat, kind="text", text=text, entities=entities, reply_to=reply_to
        )

    async def send_command(
        self, command: str, *, chat: GroupChat | None = None, args: str = ""
    ) -> ChatMessage:
        """Send `/command` (the slash is optional here), with optional arguments."""
        text = command if command.startswith("/") else f"/{command}"
        return await self.send_text(f"{text} {args}".strip(), chat=chat)

    async def send_photo(
        self,
        content: bytes = TINY_PNG,
        *,
        caption: str | None = None,
        chat: GroupChat | None = None,
    ) -> ChatMessage:
        """Send a photo, optionally captioned."""
        stored = self._tg._user_uploads(content, kind="photo", file_name=None, mime_type=None)
        width, height = image_size(content)
        size = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "width": width,
            "height": height,
        }
        return await self._tg._user_sends(
            self, chat, kind="photo", caption=caption, media={"photo": [size]}, file=stored
        )

    async def send_document(
        self,
        content: bytes = b"Notes from today\n",
        *,
        file_name: str = "notes.txt",
        mime_type: str = "text/plain",
        caption: str | None = None,
        chat: GroupChat | None = None,
    ) -> ChatMessage:
        """Send a file."""
        stored = self._tg._user_uploads(
            content, kind="document", file_name=file_name, mime_type=mime_type
        )
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.size,
        }
        return await self._tg._user_sends(
            self, chat, kind="document", caption=caption, media={"document": document}, file=stored
        )

    async def send_sticker(
        self, emoji: str = "👍", *, chat: GroupChat | None = None
    ) -> ChatMessage:
        """Send a (static) sticker."""
        stored = self._tg._user_uploads(
            b"RIFF\x00\x00\x00\x00WEBP", kind="sticker", file_name=None, mime_type="image/webp"
        )
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": stored.size,
        }
        return await self._tg._user_sends(
            self, chat, kind="sticker", media={"sticker": sticker}, file=stored
        )

    async def send_voice(
        self, duration: int = 4, *, content: bytes = OGG_OPUS_HEADER, chat: GroupChat | None = None
    ) -> ChatMessage:
        """Send a voice note."""
        stored = self._tg._user_uploads(
            content, kind="voice", file_name=None, mime_type="audio/ogg"
        )
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": stored.size,
        }
        return await self._tg._user_sends(
            self, chat, kind="voice", media={"voice": voice}, file=stored
        )

    async def send_location(
        self,
        latitude: float = 51.5072,
        longitude: float = -0.1276,
        *,
        chat: GroupChat | None = None,
    ) -> ChatMessage:
        """Share a location (London by default)."""
        return await self._tg._user_sends(
            self,
            chat,
            kind="location",
            media={"location": {"latitude": latitude, "longitude": longitude}},
        )

    async def edit_message(self, message: ChatMessage | int, text: str) -> ChatMessage:
        """Edit one of the user's own messages; the bot gets an `edited_message` update."""
        if isinstance(message, int):
            message = self.message(message)
        return await self._tg._user_edits(self, message, text)

    async def press(
        self,
        message: ChatMessage | int,
        callback_data: str | None = None,
        *,
        text: str | None = None,
        check: bool = True,
    ) -> ButtonPress:
        """Press an inline button on a bot message, by its callback data or its label.

        With `check=False` any data is sent, as a tampered or out-of-date client could.
        """
        if isinstance(message, int):
            message = self.message(message)
        if text is not None:
            callback_data = message.button(text).callback_data
        if callback_data is None:
            raise ValueError("say which button: give callback_data or text")
        if check and callback_data not in message.callback_data:
            raise ValueError(
                f"message {message.message_id} has no button with data {callback_data!r}; "
                f"its buttons carry {message.callback_data!r} (use check=False to tamper)"
            )
        return await self._tg._user_presses(self, message, callback_data)

    # -- relationship with the bot ------------------------------------------------------------

    def block(self) -> None:
        """Block the bot: its messages now fail with 403; the bot gets `my_chat_member`."""
        state = self._state
        if state.blocked:
            return
        state.blocked = True
        if state.started:
            self._tg._push_member_change(state, self.json(), "member", "kicked")

    def unblock(self) -> None:
        """Unblock the bot (Telegram's "Restart" button also sends /start; do that yourself)."""
        state = self._state
        if not state.blocked:
            return
        state.blocked = False
        if state.started:
            self._tg._push_member_change(state, self.json(), "kicked", "member")

    def deactivate(self) -> None:
        """Delete the account: the bot's messages now fail with "user is deactivated"."""
        self.deactivated = True


class GroupChat(ChatView):
    """A group the bot is in; users speak in it with `user.send_text(..., chat=group)`."""

    @property
    def id(self) -> int:
        """The (negative) chat id."""
        return self.chat_id

    @property
    def title(self) -> str | None:
        """The group's name."""
        return self._state.title

    def add_member(self, user: TelegramUser) -> None:
        """Put a user in the group (sending in the group does this too)."""
        self._state.members.add(user.id)

    def remove_bot(self, by: TelegramUser, *, ban: bool = False) -> None:
        """Remove the bot from the group; the bot gets `my_chat_member`, sends then fail."""
        state = self._state
        new_status = "kicked" if ban else "left"
        self._tg._push_member_change(state, by.json(), state.bot_status, new_status)
        state.bot_status = new_status

    def add_bot(self, by: TelegramUser) -> None:
        """Add the bot back to the group."""
        state = self._state
        self._tg._push_member_change(state, by.json(), state.bot_status, "member")
        state.bot_status = "member"
