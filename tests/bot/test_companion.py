"""The companion over real storage: what practitioners notice across messages and restarts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogues.core import Event
from storage import Conversation, Entry, KeyRing, User, UserKey
from tests.bot.helpers import Chat, StepClock, make_companion

ALEX, SAM = 1001, 1002


@pytest.fixture
async def chat(session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing) -> Chat:
    """A practitioner who has consented, talking to a fresh companion."""
    chat = Chat(make_companion(session_factory, keyring), ALEX)
    await chat.consent()
    return chat


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_nothing_is_stored_before_consent(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    chat = Chat(make_companion(session_factory, keyring), ALEX)
    await chat.command("reflect")
    await chat.say("I had a rough call")
    await chat.command("start")
    await chat.pick("Not now")
    for model in (User, UserKey, Conversation, Entry):
        assert await count(session_factory, model) == 0


async def test_a_whole_reflection_is_saved_and_listed_in_history(chat: Chat) -> None:
    await chat.reflect("Twelve calls back to back")
    await chat.command("history")
    assert "1–1 of 1" in chat.text
    await chat.send(Event.choice(chat.last[0].options[0].value))
    assert "Twelve calls back to back" in chat.text
    assert "Ask for a caseload review (Tomorrow)" in chat.text
    assert "We look after each other" in chat.text


async def test_paused_reflection_resumes_after_restart(
    chat: Chat, session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    await chat.command("reflect")
    await chat.say("3")
    await chat.say("A client cried for the whole call")
    await chat.command("pause")
    # A new companion (a restarted process) over the same database and master key.
    restarted = Chat(make_companion(session_factory, keyring, StepClock()), ALEX)
    await restarted.command("reflect")
    assert restarted.templates == ["resume_offer.j2"]
    await restarted.pick("Carry on")
    assert restarted.templates[-1] == "reflect_category.j2"
    await restarted.pick("Emotional weight of client material")
    assert restarted.templates[-1] == "reflect_values.j2"


async def test_unfinished_reflection_continues_after_restart_without_pausing(
    chat: Chat, session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    await chat.command("reflect")
    await chat.say("5")
    restarted = Chat(make_companion(session_factory, keyring), ALEX)
    await restarted.say("Supervision was cancelled again")
    assert restarted.templates == ["reflect_category.j2"]


async def test_history_pages_newest_first(chat: Chat) -> None:
    for n in range(7):
        await chat.reflect(f"Challenge number {n}")
    await chat.command("history")
    assert "1–5 of 7" in chat.text
    first_page = [o.label for o in chat.last[0].options]
    assert first_page[-1] == "Older ›"
    await chat.send(Event.choice(chat.last[0].options[0].value))
    assert "Challenge number 6" in chat.text  # newest first
    await chat.command("history")
    await chat.pick("Older ›")
    assert "6–7 of 7" in chat.text
    await chat.send(Event.choice(chat.last[0].options[1].value))
    assert "Challenge number 0" in chat.text


async def test_practitioners_never_see_each_others_entries(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    companion = make_companion(session_factory, keyring)
    alex, sam = Chat(companion, ALEX), Chat(companion, SAM)
    await alex.consent()
    await sam.consent()
    await alex.reflect("My own private words")
    await alex.command("history")
    alex_entry = alex.last[0].options[0].value  # "open:<id>"
    await sam.command("history")
    assert "haven't saved any reflections" in sam.text
    await sam.send(Event.choice(alex_entry))  # a tampered or forwarded button
    assert "couldn't find that entry" in sam.text
    assert "private words" not in sam.text


async def test_export_contains_every_word_and_forget_erases_everything(
    chat: Chat, session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    await chat.reflect("Export me please")
    await chat.command("export")
    attachment = chat.last[0].attachment
    assert attachment is not None
    exported = json.loads(attachment.content)
    assert exported["entries"][0]["your_words"]["challenge"] == "Export me please"
    await chat.command("forget")
    await chat.pick("No, keep it")
    assert await count(session_factory, Entry) == 1
    await chat.command("forget")
    await chat.pick("Yes, erase everything")
    assert "Everything has been erased" in chat.text
    for model in (User, UserKey, Conversation, Entry):
        assert await count(session_factory, model) == 0
    await chat.command("reflect")
    assert chat.templates == ["welcome.j2"]  # consent is asked afresh


async def test_quick_debrief_is_parked_then_expanded_by_the_next_reflection(
    chat: Chat, session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    await chat.command("quick")
    await chat.pick("Phone and remote contact load")
    await chat.say("7")
    await chat.say("Nine calls, no break")
    await chat.command("reflect")
    assert chat.templates == ["expand_offer.j2"]
    await chat.pick("Expand it")
    while "reflect_summary.j2" not in chat.templates:
        await chat.command("skip")
    await chat.command("reflect")
    assert chat.templates == ["reflect_intro.j2", "reflect_arrive.j2"]  # nothing left parked
    async with session_factory() as session:
        quick = await session.scalar(select(Entry).where(Entry.kind == "quick"))
        assert quick is not None and quick.expanded_into_id is not None


async def test_a_question_shown_before_history_still_accepts_its_buttons(chat: Chat) -> None:
    await chat.command("reflect")
    await chat.say("5")
    await chat.say("Too many referrals")
    category_question = chat.last[-1]
    await chat.command("history")
    assert chat.templates[-1] == "reflect_category.j2"
    await chat.send(Event.choice("caseload", category_question.token))
    assert chat.templates == ["reflect_values.j2"]


async def test_an_old_erase_button_pressed_later_erases_nothing(
    chat: Chat, session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing
) -> None:
    await chat.reflect("Keep this one")
    await chat.command("forget")
    old_confirmation = chat.last[0]
    await chat.pick("No, keep it")
    await chat.command("reflect")
    await chat.send(Event.choice("forget:yes", old_confirmation.token))
    assert "earlier question" in chat.text
    await chat.send(Event.choice("forget:yes"))  # made up, no question number at all
    assert "earlier question" in chat.text
    assert await count(session_factory, Entry) == 1
