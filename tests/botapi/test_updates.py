"""Updates: what users' actions look like to the bot, and getUpdates' confirmation rules."""

import asyncio
from typing import Any

from tests.botapi import FakeTelegram


async def get_updates(tg: FakeTelegram, **params: Any) -> list[dict[str, Any]]:
    payload = await tg.call("getUpdates", **params)
    assert payload["ok"], payload
    result: list[dict[str, Any]] = payload["result"]
    return result


async def test_commands_arrive_with_a_bot_command_entity(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001, first_name="Priya", username="priya_pwp")
    await user.send_command("/reflect", args="after my 2pm call")
    [update] = await get_updates(fake_telegram)
    message = update["message"]
    assert message["text"] == "/reflect after my 2pm call"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 8}]
    assert message["from"] == {
        "id": 1001,
        "is_bot": False,
        "first_name": "Priya",
        "username": "priya_pwp",
        "language_code": "en",
    }
    assert message["chat"] == {
        "id": 1001,
        "first_name": "Priya",
        "username": "priya_pwp",
        "type": "private",
    }


async def test_plain_text_has_no_entities_and_commands_need_a_word_boundary(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001)
    await user.send_text("and/or is fine")
    await user.send_text("try /pause later")
    first, second = await get_updates(fake_telegram)
    assert "entities" not in first["message"]
    assert second["message"]["entities"] == [{"type": "bot_command", "offset": 4, "length": 6}]


async def test_update_ids_increase_and_offset_confirms_earlier_updates(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001)
    for text in ("one", "two", "three"):
        await user.send_text(text)
    updates = await get_updates(fake_telegram)
    ids = [update["update_id"] for update in updates]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert [u["message"]["text"] for u in updates] == ["one", "two", "three"]
    # Unconfirmed updates come back again.
    assert await get_updates(fake_telegram) == updates
    rest = await get_updates(fake_telegram, offset=ids[1])
    assert [u["message"]["text"] for u in rest] == ["two", "three"]
    assert await get_updates(fake_telegram, offset=ids[2] + 1) == []
    await user.send_text("four")
    [later] = await get_updates(fake_telegram)
    assert later["update_id"] == ids[2] + 1


async def test_limit_and_negative_offset(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001)
    for number in range(5):
        await user.send_text(f"m{number}")
    assert [u["message"]["text"] for u in await get_updates(fake_telegram, limit=2)] == [
        "m0",
        "m1",
    ]
    last_two = await get_updates(fake_telegram, offset=-2)
    assert [u["message"]["text"] for u in last_two] == ["m3", "m4"]
    # Everything before those was forgotten.
    assert len(await get_updates(fake_telegram)) == 2


async def test_long_poll_waits_for_an_update_and_wakes_at_once(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001)
    poll = asyncio.create_task(fake_telegram.call("getUpdates", timeout=30))
    await asyncio.sleep(0)  # let the poll start waiting
    assert not poll.done()
    await user.send_text("hello")
    payload = await asyncio.wait_for(poll, timeout=1)
    assert [u["message"]["text"] for u in payload["result"]] == ["hello"]


async def test_long_poll_returns_empty_when_its_timeout_passes(
    fake_telegram: FakeTelegram,
) -> None:
    assert await get_updates(fake_telegram, timeout=0.01) == []


async def test_a_newer_poll_ends_the_older_one_with_409(fake_telegram: FakeTelegram) -> None:
    older = asyncio.create_task(fake_telegram.call("getUpdates", timeout=30))
    await asyncio.sleep(0)
    newer = await fake_telegram.call("getUpdates", timeout=0)
    assert newer == {"ok": True, "result": []}
    ended = await asyncio.wait_for(older, timeout=1)
    assert ended["error_code"] == 409
    assert ended["description"] == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot "
        "instance is running"
    )


async def test_allowed_updates_filters_new_updates(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001)
    await get_updates(fake_telegram, allowed_updates=["callback_query"])
    await user.send_text("not wanted")
    assert await get_updates(fake_telegram) == []
    await get_updates(fake_telegram, allowed_updates=[])  # back to Telegram's default
    await user.send_text("wanted")
    assert len(await get_updates(fake_telegram)) == 1


async def test_edits_presses_and_media_arrive_as_telegram_shapes_them(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001)
    said = await user.send_text("draft")
    await user.edit_message(said, "final")
    bot_message = await fake_telegram.call(
        "sendMessage",
        chat_id=user.id,
        text="Rate it",
        reply_markup={"inline_keyboard": [[{"text": "5", "callback_data": "rate:5"}]]},
    )
    await user.press(user.last_received, text="5")
    await user.press(user.last_received, "rate:999", check=False)
    await user.send_photo(caption="whiteboard")
    await user.send_voice(duration=7)
    await user.send_sticker("🙂")
    await user.send_document(file_name="plan.txt")
    await user.send_location()
    updates = await get_updates(fake_telegram)
    kinds = [next(key for key in update if key != "update_id") for update in updates]
    assert (
        kinds == ["message", "edited_message", "callback_query", "callback_query"] + ["message"] * 5
    )
    edited = updates[1]["edited_message"]
    assert (edited["message_id"], edited["text"]) == (said.message_id, "final")
    assert "edit_date" in edited
    press = updates[2]["callback_query"]
    assert press["data"] == "rate:5"
    assert press["message"]["message_id"] == bot_message["result"]["message_id"]
    assert press["message"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "5"
    assert press["from"]["id"] == 1001
    assert press["chat_instance"]
    assert updates[3]["callback_query"]["data"] == "rate:999"
    photo = updates[4]["message"]
    assert photo["caption"] == "whiteboard"
    assert photo["photo"][0]["width"] == 1
    assert updates[5]["message"]["voice"]["duration"] == 7
    assert updates[6]["message"]["sticker"]["emoji"] == "🙂"
    assert updates[7]["message"]["document"]["file_name"] == "plan.txt"
    assert updates[8]["message"]["location"]["latitude"] > 51


async def test_blocking_and_unblocking_tell_the_bot(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001)
    await user.send_command("/start")
    user.block()
    user.unblock()
    updates = await get_updates(fake_telegram)
    changes = [u["my_chat_member"] for u in updates if "my_chat_member" in u]
    assert [(c["old_chat_member"]["status"], c["new_chat_member"]["status"]) for c in changes] == [
        ("member", "kicked"),
        ("kicked", "member"),
    ]
    assert changes[0]["new_chat_member"]["user"]["id"] == fake_telegram.bot_id


async def test_waiting_for_messages_wakes_on_the_bots_reply(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001)
    await user.send_text("hello")

    async def bot_replies_later() -> None:
        await asyncio.sleep(0)
        await fake_telegram.call("sendMessage", chat_id=user.id, text="Hi Alex")
        await fake_telegram.call("sendMessage", chat_id=user.id, text="How are you?")

    reply_task = asyncio.create_task(bot_replies_later())
    first = await user.next_messages(1)
    second = await user.next_messages(1)
    await reply_task
    assert [m.text for m in first + second] == ["Hi Alex", "How are you?"]
    assert [m.text for m in await user.wait_for_messages(2)] == ["Hi Alex", "How are you?"]


async def test_waiting_too_long_fails_the_test_with_what_was_sent(
    fake_telegram: FakeTelegram,
) -> None:
    user = fake_telegram.user(1001, has_started=True)
    await fake_telegram.call("sendMessage", chat_id=user.id, text="only one")
    try:
        await user.wait_for_messages(2, timeout=0.01)
    except AssertionError as failure:
        assert "only one" in str(failure)
    else:
        raise AssertionError("expected the wait to fail")
