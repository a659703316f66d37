"""Every dialogue works in Telegram: keyboards, free text, HTML, long texts, odd input, groups."""

from __future__ import annotations

import json

import pytest

from bot.telegram.callbacks import MAX_CALLBACK_BYTES
from storage import Conversation, Entry, User
from tests.bot.harness import Harness, TelegramUpdate, latest_question
from tests.bot.scripts import Step, answers_for, consent_script, reflection_script
from tests.botapi import TelegramUser
from tests.botapi.html import parse_html


async def run_steps(h: Harness, user: TelegramUser, steps: list[Step]) -> None:
    """Play a script, checking after each step that the bot's latest words are as expected."""
    for step in steps:
        if step.action == "type":
            await h.say(user, step.value)
        elif step.action == "command":
            await h.command(user, step.value)
        else:
            await h.press(user, step.value)
        latest = user.received()[-1].body
        assert step.expect in latest, f"after {step.action} {step.value!r}: {latest!r}"


async def reflect_until(h: Harness, user: TelegramUser, expect: str) -> None:
    """Consent, then answer a reflection until the bot asks for ``expect``."""
    steps = [*consent_script(), *reflection_script(answers_for(1))]
    for index, step in enumerate(steps):
        await run_steps(h, user, [step])
        if expect in user.received()[-1].body:
            return
        assert index < len(steps) - 1, f"never reached {expect!r}"


async def test_a_whole_reflection_in_telegram_is_saved_with_the_practitioners_words(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    answers = answers_for(1)

    await run_steps(h, priya, [*consent_script(), *reflection_script(answers)])

    summary = priya.received()[-1]
    assert "Saved privately" in summary.text
    assert answers.next_step in summary.text
    (entry,) = await h.entries(1001)
    assert entry.private["challenge"] == answers.challenge
    assert entry.private["value_why"] == answers.value_why
    assert entry.private["next_step"] == answers.next_step
    assert [a["answer"] for a in entry.private["appraisals"]] == [
        answers.appraisal_1,
        answers.appraisal_2,
    ]
    assert (entry.rating_before, entry.rating_after) == (
        answers.rating_before,
        answers.rating_after,
    )
    assert entry.category == "caseload" and entry.values == ("teamwork",)

    listing = (await h.command(priya, "history"))[-1]
    assert "Your reflections" in listing.text
    opened = await h.press(priya, listing.button_texts[0])
    assert answers.challenge in opened[-1].text


async def test_choices_are_inline_keyboards_whose_data_fits_in_64_bytes(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "Coping.")  # the step with the longest option labels
    for message in priya.received(include_deleted=True):
        for data in message.callback_data:
            assert len(data.encode()) <= MAX_CALLBACK_BYTES
    question = latest_question(priya)
    assert "Planning and prioritising" in question.button_texts
    assert question.button_texts[-4:] == ["Skip", "Back", "Pause", "Cancel"]
    # Nothing in Telegram's copy of the keyboard is a bare option code someone could edit.
    assert all(data.count("|") == 2 for data in question.callback_data)


async def test_ticking_a_value_updates_the_question_in_place(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "Your values.")
    question = latest_question(priya)
    sent_before = len(priya.received(include_deleted=True))

    await h.press(priya, "Teamwork")
    await h.press(priya, "Quality, safe care")

    assert len(priya.received(include_deleted=True)) == sent_before  # no new messages
    edited = priya.message(question.message_id)
    assert "Chosen so far: Teamwork, Quality, safe care" in edited.text
    assert "✓ Teamwork" in edited.button_texts
    await h.press(priya, "Done")
    assert "Why does Teamwork and Quality, safe care matter" in priya.received()[-1].text


async def test_an_answered_question_loses_its_buttons(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "Which of these is closest")
    question = latest_question(priya)
    await h.press(priya, "Caseload and targets")
    assert priya.message(question.message_id).buttons == []
    assert "Your values." in latest_question(priya).text


async def test_what_the_practitioner_wrote_is_escaped_in_html(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "One next step.")
    tricky = 'Write <b>notes</b> & "plan" the <i>day</i> </pre> <a href="x">'
    await h.say(priya, tricky)
    await h.press(priya, "Tomorrow")
    summary = (await h.say(priya, "7"))[-1]

    assert tricky in summary.text  # shown literally, exactly as typed
    assert summary.parse_mode == "HTML"
    assert "notes" not in summary.entities_of_type("bold")
    (entry,) = await h.entries(1001)
    assert entry.private["next_step"] == tricky


async def test_long_replies_are_split_into_messages_under_4096_characters(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    await h.command(priya, "reflect")
    await h.say(priya, "5")
    long_answers = [
        " ".join(f"{word}{n}" for n in range(120) for word in ("calm",))[:1400] + f" end{i}"
        for i in range(5)
    ]
    await h.say(priya, long_answers[0])
    await h.press(priya, "Caseload and targets")
    await h.press(priya, "Teamwork")
    await h.press(priya, "Done")
    for answer in long_answers[1:4]:
        await h.say(priya, answer)
    await h.press(priya, "Planning and prioritising")
    await h.say(priya, long_answers[4])
    await h.press(priya, "Tomorrow")
    await h.say(priya, "6")

    listing = (await h.command(priya, "history"))[-1]
    parts = await h.press(priya, listing.button_texts[0])

    assert len(parts) >= 2
    assert all(0 < len(part.text) <= 4096 for part in parts)
    whole = " ".join(part.text for part in parts)
    for answer in long_answers:
        assert answer in whole
    assert "Reflection," in parts[0].text and parts[0].entities_of_type("bold")


@pytest.mark.parametrize(
    ("send", "kind"),
    [
        ("send_photo", "photo"),
        ("send_sticker", "sticker"),
        ("send_voice", "voice note"),
        ("send_document", "file"),
        ("send_location", "location"),
    ],
)
async def test_non_text_messages_get_an_explanation_and_the_question_again(
    steady_telegram: Harness, send: str, kind: str
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "Which of these is closest")
    question = latest_question(priya)

    await getattr(priya, send)()
    replies = await h._new(priya)

    # One message: the explanation, then the same question with its buttons.
    (reply,) = replies
    assert f"I can only read typed messages, so I haven't kept that {kind}" in reply.text
    assert reply.text.endswith(question.text) and reply.buttons
    # The question kept its number: the buttons shown earlier still work.
    await priya.press(question, text="Caseload and targets")
    await h.pump()
    assert "Your values." in priya.received()[-1].text


async def test_a_captioned_photo_is_not_taken_as_an_answer(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "The challenge.")
    await priya.send_photo(caption="this caption is not an answer")
    await h.pump()
    assert "haven't kept that photo" in priya.received()[-1].text
    assert "The challenge." in priya.received()[-1].text


async def test_non_text_with_nothing_in_progress_points_to_the_commands(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await priya.send_voice()
    (reply,) = await h._new(priya)
    assert "I can only read typed messages" in reply.text and "/reflect" in reply.text
    assert await h.user_row(1001) is None  # nothing stored without consent


async def test_an_edited_message_neither_advances_nor_rewrites_the_dialogue(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "The challenge.")
    original = await priya.send_text("A long wait for an interpreter")
    await h.pump()
    assert "Which of these is closest" in priya.received()[-1].text

    await priya.edit_message(original, "Something else entirely")
    replies = await h._new(priya)

    assert "Edits don't change anything" in replies[0].text
    assert "Which of these is closest" in replies[-1].text  # still on the same step
    await h.press(priya, "Caseload and targets")
    while "Saved privately" not in priya.received()[-1].text:
        await h.command(priya, "skip")
    (entry,) = await h.entries(1001)
    assert entry.private["challenge"] == "A long wait for an interpreter"


async def test_a_group_chat_is_declined_politely_and_nothing_is_stored(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya, sam = h.tg.user(1001, "Priya"), h.tg.user(1002, "Sam")
    team = h.tg.group_chat("PWP team", members=[priya, sam])
    await priya.send_command("/start", chat=team)
    await sam.send_text("@steady_test_bot what do you do? I had a rough call", chat=team)
    await sam.send_text("just chatting among ourselves", chat=team)  # not for the bot
    team.remove_bot(by=priya)
    team.add_bot(by=sam)  # added again: it says hello and explains, once
    await h.pump()

    replies = team.received()
    assert len(replies) == 3
    assert all("only talk one to one" in reply.text for reply in replies)
    assert priya.received() == [] and sam.received() == []
    for table in (User, Conversation, Entry):
        assert await h.count(table) == 0
    assert await h.pending_journal() == 0
    assert b"rough call" not in await h.raw_database_bytes()


async def test_a_tampered_button_changes_nothing_and_gets_a_polite_answer(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "Which of these is closest")
    question = latest_question(priya)
    genuine = question.button("Caseload and targets").callback_data
    assert genuine is not None
    value, token, signature = genuine.split("|")
    sent_before = len(priya.received(include_deleted=True))

    for forged in (f"admin|{token}|{signature}", f"{value}|{token}|AAAAAAAAAAAAAAAA", "admin"):
        press = await priya.press(question, forged, check=False)
        await h.pump()
        answer = await priya.wait_for_answer(press)
        assert answer.text is not None and "nothing has changed" in answer.text

    assert len(priya.received(include_deleted=True)) == sent_before
    await h.press(priya, "Caseload and targets")  # the real question still works
    assert "Your values." in priya.received()[-1].text


async def test_another_practitioners_button_is_refused(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya, sam = h.tg.user(1001, "Priya"), h.tg.user(1002, "Sam")
    await reflect_until(h, priya, "Which of these is closest")
    await h.consented(sam)
    await h.command(sam, "reflect")
    priyas_button = latest_question(priya).button("Caseload and targets").callback_data
    sams_question = latest_question(sam)

    press = await sam.press(sams_question, priyas_button, check=False)
    await h.pump()

    assert "nothing has changed" in ((await sam.wait_for_answer(press)).text or "")
    assert "How are you feeling right now" in latest_question(sam).text


async def test_a_stale_button_gets_a_polite_answer_and_changes_nothing(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await reflect_until(h, priya, "Which of these is closest")
    old_question = latest_question(priya)
    stale_data = old_question.button("Overtime and admin backlog").callback_data
    await h.press(priya, "Caseload and targets")

    press = await priya.press(old_question, stale_data, check=False)  # pressed again, later
    replies = await h._new(priya)

    await priya.wait_for_answer(press)
    assert "earlier question" in replies[0].text
    assert "Your values." in replies[-1].text
    await h.press(priya, "Teamwork")
    await h.press(priya, "Done")
    await h.command(priya, "pause")
    await h.command(priya, "reflect")
    await h.press(priya, "Carry on")
    await h.command(priya, "back")
    await h.command(priya, "back")
    assert "Earlier you chose: Caseload and targets" in priya.received()[-1].text


async def test_export_arrives_as_a_document(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await run_steps(h, priya, [*consent_script(), *reflection_script(answers_for(3))])
    (document,) = await h.command(priya, "export")
    assert document.kind == "document" and document.file is not None
    exported = json.loads(document.file.content)
    assert exported["entries"][0]["your_words"]["challenge"] == answers_for(3).challenge
    assert "1 saved entry" in (document.caption or "")


async def test_every_message_sent_is_valid_telegram_html(steady_telegram: Harness) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await run_steps(h, priya, [*consent_script(), *reflection_script(answers_for(4))])
    await h.command(priya, "help")
    for message in h.tg.sent_messages:
        assert message.parse_mode == "HTML"
        parse_html(message.source_text or "")  # raises on anything Telegram would refuse


async def test_the_command_menu_is_registered(steady_telegram: Harness) -> None:
    await steady_telegram.channel.register_commands()
    commands = steady_telegram.tg.commands()
    assert {"reflect", "quick", "checkin", "history", "help", "cancel"} <= set(commands)


async def test_journal_keeps_no_payload_once_updates_are_handled(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await run_steps(h, priya, [*consent_script(), *reflection_script(answers_for(5))])
    async with h.steady.sessions() as session:
        from sqlalchemy import select

        rows = (await session.execute(select(TelegramUpdate.payload))).scalars().all()
    assert rows and all(payload is None for payload in rows)


async def test_what_a_turn_says_arrives_as_one_message_with_the_question(
    steady_telegram: Harness,
) -> None:
    h = steady_telegram
    priya = h.tg.user(1001, "Priya")
    await h.consented(priya)
    replies = await h.command(priya, "reflect")
    # The introduction and the first question travel together: no second-long wait between.
    (reply,) = replies
    assert "You can /skip, /back, /pause or /cancel" in reply.text
    assert "How are you feeling right now" in reply.text and reply.buttons
