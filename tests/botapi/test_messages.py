"""Sending, editing and deleting messages: Telegram's rules and error wording."""

from typing import Any

import pytest

from tests.botapi import FakeTelegram, ManualClock, TelegramUser, UploadedFile
from tests.botapi.user import TINY_PNG

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}


def started_user(tg: FakeTelegram, user_id: int = 1001) -> TelegramUser:
    """A user who has already written to the bot, so the bot may message them."""
    return tg.user(user_id, first_name="Priya", has_started=True)


def error_of(payload: dict[str, Any]) -> tuple[int, str]:
    assert payload["ok"] is False, payload
    return payload["error_code"], payload["description"]


async def test_send_message_returns_a_message_the_user_then_sees(
    fake_telegram: FakeTelegram,
) -> None:
    user = started_user(fake_telegram)
    payload = await fake_telegram.call(
        "sendMessage",
        chat_id=user.id,
        text="Well <b>done</b> for pausing",
        parse_mode="HTML",
        reply_markup=KEYBOARD,
    )
    assert payload["ok"] is True
    message = payload["result"]
    assert message["chat"] == {"id": 1001, "first_name": "Priya", "type": "private"}
    assert message["from"]["is_bot"] is True
    assert message["text"] == "Well done for pausing"
    assert message["entities"] == [{"offset": 5, "length": 4, "type": "bold"}]
    assert message["reply_markup"] == KEYBOARD
    assert isinstance(message["date"], int)

    [received] = user.received()
    assert received.text == "Well done for pausing"
    assert received.source_text == "Well <b>done</b> for pausing"
    assert received.entities_of_type("bold") == ["done"]
    assert received.button_texts == ["Yes"]
    assert received.callback_data == ["yes"]


async def test_empty_or_whitespace_text_is_refused(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    for text in ("", "   \n", "<b></b>"):
        payload = await fake_telegram.call(
            "sendMessage", chat_id=user.id, text=text, parse_mode="HTML"
        )
        assert error_of(payload) == (400, "Bad Request: message text is empty")
    assert user.received() == []


async def test_text_over_4096_characters_after_parsing_is_refused(
    fake_telegram: FakeTelegram,
) -> None:
    user = started_user(fake_telegram)
    fits = "<b>" + "a" * 4096 + "</b>"  # tags do not count
    assert (await fake_telegram.call("sendMessage", chat_id=user.id, text=fits, parse_mode="HTML"))[
        "ok"
    ]
    too_long = await fake_telegram.call("sendMessage", chat_id=user.id, text="a" * 4097)
    assert error_of(too_long) == (400, "Bad Request: message is too long")


async def test_invalid_html_is_refused_with_cant_parse_entities(
    fake_telegram: FakeTelegram,
) -> None:
    user = started_user(fake_telegram)
    payload = await fake_telegram.call(
        "sendMessage", chat_id=user.id, text="You scored <10 today", parse_mode="HTML"
    )
    assert error_of(payload) == (
        400,
        'Bad Request: can\'t parse entities: Unsupported start tag "10" at byte offset 11',
    )
    assert user.received() == []


async def test_callback_data_must_be_1_to_64_bytes(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    for data in ("", "x" * 65, "é" * 33):
        keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": data}]]}
        payload = await fake_telegram.call(
            "sendMessage", chat_id=user.id, text="Pick one", reply_markup=keyboard
        )
        assert error_of(payload) == (400, "Bad Request: BUTTON_DATA_INVALID")
    keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": "x" * 64}]]}
    ok = await fake_telegram.call(
        "sendMessage", chat_id=user.id, text="Pick one", reply_markup=keyboard
    )
    assert ok["ok"]


async def test_malformed_reply_markup_is_refused(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    not_json = await fake_telegram.call(
        "sendMessage", chat_id=user.id, text="x", reply_markup="{nope"
    )
    assert error_of(not_json) == (
        400,
        "Bad Request: can't parse reply keyboard markup JSON object",
    )
    text_only = await fake_telegram.call(
        "sendMessage",
        chat_id=user.id,
        text="x",
        reply_markup={"inline_keyboard": [[{"text": "a"}]]},
    )
    assert "Text buttons are unallowed in the inline keyboard" in error_of(text_only)[1]


async def test_unknown_chat_is_not_found(fake_telegram: FakeTelegram) -> None:
    payload = await fake_telegram.call("sendMessage", chat_id=555, text="hi")
    assert error_of(payload) == (400, "Bad Request: chat not found")


async def test_bot_cannot_message_a_user_who_never_started_it(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001)
    payload = await fake_telegram.call("sendMessage", chat_id=user.id, text="Reminder")
    assert error_of(payload) == (403, "Forbidden: bot can't initiate conversation with a user")
    await user.send_text("hi")
    assert (await fake_telegram.call("sendMessage", chat_id=user.id, text="Reminder"))["ok"]


async def test_blocked_user_gives_403_until_unblocked(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001)
    await user.send_command("/start")
    user.block()
    payload = await fake_telegram.call("sendMessage", chat_id=user.id, text="Still there?")
    assert error_of(payload) == (403, "Forbidden: bot was blocked by the user")
    user.unblock()
    assert (await fake_telegram.call("sendMessage", chat_id=user.id, text="Welcome back"))["ok"]
    assert user.texts == ["Welcome back"]


async def test_deactivated_user_gives_403(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    user.deactivate()
    payload = await fake_telegram.call("sendMessage", chat_id=user.id, text="hi")
    assert error_of(payload) == (403, "Forbidden: user is deactivated")


async def test_reply_to_a_missing_message_is_refused_unless_allowed(
    fake_telegram: FakeTelegram,
) -> None:
    user = started_user(fake_telegram)
    missing = await fake_telegram.call(
        "sendMessage", chat_id=user.id, text="x", reply_parameters={"message_id": 99}
    )
    assert error_of(missing) == (400, "Bad Request: message to be replied not found")
    allowed = await fake_telegram.call(
        "sendMessage",
        chat_id=user.id,
        text="x",
        reply_parameters={"message_id": 99, "allow_sending_without_reply": True},
    )
    assert allowed["ok"]
    said = await user.send_text("I had a hard call")
    reply = await fake_telegram.call(
        "sendMessage", chat_id=user.id, text="Thanks", reply_to_message_id=said.message_id
    )
    assert reply["result"]["reply_to_message"]["text"] == "I had a hard call"


async def test_message_ids_count_up_per_chat_across_both_sides(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001)
    other = fake_telegram.user(1002)
    first = await user.send_text("one")
    bot = await fake_telegram.call("sendMessage", chat_id=user.id, text="two")
    other_first = await other.send_text("hello")
    assert (first.message_id, bot["result"]["message_id"]) == (1, 2)
    assert other_first.message_id == 1


async def test_edit_message_text_changes_what_the_user_sees() -> None:
    clock = ManualClock()
    async with FakeTelegram(clock=clock, sleep=clock.sleep) as tg:
        user = started_user(tg)
        sent = (
            await tg.call("sendMessage", chat_id=user.id, text="Step 1", reply_markup=KEYBOARD)
        )["result"]
        clock.advance(30)
        edited = await tg.call(
            "editMessageText",
            chat_id=user.id,
            message_id=sent["message_id"],
            text="<i>Step 2</i>",
            parse_mode="HTML",
        )
        assert edited["result"]["text"] == "Step 2"
        assert edited["result"]["edit_date"] == int(clock.now)
        [message] = user.received()
        assert message.text == "Step 2"
        assert message.history == ["Step 1"]
        # Like Telegram, an edit without reply_markup removes the keyboard.
        assert message.buttons == []


async def test_identical_edits_are_not_modified(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    sent = (
        await fake_telegram.call("sendMessage", chat_id=user.id, text="Same", reply_markup=KEYBOARD)
    )["result"]
    same_text = await fake_telegram.call(
        "editMessageText",
        chat_id=user.id,
        message_id=sent["message_id"],
        text="Same",
        reply_markup=KEYBOARD,
    )
    code, description = error_of(same_text)
    assert code == 400
    assert description.startswith("Bad Request: message is not modified")
    same_markup = await fake_telegram.call(
        "editMessageReplyMarkup",
        chat_id=user.id,
        message_id=sent["message_id"],
        reply_markup=KEYBOARD,
    )
    assert error_of(same_markup)[1].startswith("Bad Request: message is not modified")
    removed = await fake_telegram.call(
        "editMessageReplyMarkup", chat_id=user.id, message_id=sent["message_id"]
    )
    assert removed["ok"]
    assert "reply_markup" not in removed["result"]
    assert user.last_received.buttons == []


async def test_bot_cannot_edit_what_it_did_not_send(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001)
    theirs = await user.send_text("mine")
    cannot = await fake_telegram.call(
        "editMessageText", chat_id=user.id, message_id=theirs.message_id, text="changed"
    )
    assert error_of(cannot) == (400, "Bad Request: message can't be edited")
    missing = await fake_telegram.call(
        "editMessageText", chat_id=user.id, message_id=404, text="changed"
    )
    assert error_of(missing) == (400, "Bad Request: message to edit not found")


async def test_delete_message_hides_it_and_second_delete_fails(
    fake_telegram: FakeTelegram,
) -> None:
    user = started_user(fake_telegram)
    sent = (await fake_telegram.call("sendMessage", chat_id=user.id, text="oops"))["result"]
    assert (
        await fake_telegram.call("deleteMessage", chat_id=user.id, message_id=sent["message_id"])
    )["result"] is True
    assert user.received() == []
    assert [m.text for m in user.received(include_deleted=True)] == ["oops"]
    again = await fake_telegram.call(
        "deleteMessage", chat_id=user.id, message_id=sent["message_id"]
    )
    assert error_of(again) == (400, "Bad Request: message to delete not found")


async def test_messages_older_than_48_hours_cannot_be_deleted() -> None:
    clock = ManualClock()
    async with FakeTelegram(clock=clock) as tg:
        user = started_user(tg)
        sent = (await tg.call("sendMessage", chat_id=user.id, text="old"))["result"]
        clock.advance(48 * 3600 + 1)
        payload = await tg.call("deleteMessage", chat_id=user.id, message_id=sent["message_id"])
        assert error_of(payload) == (400, "Bad Request: message can't be deleted for everyone")


async def test_callback_queries_can_be_answered_once_and_only_in_time() -> None:
    clock = ManualClock()
    async with FakeTelegram(clock=clock) as tg:
        user = started_user(tg)
        await tg.call("sendMessage", chat_id=user.id, text="Pick", reply_markup=KEYBOARD)
        press = await user.press(user.last_received, "yes")
        first = await tg.call("answerCallbackQuery", callback_query_id=press.query_id, text="Noted")
        assert first == {"ok": True, "result": True}
        assert press.answer is not None
        assert press.answer.text == "Noted"
        again = await tg.call("answerCallbackQuery", callback_query_id=press.query_id)
        too_old = (
            400,
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        )
        assert error_of(again) == too_old
        invented = await tg.call("answerCallbackQuery", callback_query_id="123")
        assert error_of(invented) == too_old
        late = await user.press(user.last_received, "yes")
        clock.advance(16)
        assert error_of(await tg.call("answerCallbackQuery", callback_query_id=late.query_id)) == (
            too_old
        )


async def test_documents_upload_by_multipart_and_resend_by_file_id(
    fake_telegram: FakeTelegram,
) -> None:
    user = started_user(fake_telegram)
    upload = UploadedFile("summary.txt", b"Your week in reflections", "text/plain")
    sent = await fake_telegram.call(
        "sendDocument",
        chat_id=user.id,
        document=upload,
        caption="<b>Summary</b>",
        parse_mode="HTML",
    )
    document = sent["result"]["document"]
    assert document["file_name"] == "summary.txt"
    assert document["mime_type"] == "text/plain"
    assert document["file_size"] == len(b"Your week in reflections")
    assert sent["result"]["caption"] == "Summary"
    assert sent["result"]["caption_entities"] == [{"offset": 0, "length": 7, "type": "bold"}]
    again = await fake_telegram.call("sendDocument", chat_id=user.id, document=document["file_id"])
    assert again["result"]["document"]["file_id"] == document["file_id"]
    assert [m.file.content for m in user.received() if m.file] == [b"Your week in reflections"] * 2
    unknown = await fake_telegram.call("sendDocument", chat_id=user.id, document="nope")
    assert error_of(unknown) == (400, "Bad Request: wrong file identifier/HTTP URL specified")
    empty = await fake_telegram.call(
        "sendDocument", chat_id=user.id, document=UploadedFile("e.txt", b"")
    )
    assert error_of(empty) == (400, "Bad Request: file must be non-empty")
    missing = await fake_telegram.call("sendDocument", chat_id=user.id)
    assert error_of(missing) == (400, "Bad Request: there is no document in the request")


async def test_photos_report_their_size_and_can_be_fetched(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    sent = await fake_telegram.call(
        "sendPhoto", chat_id=user.id, photo=UploadedFile("p.png", TINY_PNG, "image/png")
    )
    [size] = sent["result"]["photo"]
    assert (size["width"], size["height"]) == (1, 1)
    info = (await fake_telegram.call("getFile", file_id=size["file_id"]))["result"]
    assert fake_telegram.download(fake_telegram.token, info["file_path"]) == (200, TINY_PNG)


async def test_commands_are_stored_per_scope_and_language(fake_telegram: FakeTelegram) -> None:
    commands = [
        {"command": "reflect", "description": "Start a reflection"},
        {"command": "pause", "description": "Pause for now"},
    ]
    assert (await fake_telegram.call("setMyCommands", commands=commands))["result"] is True
    assert (await fake_telegram.call("getMyCommands"))["result"] == commands
    assert fake_telegram.commands() == ["reflect", "pause"]
    scoped = await fake_telegram.call("getMyCommands", scope={"type": "all_private_chats"})
    assert scoped["result"] == []
    bad = await fake_telegram.call(
        "setMyCommands", commands=[{"command": "Reflect", "description": "x"}]
    )
    assert error_of(bad) == (400, "Bad Request: BOT_COMMAND_INVALID")
    await fake_telegram.call("deleteMyCommands")
    assert fake_telegram.commands() == []


async def test_chat_actions_are_recorded_and_validated(fake_telegram: FakeTelegram) -> None:
    user = started_user(fake_telegram)
    assert (await fake_telegram.call("sendChatAction", chat_id=user.id, action="typing"))["ok"]
    assert [action.action for action in user.chat_actions] == ["typing"]
    wrong = await fake_telegram.call("sendChatAction", chat_id=user.id, action="thinking")
    assert error_of(wrong) == (400, "Bad Request: wrong parameter action in request")


async def test_get_me_describes_the_bot(fake_telegram: FakeTelegram) -> None:
    me = (await fake_telegram.call("getMe"))["result"]
    assert me["is_bot"] is True
    assert me["username"] == fake_telegram.bot_username
    assert me["can_read_all_group_messages"] is False


async def test_unknown_methods_and_tokens_are_refused_like_telegram(
    fake_telegram: FakeTelegram,
) -> None:
    unknown = await fake_telegram.call("sendPoll", chat_id=1, question="?")
    assert error_of(unknown) == (404, "Not Found")
    wrong_token = await fake_telegram.handle("123456:" + "A" * 35, "getMe", {})
    assert (wrong_token.status, wrong_token.payload["description"]) == (401, "Unauthorized")
    malformed = await fake_telegram.handle("not-a-token", "getMe", {})
    assert (malformed.status, malformed.payload["description"]) == (404, "Not Found")
    case_insensitive = await fake_telegram.call("GETME")
    assert case_insensitive["ok"]


@pytest.mark.parametrize("mode", ["Markdown", "MarkdownV2"])
async def test_markdown_is_refused_loudly_rather_than_passed_unchecked(
    fake_telegram: FakeTelegram, mode: str
) -> None:
    user = started_user(fake_telegram)
    payload = await fake_telegram.call("sendMessage", chat_id=user.id, text="*x*", parse_mode=mode)
    assert "does not check parse_mode" in error_of(payload)[1]


async def test_group_privacy_mode_only_delivers_what_the_bot_may_see(
    fake_telegram: FakeTelegram,
) -> None:
    alex = fake_telegram.user(1001, first_name="Alex")
    group = fake_telegram.group_chat("Team", members=[alex])
    await alex.send_text("just chatting", chat=group)
    await alex.send_command("/help", chat=group)
    await alex.send_text("/help@some_other_bot", chat=group)
    await alex.send_text(f"hey @{fake_telegram.bot_username}", chat=group)
    delivered = [update["message"]["text"] for update in fake_telegram.pending_updates()]
    assert delivered == ["/help", f"hey @{fake_telegram.bot_username}"]
    assert fake_telegram.pending_updates()[0]["message"]["chat"]["type"] == "group"

    sent = await fake_telegram.call("sendMessage", chat_id=group.id, text="Please DM me")
    assert group.texts == ["Please DM me"]
    await alex.send_text("ok", chat=group, reply_to=sent["result"]["message_id"])
    assert fake_telegram.pending_updates()[-1]["message"]["text"] == "ok"

    group.remove_bot(by=alex)
    kicked = await fake_telegram.call("sendMessage", chat_id=group.id, text="hello?")
    assert error_of(kicked) == (403, "Forbidden: bot is not a member of the group chat")


async def test_descriptions_are_stored_per_language(fake_telegram: FakeTelegram) -> None:
    intro = "A private place to reflect after a difficult session."
    assert (await fake_telegram.call("setMyDescription", description=intro))["result"] is True
    assert (await fake_telegram.call("getMyDescription"))["result"] == {"description": intro}
    welsh = await fake_telegram.call("getMyDescription", language_code="cy")
    assert welsh["result"] == {"description": ""}
    too_long = await fake_telegram.call("setMyShortDescription", short_description="x" * 121)
    assert error_of(too_long) == (400, "Bad Request: short_description is too long")
