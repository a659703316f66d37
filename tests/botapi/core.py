"""`FakeTelegram`: the state of a Telegram Bot API server for one bot, and its methods.

Fronts (`request.FakeTelegramRequest` in-process, `server.BotApiServer` over HTTP) turn a
request into `await tg.handle(token, method, params, files)` and send back the `ApiResponse`
exactly as Telegram would. Tests act as users through `tg.user(...)` (see `user.py`).
"""

# Waits take a `timeout` on purpose: it is how long a test tolerates silence before failing.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.botapi.changes import ChangeSignal
from tests.botapi.errors import (
    NOT_FOUND,
    UNAUTHORIZED,
    ApiResponse,
    BotApiError,
    SimulatedConnectionFailure,
    bad_request,
    conflict,
    forbidden,
    too_many_requests,
)
from tests.botapi.faults import Fault, FaultPlan
from tests.botapi.html import HtmlParseError, parse_html
from tests.botapi.models import (
    ApiCall,
    ButtonPress,
    CallbackAnswer,
    ChatAction,
    ChatMessage,
    StoredFile,
    UploadedFile,
    WebhookAttempt,
)
from tests.botapi.params import Params
from tests.botapi.payloads import (
    check_inline_keyboard,
    document_json,
    opaque_id,
    photo_json,
    scope_key,
)
from tests.botapi.ratelimit import RateLimiter, RateLimits
from tests.botapi.text import Entity, find_bot_commands, sort_entities, strip_with_entities
from tests.botapi.updates import Update, UpdateQueue
from tests.botapi.user import GroupChat, TelegramUser
from tests.botapi.webhook import (
    Backoff,
    HttpxWebhookTransport,
    WebhookConfig,
    WebhookDeliverer,
    WebhookTransport,
    quick_backoff,
)

_log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_UPLOAD_BYTES = {"document": 50 * 1024 * 1024, "photo": 10 * 1024 * 1024}
DELETE_WINDOW_SECONDS = 48 * 60 * 60

QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
WEBHOOK_ACTIVE = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
POLL_TERMINATED = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_MESSAGE_OPTIONS = (
    "disable_notification",
    "protect_content",
    "link_preview_options",
    "disable_web_page_preview",
    "message_effect_id",
    "message_thread_id",
)
_TOKEN_SHAPE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{30,64}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")

Method = Callable[[Params], Awaitable[Any]]


@dataclass
class ChatState:
    """Everything Telegram knows about one chat with the bot."""

    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    username: str | None = None
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    bot_message_ids: list[int] = field(default_factory=list)
    next_message_id: int = 1
    changed: ChangeSignal = field(default_factory=ChangeSignal)
    # Private chats: whether the user has ever written to the bot, and blocked it since.
    started: bool = False
    blocked: bool = False
    # Groups: "member", "left" or "kicked"; and who is in the group.
    bot_status: str = "member"
    members: set[int] = field(default_factory=set)
    actions: list[ChatAction] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        """Whether this is a group or supergroup."""
        return self.type in ("group", "supergroup")

    @property
    def chat_instance(self) -> str:
        """The opaque per-chat id Telegram puts in callback queries."""
        return str(abs(self.id) * 7919 + 104729)


def _default_token(bot_id: int) -> str:
    return f"{bot_id}:" + ("AAStandInTokenForSteadyTestsOnly" + "x" * 35)[:35]


class FakeTelegram:
    """A Telegram Bot API server for one bot, held in memory.

    Args:
        bot_id, bot_username, bot_first_name: who the bot is (what `getMe` answers).
        token: the token the bot must present; derived from `bot_id` if not given.
        clock: Unix time source for dates, rate limits and callback expiry.
        sleep: how "slow" faults and webhook back-off wait; inject `ManualClock.sleep`.
        rate_limits: switch on Telegram-style flood control (off by default).
        webhook_transport / webhook_backoff: how updates are POSTed, and how long to wait
            after the n-th consecutive failed delivery.
        strict_html_ampersand: refuse a bare `&` in HTML (Telegram's documented rule).
        callback_answer_window: seconds after a button press that the query can be answered.
        require_https_webhook: refuse http:// webhooks as Telegram does (off so loopback works).
        privacy_mode: in groups, only deliver commands, replies to the bot and @mentions.
        record_calls: keep `calls`, the log of every request (turn off for long benchmarks).
    """

    def __init__(
        self,
        *,
        bot_id: int = 7_000_000_001,
        bot_username: str = "steady_test_bot",
        bot_first_name: str = "Steady",
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rate_limits: RateLimits | None = None,
        webhook_transport: WebhookTransport | None = None,
        webhook_backoff: Backoff = quick_backoff,
        strict_html_ampersand: bool = True,
        callback_answer_window: float = 15.0,
        require_https_webhook: bool = False,
        privacy_mode: bool = True,
        record_calls: bool = True,
        first_update_id: int = 100_000_001,
    ) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.token = token or _default_token(bot_id)
        self.clock = clock
        self._sleep = sleep
        self.strict_html_ampersand = strict_html_ampersand
        self.callback_answer_window = callback_answer_window
        self.require_https_webhook = require_https_webhook
        self.privacy_mode = privacy_mode
        self.record_calls = record_calls

        self.faults = FaultPlan()
        self.calls: list[ApiCall] = []
        self.updates = UpdateQueue(first_update_id)
        self.webhook = WebhookConfig()
        self._own_transport = webhook_transport is None
        self._transport: WebhookTransport = webhook_transport or HttpxWebhookTransport()
        self._deliverer = WebhookDeliverer(
            self.updates,
            self.webhook,
            transport=self._transport,
            sleep=sleep,
            backoff=webhook_backoff,
            clock=clock,
        )
        self.rate_limiter = RateLimiter(rate_limits, clock) if rate_limits else None

        self._users: dict[int, TelegramUser] = {}
        self._chats: dict[int, ChatState] = {}
        self._files: dict[str, StoredFile] = {}
        self._sent: list[ChatMessage] = []
        self._presses: dict[str, ButtonPress] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        # (kind, language_code) -> text, for setMyDescription and setMyShortDescription.
        self._profile_texts: dict[tuple[str, str], str] = {}
        self._poll_generation = 0
        self._counter = 0
        self._methods: dict[str, tuple[str, Method]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "sendDocument": self._send_document,
                "sendPhoto": self._send_photo,
                "deleteMessage": self._delete_message,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setMyDescription": self._set_my_description,
                "getMyDescription": self._get_my_description,
                "setMyShortDescription": self._set_my_short_description,
                "getMyShortDescription": self._get_my_short_description,
            }.items()
        }

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop webhook delivery and close its HTTP client."""
        await self._deliverer.stop()
        if self._own_transport and isinstance(self._transport, HttpxWebhookTransport):
            await self._transport.aclose()

    # -- the request entry point -------------------------------------------------------------

    @property
    def method_names(self) -> list[str]:
        """The Bot API methods the stand-in implements."""
        return [name for name, _ in self._methods.values()]

    async def handle(
        self,
        token: str,
        method: str,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> ApiResponse:
        """Answer one Bot API request as Telegram would.

        Raises `SimulatedConnectionFailure` when a scripted fault breaks the connection; the
        front must then fail the way a broken socket does instead of answering.
        """
        params = dict(params)
        files = dict(files or {})
        if not _TOKEN_SHAPE.fullmatch(token):
            refusal = NOT_FOUND.response()
        elif token != self.token:
            refusal = UNAUTHORIZED.response()
        elif method.lower() not in self._methods:
            refusal = NOT_FOUND.response()
        else:
            return await self._dispatch(method, params, files)
        self._record(method, params, files, refusal, accepted=False)
        return refusal

    async def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> ApiResponse:
        name, handler = self._methods[method.lower()]

        triggered = self.faults.trigger(name, _chat_id_of(params))
        if triggered.delay > 0:
            await self._sleep(triggered.delay)
        fault = triggered.failure
        if fault is not None and fault.kind == "network":
            self._record(name, params, files, None, accepted=False)
            raise SimulatedConnectionFailure(name, received=False)
        if fault is not None and fault.kind in ("429", "5xx", "403"):
            response = _fault_error(fault).response()
            self._record(name, params, files, response, accepted=False)
            return response

        try:
            result = await handler(Params(params, files))
            response = result if isinstance(result, ApiResponse) else ApiResponse.success(result)
        except BotApiError as error:
            response = error.response()
        if fault is not None and fault.kind == "drop_after_accept":
            self._record(name, params, files, None, accepted=response.ok)
            raise SimulatedConnectionFailure(name, received=True)
        self._record(name, params, files, response, accepted=response.ok)
        return response

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a method as the bot would, with the right token; returns Telegram's envelope.

        Values are passed as a JSON body would carry them; `UploadedFile` values become
        multipart parts. Handy for testing the stand-in without python-telegram-bot.
        """
        files = {name: value for name, value in params.items() if isinstance(value, UploadedFile)}
        plain = {
            name: value
            for name, value in params.items()
            if value is not None and not isinstance(value, UploadedFile)
        }
        response = await self.handle(self.token, method, plain, files)
        # Through JSON and back, as a bot would see it (and proving it is valid JSON).
        envelope: dict[str, Any] = json.loads(response.body)
        return envelope

    def download(self, token: str, file_path: str) -> tuple[int, bytes]:
        """Serve `/file/bot<token>/<file_path>`: the status and the file's bytes."""
        if token != self.token:
            return UNAUTHORIZED.response().status, UNAUTHORIZED.response().body
        for stored in self._files.values():
            if stored.file_path == file_path:
                return HTTPStatus.OK, stored.content
        return NOT_FOUND.response().status, NOT_FOUND.response().body

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, UploadedFile],
        response: ApiResponse | None,
        *,
        accepted: bool,
    ) -> None:
        status = response.status if response is not None else None
        if status is not None and status >= 400:
            _log.debug("%s answered %d", method, status)
        if self.record_calls:
            description = None
            if response is not None and not response.ok:
                description = str(response.payload.get("description"))
            self.calls.append(
                ApiCall(
                    method=method,
                    params=params,
                    files=tuple(files),
                    status=status,
                    description=description,
                    accepted=accepted,
                    at=self.clock(),
                )
            )

    def calls_to(self, method: str) -> list[ApiCall]:
        """Every recorded call to one method (case-insensitive)."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    # -- users, chats and what tests inspect ------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Alex",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        has_started: bool = False,
    ) -> TelegramUser:
        """A Telegram user who can talk to the bot (the same handle for the same id).

        Until the user writes to the bot (or `has_started=True`), the bot cannot message them.
        """
        if user_id in self._users:
            return self._users[user_id]
        if user_id <= 0:
            raise ValueError("user ids are positive; negative ids are groups")
        user = TelegramUser(
            self,
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._users[user_id] = user
        self._chats[user_id] = ChatState(id=user_id, type="private", started=has_started)
        return user

    def group_chat(
        self,
        title: str = "Team chat",
        *,
        chat_id: int | None = None,
        members: tuple[TelegramUser, ...] | list[TelegramUser] = (),
        supergroup: bool = False,
        username: str | None = None,
    ) -> GroupChat:
        """A group (or supergroup) the bot is already a member of."""
        if chat_id is None:
            base = -1_000_000_000_000 if supergroup else -4_000_000_000
            chat_id = base - self._next_counter()
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if chat_id not in self._chats:
            self._chats[chat_id] = ChatState(
                id=chat_id,
                type="supergroup" if supergroup else "group",
                title=title,
                username=username,
                members={member.id for member in members},
            )
        return GroupChat(self, chat_id)

    def chat(self, chat_id: int) -> ChatState:
        """The raw state of a chat (for assertions the handles do not cover)."""
        return self._chats[chat_id]

    @property
    def sent_messages(self) -> list[ChatMessage]:
        """Everything the bot has sent, in every chat, in the order it was sent."""
        return list(self._sent)

    def pending_updates(self) -> list[Update]:
        """Updates waiting to be fetched or delivered (left in place)."""
        return self.updates.peek(len(self.updates))

    def take_pending_updates(self) -> list[Update]:
        """Remove and return pending updates, as a getUpdates call with an offset would."""
        return self.updates.take_all()

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[str]:
        """The command names set with setMyCommands for a scope and language."""
        key = (scope_key(scope), language_code)
        return [command["command"] for command in self._commands.get(key, [])]

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every webhook POST so far, with its outcome."""
        return list(self._deliverer.attempts)

    async def wait_for_webhook_attempts(
        self, count: int, timeout: float = 5.0
    ) -> list[WebhookAttempt]:
        """Wait until the webhook has been tried `count` times in total; return the attempts."""
        try:
            await self.updates.changed.wait_for(
                lambda: len(self._deliverer.attempts) >= count, timeout
            )
        except TimeoutError:
            raise AssertionError(
                f"expected {count} webhook attempts within {timeout}s, saw "
                f"{len(self._deliverer.attempts)}"
            ) from None
        return self.webhook_attempts

    async def wait_until_delivered(self, timeout: float = 5.0) -> None:
        """Wait until no update is pending (fetched and confirmed, or accepted by the webhook)."""
        try:
            await self.updates.changed.wait_for(lambda: len(self.updates) == 0, timeout)
        except TimeoutError:
            raise AssertionError(
                f"{len(self.updates)} update(s) still pending after {timeout}s"
            ) from None

    @property
    def button_presses(self) -> list[ButtonPress]:
        """Every callback query users have made."""
        return list(self._presses.values())

    async def wait_for_answer(self, press: ButtonPress, timeout: float = 5.0) -> CallbackAnswer:
        """Wait until the bot answers a button press; fail the test after `timeout` seconds."""
        chat = self._chats[press.chat_id]
        try:
            await chat.changed.wait_for(lambda: press.answered, timeout)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not answer callback query {press.query_id} within {timeout}s"
            ) from None
        assert press.answer is not None
        return press.answer

    # -- JSON the bot sees -----------------------------------------------------------------

    def bot_json(self) -> dict[str, Any]:
        """The bot as a `User` object inside messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def chat_json(self, chat: ChatState) -> dict[str, Any]:
        """A `Chat` object."""
        if chat.type == "private":
            data: dict[str, Any] = {"id": chat.id}
            data.update({k: v for k, v in self._users[chat.id].json().items() if k != "id" and v})
            data.pop("is_bot", None)
            data.pop("language_code", None)
            data["type"] = "private"
            return data
        data = {"id": chat.id, "title": chat.title, "type": chat.type}
        if chat.username:
            data["username"] = chat.username
        return data

    def message_json(self, message: ChatMessage, *, with_reply: bool = True) -> dict[str, Any]:
        """A `Message` object in its current state."""
        chat = self._chats[message.chat_id]
        sender = self.bot_json() if message.from_bot else self._users[message.sender_id].json()
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": self.chat_json(chat),
            "date": message.date,
        }
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if with_reply and message.reply_to_message_id is not None:
            replied = chat.messages.get(message.reply_to_message_id)
            if replied is not None and not replied.deleted:
                data["reply_to_message"] = self.message_json(replied, with_reply=False)
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = copy.deepcopy(message.entities)
        data.update(copy.deepcopy(message.media))
        if message.caption is not None:
            data["caption"] = message.caption
            if message.entities:
                data["caption_entities"] = copy.deepcopy(message.entities)
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = copy.deepcopy(message.reply_markup)
        return data

    # -- helpers shared by the methods -------------------------------------------------------

    def _next_counter(self) -> int:
        self._counter += 1
        return self._counter

    def _now(self) -> int:
        return int(self.clock())

    def _resolve_chat(self, params: Params) -> ChatState:
        raw = params.raw.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat_id = _chat_id_of(params.raw)
        if chat_id is not None and chat_id in self._chats:
            return self._chats[chat_id]
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self._chats.values():
                if chat.username and chat.username.lower() == raw[1:].lower():
                    return chat
        raise bad_request("chat not found")

    def _check_can_send(self, chat: ChatState) -> None:
        if chat.type == "private":
            user = self._users[chat.id]
            if user.deactivated:
                raise forbidden("user is deactivated")
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.started:
                raise forbidden("bot can't initiate conversation with a user")
            return
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if chat.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {kind}")
        if chat.bot_status == "left":
            raise forbidden(f"bot is not a member of the {kind}")

    def _admit(self, chat: ChatState) -> None:
        if self.rate_limiter is None:
            return
        retry_after = self.rate_limiter.admit(chat.id, is_group=chat.is_group)
        if retry_after is not None:
            raise too_many_requests(retry_after)

    def _format(
        self, source: str, parse_mode: str | None, params: Params, entities_field: str
    ) -> tuple[str, list[Entity]]:
        mode = (parse_mode or "").strip()
        if not mode:
            given = params.json_value(
                entities_field, parse_error="can't parse entities JSON object"
            )
            entities = sort_entities(list(given)) if isinstance(given, list) else []
            text = source
        elif mode.lower() == "html":
            try:
                text, entities = parse_html(source, strict_ampersand=self.strict_html_ampersand)
            except HtmlParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        elif mode.lower() in ("markdown", "markdownv2"):
            raise bad_request(
                f"the Bot API stand-in does not check parse_mode {mode}; Steady sends HTML"
            )
        else:
            raise bad_request("unsupported parse_mode")
        return strip_with_entities(text, entities)

    def _reply_markup(self, params: Params) -> dict[str, Any] | None:
        markup = params.json_value(
            "reply_markup", parse_error="can't parse reply keyboard markup JSON object"
        )
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            check_inline_keyboard(markup["inline_keyboard"])
        elif not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _reply_target(self, chat: ChatState, params: Params) -> int | None:
        reply = params.json_value(
            "reply_parameters", parse_error="can't parse reply parameters JSON object"
        )
        allow_missing = params.flag("allow_sending_without_reply")
        message_id = params.integer("reply_to_message_id")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        if message_id is None:
            return None
        target = chat.messages.get(int(message_id))
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return target.message_id

    def _message_to_edit(self, params: Params) -> tuple[ChatState, ChatMessage]:
        if params.has("inline_message_id"):
            raise bad_request("the Bot API stand-in does not model inline messages")
        chat = self._resolve_chat(params)
        message_id = params.integer("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        return chat, message

    def _store(self, chat: ChatState, message: ChatMessage) -> ChatMessage:
        chat.messages[message.message_id] = message
        if message.from_bot:
            chat.bot_message_ids.append(message.message_id)
            self._sent.append(message)
        chat.changed.notify()
        return message

    def _new_message(
        self, chat: ChatState, *, from_bot: bool, sender_id: int, kind: str
    ) -> ChatMessage:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return ChatMessage(
            chat_id=chat.id,
            message_id=message_id,
            date=self._now(),
            sender_id=sender_id,
            from_bot=from_bot,
            kind=kind,
        )

    def _store_file(
        self, content: bytes, *, kind: str, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        number = self._next_counter()
        file_id = opaque_id(f"{kind}:{number}:{self.bot_id}")
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        elif mime_type:
            extension = mimetypes.guess_extension(mime_type) or ""
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=opaque_id(f"unique:{number}")[:16],
            content=content,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{kind}s/file_{number}{extension}",
        )
        self._files[file_id] = stored
        return stored

    # -- getMe, getUpdates, webhooks -----------------------------------------------------

    async def _get_me(self, params: Params) -> dict[str, Any]:
        return {
            **self.bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: Params) -> list[Update]:
        if self.webhook.url:
            raise conflict(WEBHOOK_ACTIVE)
        offset = params.integer("offset")
        limit = params.integer("limit") or 100
        if not 1 <= limit <= 100:
            limit = 100
        timeout = max(params.number("timeout", 0.0) or 0.0, 0.0)
        self.updates.set_allowed(
            params.json_value("allowed_updates", parse_error="can't parse allowed updates")
        )
        if offset:
            self.updates.confirm(offset)
        # A newer getUpdates ends an older one still waiting, exactly as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self.updates.changed.notify()
        if not len(self.updates) and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await self.updates.changed.wait_for(
                    lambda: (
                        bool(len(self.updates))
                        or generation != self._poll_generation
                        or bool(self.webhook.url)
                    ),
                    timeout,
                )
        if generation != self._poll_generation:
            raise conflict(POLL_TERMINATED)
        if self.webhook.url:
            raise conflict(WEBHOOK_ACTIVE)
        # Fronts serialise the answer at once, so the queued dicts never leave the stand-in.
        return self.updates.peek(limit)

    async def _set_webhook(self, params: Params) -> ApiResponse:
        url = (params.text("url") or "").strip()
        if not url:
            return await self._delete_webhook(params)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: Webhook URL is invalid")
        if self.require_https_webhook and parts.scheme != "https":
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.text("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.integer("max_connections") or 40
        allowed = params.json_value(
            "allowed_updates", parse_error="can't parse allowed updates JSON object"
        )
        if params.flag("drop_pending_updates"):
            self.updates.clear()
        self.updates.set_allowed(allowed)
        unchanged = self.webhook.url == url and self.webhook.secret_token == secret
        if self.webhook.url != url:
            self.webhook.last_error_date = None
            self.webhook.last_error_message = None
        self.webhook.url = url
        self.webhook.secret_token = secret
        self.webhook.max_connections = min(max(max_connections, 1), 100)
        self.webhook.ip_address = params.text("ip_address")
        self.webhook.has_custom_certificate = "certificate" in params.files
        if allowed is not None:
            self.webhook.allowed_updates = list(allowed)
        self._deliverer.start()
        # Wakes any long poll so it ends with 409, as Telegram does.
        self.updates.changed.notify()
        return ApiResponse.success(
            True, "Webhook is already set" if unchanged else "Webhook was set"
        )

    async def _delete_webhook(self, params: Params) -> ApiResponse:
        was_set = bool(self.webhook.url)
        await self._deliverer.stop()
        self.webhook.url = ""
        self.webhook.secret_token = None
        self.webhook.ip_address = None
        self.webhook.allowed_updates = None
        self.webhook.last_error_date = None
        self.webhook.last_error_message = None
        if params.flag("drop_pending_updates"):
            self.updates.clear()
        return ApiResponse.success(
            True, "Webhook was deleted" if was_set else "Webhook is already deleted"
        )

    async def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url,
            "has_custom_certificate": self.webhook.has_custom_certificate,
            "pending_update_count": len(self.updates),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.ip_address:
                info["ip_address"] = self.webhook.ip_address
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = list(self.webhook.allowed_updates)
        if self.webhook.last_error_date is not None:
            info["last_error_date"] = self.webhook.last_error_date
            info["last_error_message"] = self.webhook.last_error_message
        return info

    # -- sending and editing -----------------------------------------------------------------

    async def _send_message(self, params: Params) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        source = params.text("text")
        if source is None:
            raise bad_request("message text is empty")
        text, entities = self._format(source, params.text("parse_mode"), params, "entities")
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = self._reply_markup(params)
        reply_to = self._reply_target(chat, params)
        self._check_can_send(chat)
        self._admit(chat)
        message = self._new_message(chat, from_bot=True, sender_id=self.bot_id, kind="text")
        message.text = text
        message.entities = entities
        message.source_text = source
        message.parse_mode = params.text("parse_mode")
        message.reply_markup = markup
        message.reply_to_message_id = reply_to
        message.options = {name: params.raw[name] for name in _MESSAGE_OPTIONS if params.has(name)}
        return self.message_json(self._store(chat, message))

    async def _send_document(self, params: Params) -> dict[str, Any]:
        return await self._send_file(params, "document")

    async def _send_photo(self, params: Params) -> dict[str, Any]:
        return await self._send_file(params, "photo")

    async def _send_file(self, params: Params, kind: str) -> dict[str, Any]:
        chat = self._resolve_chat(params)
        source = params.upload(kind)
        if source is None:
            raise bad_request(f"there is no {kind} in the request")
        stored = self._file_from(source, kind)
        caption_source = params.text("caption")
        caption: str | None = None
        entities: list[Entity] = []
        if caption_source:
            caption, entities = self._format(
                caption_source, params.text("parse_mode"), params, "caption_entities"
            )
            if len(caption) > MAX_CAPTION_LENGTH:
                raise bad_request("message caption is too long")
        markup = self._reply_markup(params)
        reply_to = self._reply_target(chat, params)
        self._check_can_send(chat)
        self._admit(chat)
        message = self._new_message(chat, from_bot=True, sender_id=self.bot_id, kind=kind)
        message.caption = caption or None
        message.entities = entities if caption else []
        message.source_text = caption_source
        message.parse_mode = params.text("parse_mode")
        message.reply_markup = markup
        message.reply_to_message_id = reply_to
        message.file = stored
        message.media = {kind: document_json(stored) if kind == "document" else photo_json(stored)}
        message.options = {name: params.raw[name] for name in _MESSAGE_OPTIONS if params.has(name)}
        return self.message_json(self._store(chat, message))

    def _file_from(self, source: UploadedFile | str, kind: str) -> StoredFile:
        if isinstance(source, str):
            stored = self._files.get(source)
            if stored is None:
                # Fetching from URLs is not modelled: tests must stay off the network.
                raise bad_request("wrong file identifier/HTTP URL specified")
            return stored
        if not source.content:
            raise bad_request("file must be non-empty")
        if len(source.content) > MAX_UPLOAD_BYTES[kind]:
            raise BotApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
        mime_type = source.mime_type
        if mime_type is None and source.filename:
            mime_type = mimetypes.guess_type(source.filename)[0]
        return self._store_file(
            source.content, kind=kind, file_name=source.filename, mime_type=mime_type
        )

    async def _edit_message_text(self, params: Params) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        source = params.text("text")
        if source is None:
            raise bad_request("message text is empty")
        text, entities = self._format(source, params.text("parse_mode"), params, "entities")
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        # No reply_markup in an edit removes the keyboard, as on Telegram.
        markup = self._reply_markup(params)
        if not message.from_bot:
            raise bad_request("message can't be edited")
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        self._check_can_send(chat)
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.history.append(message.text)
        message.text = text
        message.entities = entities
        message.source_text = source
        message.parse_mode = params.text("parse_mode")
        message.reply_markup = markup
        message.edit_date = self._now()
        chat.changed.notify()
        return self.message_json(message)

    async def _edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        chat, message = self._message_to_edit(params)
        markup = self._reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        self._check_can_send(chat)
        if markup == message.reply_markup or (markup is None and not message.reply_markup):
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = markup
        chat.changed.notify()
        return self.message_json(message)

    async def _delete_message(self, params: Params) -> bool:
        chat = self._resolve_chat(params)
        message_id = params.integer("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if self.clock() - message.date > DELETE_WINDOW_SECONDS:
            raise bad_request("message can't be deleted for everyone")
        if chat.is_group and not message.from_bot:
            raise bad_request("message can't be deleted")
        message.deleted = True
        chat.changed.notify()
        return True

    async def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.text("callback_query_id")
        if not query_id:
            raise bad_request("callback_query_id is empty")
        press = self._presses.get(query_id)
        if (
            press is None
            or press.answered
            or self.clock() - press.created_at > self.callback_answer_window
        ):
            raise bad_request(QUERY_TOO_OLD)
        text = params.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        press.answer = CallbackAnswer(
            text=text,
            show_alert=params.flag("show_alert"),
            url=params.text("url"),
            cache_time=params.integer("cache_time") or 0,
        )
        self._chats[press.chat_id].changed.notify()
        return True

    async def _send_chat_action(self, params: Params) -> bool:
        chat = self._resolve_chat(params)
        action = params.text("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._check_can_send(chat)
        chat.actions.append(ChatAction(chat.id, action, self.clock()))
        chat.changed.notify()
        return True

    async def _get_file(self, params: Params) -> dict[str, Any]:
        file_id = params.text("file_id")
        if not file_id:
            raise bad_request("file_id is empty")
        stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    # -- the bot's commands and profile ------------------------------------------------------

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.json_value("scope", parse_error="can't parse BotCommandScope JSON object")
        if scope is not None and not isinstance(scope, dict):
            raise bad_request("can't parse BotCommandScope JSON object")
        return scope_key(scope), params.text("language_code") or ""

    async def _set_my_commands(self, params: Params) -> bool:
        commands = params.json_value("commands", parse_error="can't parse commands JSON object")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        cleaned: list[dict[str, str]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse commands JSON object")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not _COMMAND_NAME.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("command description is empty")
            cleaned.append({"command": name, "description": description})
        key = self._commands_key(params)
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: Params) -> list[dict[str, str]]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: Params) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _set_profile_text(self, params: Params, kind: str, limit: int) -> bool:
        text = params.text(kind) or ""
        if len(text) > limit:
            raise bad_request(f"{kind} is too long")
        key = (kind, params.text("language_code") or "")
        if text:
            self._profile_texts[key] = text
        else:
            self._profile_texts.pop(key, None)
        return True

    def _get_profile_text(self, params: Params, kind: str) -> dict[str, str]:
        return {kind: self._profile_texts.get((kind, params.text("language_code") or ""), "")}

    async def _set_my_description(self, params: Params) -> bool:
        return self._set_profile_text(params, "description", 512)

    async def _get_my_description(self, params: Params) -> dict[str, str]:
        return self._get_profile_text(params, "description")

    async def _set_my_short_description(self, params: Params) -> bool:
        return self._set_profile_text(params, "short_description", 120)

    async def _get_my_short_description(self, params: Params) -> dict[str, str]:
        return self._get_profile_text(params, "short_description")

    # -- what users do (called through TelegramUser / GroupChat) ----------------------------

    def _chat_for(self, user: TelegramUser, chat: GroupChat | None) -> ChatState:
        if chat is None:
            state = self._chats[user.id]
            if state.blocked:
                raise RuntimeError(f"user {user.id} has blocked the bot; call unblock() first")
            state.started = True
            return state
        state = self._chats[chat.id]
        state.members.add(user.id)
        return state

    def _bot_sees(self, chat: ChatState, message: ChatMessage) -> bool:
        """Privacy mode: in groups the bot only gets commands, replies to it and @mentions."""
        if chat.type == "private":
            return True
        if chat.bot_status != "member":
            return False
        if not self.privacy_mode:
            return True
        body = message.body
        if body.startswith("/"):
            first_word = body.split(maxsplit=1)[0]
            addressed_to = first_word.partition("@")[2]
            return not addressed_to or addressed_to.lower() == self.bot_username.lower()
        if message.reply_to_message_id is not None:
            replied = chat.messages.get(message.reply_to_message_id)
            if replied is not None and replied.from_bot:
                return True
        return f"@{self.bot_username}".lower() in body.lower()

    async def _user_sends(
        self,
        user: TelegramUser,
        chat: GroupChat | None,
        *,
        kind: str,
        text: str | None = None,
        caption: str | None = None,
        entities: list[Entity] | None = None,
        media: dict[str, Any] | None = None,
        file: StoredFile | None = None,
        reply_to: ChatMessage | int | None = None,
    ) -> ChatMessage:
        state = self._chat_for(user, chat)
        message = self._new_message(state, from_bot=False, sender_id=user.id, kind=kind)
        message.text = text
        message.caption = caption
        body = text if text is not None else caption
        if entities is not None:
            message.entities = sort_entities(entities)
        elif body:
            message.entities = find_bot_commands(body)
        message.media = media or {}
        message.file = file
        if reply_to is not None:
            reply_id = reply_to.message_id if isinstance(reply_to, ChatMessage) else reply_to
            if reply_id not in state.messages:
                raise ValueError(f"no message {reply_id} in chat {state.id} to reply to")
            message.reply_to_message_id = reply_id
        self._store(state, message)
        if self._bot_sees(state, message):
            self.updates.push("message", self.message_json(message))
        # Let pollers and webhook delivery see the update before the test carries on.
        await asyncio.sleep(0)
        return message

    async def _user_edits(self, user: TelegramUser, message: ChatMessage, text: str) -> ChatMessage:
        state = self._chats[message.chat_id]
        if message.sender_id != user.id or message.from_bot:
            raise ValueError("users can only edit their own messages")
        if message.deleted:
            raise ValueError("that message was deleted")
        message.history.append(message.body)
        if message.text is not None:
            message.text = text
        else:
            message.caption = text
        message.entities = find_bot_commands(text)
        message.edit_date = self._now()
        state.changed.notify()
        if self._bot_sees(state, message):
            self.updates.push("edited_message", self.message_json(message))
        await asyncio.sleep(0)
        return message

    async def _user_presses(
        self, user: TelegramUser, message: ChatMessage, data: str
    ) -> ButtonPress:
        state = self._chats[message.chat_id]
        if message.deleted:
            raise ValueError("that message was deleted; its buttons are gone")
        press = ButtonPress(
            query_id=str(4_000_000_000_000_000_000 + self._next_counter()),
            user_id=user.id,
            chat_id=state.id,
            message_id=message.message_id,
            data=data,
            created_at=self.clock(),
        )
        self._presses[press.query_id] = press
        self.updates.push(
            "callback_query",
            {
                "id": press.query_id,
                "from": user.json(),
                "message": self.message_json(message),
                "chat_instance": state.chat_instance,
                "data": data,
            },
        )
        await asyncio.sleep(0)
        return press

    def _user_uploads(
        self, content: bytes, *, kind: str, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        return self._store_file(content, kind=kind, file_name=file_name, mime_type=mime_type)

    def _push_member_change(
        self, chat: ChatState, actor: dict[str, Any], old_status: str, new_status: str
    ) -> None:
        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"user": self.bot_json(), "status": status}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self.updates.push(
            "my_chat_member",
            {
                "chat": self.chat_json(chat),
                "from": actor,
                "date": self._now(),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            },
        )


def _chat_id_of(params: Mapping[str, Any]) -> int | None:
    raw = params.get("chat_id")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            return None
    return None


def _fault_error(fault: Fault) -> BotApiError:
    if fault.kind == "429":
        return too_many_requests(fault.retry_after)
    if fault.kind == "403":
        return (
            forbidden("bot was blocked by the user")
            if fault.description is None
            else (BotApiError(HTTPStatus.FORBIDDEN, fault.description))
        )
    return BotApiError(fault.status, fault.description or HTTPStatus(fault.status).phrase)
