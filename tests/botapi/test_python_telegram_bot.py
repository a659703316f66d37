"""The real python-telegram-bot `Application` accepts the stand-in through every front."""

import datetime as dt
import html
import socket
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    TelegramObject,
    Update,
)
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.botapi import (
    BotApiServer,
    FakeTelegram,
    http_builder,
    in_process_builder,
    process_pending_updates,
)

SECRET = "steady-test-secret"
seen_updates: list[Update] = []


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet, offering a choice."""
    assert update.effective_message is not None and update.effective_user is not None
    seen_updates.append(update)
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Calm", callback_data="mood:calm")],
            [InlineKeyboardButton("Tense", callback_data="mood:tense")],
        ]
    )
    await update.effective_message.reply_html(
        f"Hello <b>{html.escape(update.effective_user.first_name)}</b>", reply_markup=keyboard
    )


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeat the text back, in bold."""
    assert update.effective_message is not None and update.effective_message.text is not None
    seen_updates.append(update)
    await update.effective_message.reply_html(
        f"You said <b>{html.escape(update.effective_message.text)}</b>"
    )


async def choose_mood(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Acknowledge the button and replace the question with the answer."""
    query = update.callback_query
    assert query is not None and query.data is not None
    seen_updates.append(update)
    await query.answer("Thanks")
    await query.edit_message_text(f"Noted: {query.data.removeprefix('mood:')}")


def add_echo_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("start", start))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(CallbackQueryHandler(choose_mood, pattern=r"^mood:"))


def unknown_fields(obj: TelegramObject, path: str = "update") -> list[str]:
    """Fields python-telegram-bot did not recognise (a faithful payload has none)."""
    found = [f"{path}.{name}" for name in obj.api_kwargs]
    for name, value in obj._get_attrs(recursive=False).items():
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if isinstance(item, TelegramObject):
                found += unknown_fields(item, f"{path}.{name}")
    return found


async def test_process_update_in_process_echo_buttons_and_faithful_objects() -> None:
    seen_updates.clear()
    async with FakeTelegram() as tg:
        application = in_process_builder(tg).build()
        add_echo_handlers(application)
        async with application:
            priya = tg.user(1001, first_name="Priya")
            await priya.send_command("/start")
            await priya.send_text("a hard call <today> & tired")
            assert await process_pending_updates(application, tg) == 2

            greeting, echoed = priya.received()
            assert greeting.text == "Hello Priya"
            assert greeting.entities_of_type("bold") == ["Priya"]
            assert greeting.button_texts == ["Calm", "Tense"]
            assert echoed.text == "You said a hard call <today> & tired"

            await priya.press(greeting, text="Tense")
            await process_pending_updates(application, tg)
            answer = await priya.wait_for_answer(tg.button_presses[0])
            assert answer.text == "Thanks"
            assert priya.received()[0].text == "Noted: tense"
            assert priya.received()[0].buttons == []

    command, text, press = seen_updates
    assert unknown_fields(command) == []
    assert unknown_fields(text) == []
    assert unknown_fields(press) == []
    message = command.message
    assert message is not None and message.from_user is not None
    assert message.chat.type == ChatType.PRIVATE
    assert message.from_user.first_name == "Priya"
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert message.date.tzinfo is not None
    assert press.callback_query is not None and press.callback_query.message is not None
    assert press.callback_query.message.message_id == greeting.message_id


async def test_polling_over_loopback_http_with_the_real_http_client(
    fake_telegram: FakeTelegram, bot_api_server: BotApiServer
) -> None:
    application = http_builder(bot_api_server).build()
    add_echo_handlers(application)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=dt.timedelta(seconds=10))
        sam = fake_telegram.user(2002, first_name="Sam")
        await sam.send_command("/start")
        await sam.send_text("hello")
        greeting, echoed = await sam.next_messages(2)
        assert greeting.text == "Hello Sam"
        assert echoed.text == "You said hello"
        await sam.press(greeting, "mood:calm")
        await sam.wait_until(lambda: sam.received()[0].text == "Noted: calm", what="the edit")
        await application.updater.stop()
        await application.stop()
    # Polling confirmed every update it fetched, including on shutdown.
    assert fake_telegram.pending_updates() == []
    assert any(call.method == "deleteWebhook" for call in fake_telegram.calls)


async def test_polling_in_process(fake_telegram: FakeTelegram) -> None:
    application = in_process_builder(fake_telegram).build()
    add_echo_handlers(application)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=dt.timedelta(seconds=10))
        alex = fake_telegram.user(3003, first_name="Alex")
        await alex.send_text("one")
        await alex.send_text("two")
        replies = await alex.next_messages(2)
        await application.updater.stop()
        await application.stop()
    assert [reply.text for reply in replies] == ["You said one", "You said two"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_delivery_to_python_telegram_bots_own_webhook_server(
    fake_telegram: FakeTelegram,
) -> None:
    application = in_process_builder(fake_telegram).build()
    add_echo_handlers(application)
    port = free_port()
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="telegram",
            webhook_url=f"http://127.0.0.1:{port}/telegram",
            secret_token=SECRET,
        )
        assert fake_telegram.webhook.secret_token == SECRET
        jo = fake_telegram.user(4004, first_name="Jo")
        await jo.send_text("via webhook")
        [reply] = await jo.next_messages(1)
        assert reply.text == "You said via webhook"

        # A wrong secret is refused by python-telegram-bot; the stand-in keeps retrying.
        fake_telegram.webhook.secret_token = "not-the-secret"
        await jo.send_text("second")
        await fake_telegram.wait_for_webhook_attempts(3)
        fake_telegram.webhook.secret_token = SECRET
        [second] = await jo.next_messages(1)
        assert second.text == "You said second"
        await application.updater.stop()
        await application.stop()
    errors = {attempt.error for attempt in fake_telegram.webhook_attempts if attempt.error}
    assert errors == {"Wrong response from the webhook: 403 Forbidden"}
