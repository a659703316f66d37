"""A faithful local stand-in for the Telegram Bot API, for Steady's tests and benchmarks.

One core, two fronts. `FakeTelegram` holds what Telegram's servers would hold for one bot
(users, chats, messages, pending updates, webhook, files, commands) and answers Bot API methods
with Telegram's rules and error wording. The real python-telegram-bot `Application` reaches it
either in-process (`FakeTelegramRequest`) or over loopback HTTP (`BotApiServer`), so a
`steady run` subprocess can use it through TELEGRAM_API_BASE_URL.

In-process, handlers run to completion before the test asserts::

    from tests.botapi import FakeTelegram, in_process_builder, process_pending_updates

    async def test_start_greets_the_practitioner() -> None:
        async with FakeTelegram() as tg:
            app = in_process_builder(tg).build()      # add Steady's handlers here
            async with app:
                priya = tg.user(1001, first_name="Priya")
                await priya.send_command("/start")
                await process_pending_updates(app, tg)
                assert "Priya" in priya.last_received.text

Over HTTP, with real polling (or `steady run` in a subprocess)::

    async with FakeTelegram() as tg, BotApiServer(tg) as server:
        app = http_builder(server).build()            # base_url=server.base_url
        ...await app.updater.start_polling()...
        await priya.send_text("hello")
        [reply] = await priya.next_messages(1)        # waits on an event; never sleeps

pytest fixtures `fake_telegram` and `bot_api_server` live in `tests.botapi.fixtures`.

Acting as users (`tg.user(id, first_name=...)` returns a `TelegramUser`; the same id gives the
same handle). Every action queues the update Telegram would send and returns the stored message:
    `await user.send_text(text, chat=None, reply_to=None)`  /commands get `bot_command` entities
    `await user.send_command("/reflect", args="")`
    `await user.edit_message(message_or_id, "new text")`   -> `edited_message`
    `await user.press(bot_message, "data")` or `press(bot_message, text="Skip")`
        -> `callback_query`; returns a `ButtonPress`; `check=False` sends tampered data
    `await user.send_photo()`, `send_document()`, `send_sticker()`, `send_voice()`,
        `send_location()`
    `user.block()` / `unblock()` -> `my_chat_member`; `user.deactivate()`
    Groups: `group = tg.group_chat("Team", members=[...])`, then
        `user.send_text("/help", chat=group)`; privacy mode delivers only commands, replies to
        the bot and @mentions. `group.remove_bot(by=user)` / `add_bot(by=user)`.
    Until a user first writes, the bot gets 403 "bot can't initiate conversation with a user"
    (pass `has_started=True` to skip that).

Asserting (on a user or group, which are `ChatView`s):
    `received()` -> list of `ChatMessage` the bot sent there (current state after edits;
        `include_deleted=True` for all). A `ChatMessage` has `text`/`caption`/`body` (plain text
        after HTML parsing), `source_text` and `parse_mode` (as sent), `entities`,
        `entities_of_type("bold")`, `buttons` (rows of `Button`), `button_texts`,
        `callback_data`, `button(label)`, `file` (a `StoredFile` with `content`), `history`
        (earlier texts), `edit_date`, `deleted`, `reply_to_message_id`, `options`.
    `last_received`, `texts`, `chat_actions`
    `await wait_for_messages(n, timeout=5)` -> at least n bot messages in total
    `await next_messages(count=1, timeout=5)` -> the next ones this handle has not returned
    `await wait_for_answer(press)` -> the `CallbackAnswer`
    `await wait_until(predicate, timeout, what)` for anything else in that chat
    On the core: `await tg.call("sendMessage", chat_id=..., text=...)` (act as the bot without
    python-telegram-bot; returns the JSON envelope), `tg.sent_messages`, `tg.calls` /
    `tg.calls_to("sendMessage")` (`ApiCall`: method, params, status, description, accepted),
    `tg.pending_updates()`,
    `tg.updates.created`, `tg.commands(scope, language_code)`, `tg.webhook_attempts`,
    `await tg.wait_for_webhook_attempts(n)`, `await tg.wait_until_delivered()`,
    `tg.button_presses`.

Methods: getMe, getUpdates (offset confirms, negative offset, limit, long-poll `timeout` woken
by events, a newer poll ends an older one with 409, allowed_updates), setWebhook /
deleteWebhook / getWebhookInfo (getUpdates gives 409 while a webhook is set), sendMessage,
editMessageText, editMessageReplyMarkup, deleteMessage, answerCallbackQuery, sendDocument,
sendPhoto (multipart, attach:// or a known file_id), getFile (+ downloads), sendChatAction,
setMyCommands / getMyCommands / deleteMyCommands, setMyDescription / getMyDescription /
setMyShortDescription / getMyShortDescription. Anything else answers 404 "Not Found". Method
names are case-insensitive. A malformed token gets 404, a well-formed wrong one 401.
Errors use Telegram's envelope `{"ok": false, "error_code": N, "description": "..."}`, e.g.
"Bad Request: message text is empty", "Bad Request: message is too long" (over 4096 characters
after entity parsing), "Bad Request: can't parse entities: Unsupported start tag "div" at byte
offset 0" (see `html.py`), "Bad Request: BUTTON_DATA_INVALID" (callback data outside 1-64
bytes), "Forbidden: bot was blocked by the user", "Bad Request: chat not found",
"Bad Request: message is not modified: ...", "Bad Request: query is too old and response
timeout expired or query ID is invalid".

Webhooks: once set, a background task POSTs pending updates in order, one at a time, with the
`X-Telegram-Bot-Api-Secret-Token` header, retrying non-2xx answers and connection failures
after `webhook_backoff(n)` seconds (10 ms doubling by default; slept through `sleep`).

Faults (`tg.faults.add(kind=..., method=..., chat_id=..., times=1, skip=0, ...)`, see
`faults.py`): "429" (with `retry_after`), "5xx" (502 Bad Gateway by default), "slow" (waits
`delay` through the injectable `sleep`), "403", "drop_after_accept" (carried out and recorded,
then the connection breaks), "network" (the connection breaks before Telegram sees it).
Rate limits: `FakeTelegram(rate_limits=RateLimits.telegram_defaults())`, off by default.
Time: `clock = ManualClock(); FakeTelegram(clock=clock, sleep=clock.sleep)` drives dates, rate
limits, callback expiry, "slow" faults and webhook back-off. Long-poll timeouts and the waits'
`timeout` are real seconds: they bound how long a test tolerates silence, nothing more.

python-telegram-bot 22 warns (an error under `filterwarnings = ["error"]`) when it builds a
`RetryAfter` from a 429 unless PTB_TIMEDELTA=1 is set; tests that provoke 429s should set it.

Known simplifications: Markdown parse modes are refused rather than checked (Steady sends
HTML); a bare `&` in HTML is refused although Telegram tolerates it (`strict_html_ampersand`);
http:// webhooks are allowed (`require_https_webhook`); files cannot be fetched from URLs;
inline mode, channels, payments and the rest of the API are not modelled.
"""

from tests.botapi.clock import ManualClock
from tests.botapi.core import ChatState, FakeTelegram
from tests.botapi.errors import ApiResponse, BotApiError, SimulatedConnectionFailure
from tests.botapi.faults import Fault, FaultPlan
from tests.botapi.models import (
    ApiCall,
    Button,
    ButtonPress,
    CallbackAnswer,
    ChatAction,
    ChatMessage,
    StoredFile,
    UploadedFile,
    WebhookAttempt,
)
from tests.botapi.ptb import http_builder, in_process_builder, process_pending_updates
from tests.botapi.ratelimit import RateLimits
from tests.botapi.request import FakeTelegramRequest
from tests.botapi.server import BotApiServer
from tests.botapi.user import ChatView, GroupChat, TelegramUser

__all__ = [
    "ApiCall",
    "ApiResponse",
    "BotApiError",
    "BotApiServer",
    "Button",
    "ButtonPress",
    "CallbackAnswer",
    "ChatAction",
    "ChatMessage",
    "ChatState",
    "ChatView",
    "FakeTelegram",
    "FakeTelegramRequest",
    "Fault",
    "FaultPlan",
    "GroupChat",
    "ManualClock",
    "RateLimits",
    "SimulatedConnectionFailure",
    "StoredFile",
    "TelegramUser",
    "UploadedFile",
    "WebhookAttempt",
    "http_builder",
    "in_process_builder",
    "process_pending_updates",
]
