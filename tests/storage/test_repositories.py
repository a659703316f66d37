"""Users, conversation state and entries as the dialogues will use them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import (
    Conversation,
    ConversationConflictError,
    Entry,
    EntryNotFoundError,
    KeyDestroyedError,
    User,
    UserKey,
)
from tests.storage.conftest import UnitOfWork

ALICE, BOB = 1001, 2002
AddUser = Callable[[int], Awaitable[None]]


# Users, consent and erasure


async def test_granting_consent_creates_the_user_with_a_data_key(
    unit_of_work: UnitOfWork, now: datetime
) -> None:
    async with unit_of_work() as repos:
        await repos.users.grant_consent(ALICE, now=now, version="2025-03")

    async with unit_of_work() as repos:
        user = await repos.users.get(ALICE)
        assert user is not None
        assert (user.created_at, user.consented_at, user.consent_version) == (now, now, "2025-03")
        assert user.timezone == "Europe/London"
        assert user.unreachable_since is None
        await repos.vault.sealer_for(ALICE)  # a key exists


async def test_consenting_again_keeps_the_existing_key(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        first_key = await repos.session.get(UserKey, ALICE)
        assert first_key is not None
        original = first_key.wrapped_key
        later = now + timedelta(days=30)
        user = await repos.users.grant_consent(ALICE, now=later, version="2025-06")

    assert (user.created_at, user.consented_at, user.consent_version) == (now, later, "2025-06")
    async with unit_of_work() as repos:
        key = await repos.session.get(UserKey, ALICE)
        assert key is not None and key.wrapped_key == original


async def test_withdrawing_consent_forgets_it(unit_of_work: UnitOfWork, add_user: AddUser) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        await repos.users.withdraw_consent(ALICE)

    async with unit_of_work() as repos:
        user = await repos.users.get(ALICE)
        assert user is not None
        assert (user.consented_at, user.consent_version) == (None, None)


async def test_unreachable_keeps_the_first_refusal_until_reachable_again(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        await repos.users.mark_unreachable(ALICE, now)
        await repos.users.mark_unreachable(ALICE, now + timedelta(hours=1))
    async with unit_of_work() as repos:
        user = await repos.users.get(ALICE)
        assert user is not None and user.unreachable_since == now
        await repos.users.mark_reachable(ALICE)

    async with unit_of_work() as repos:
        user = await repos.users.get(ALICE)
        assert user is not None and user.unreachable_since is None


async def test_unknown_user_is_absent_and_has_no_key(unit_of_work: UnitOfWork) -> None:
    async with unit_of_work() as repos:
        assert await repos.users.get(ALICE) is None
        await repos.users.mark_unreachable(ALICE, datetime.now(UTC))  # quietly nothing
        with pytest.raises(KeyDestroyedError):
            await repos.vault.sealer_for(ALICE)


async def test_erasure_removes_everything_about_the_user_and_nobody_else(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    for user_id in (ALICE, BOB):
        await add_user(user_id)
        async with unit_of_work() as repos:
            quick = await repos.entries.add(user_id, kind="quick", created_at=now, private={})
            reflection = await repos.entries.add(
                user_id, kind="reflection", created_at=now, private={}
            )
            await repos.entries.mark_expanded(user_id, quick, reflection)
            await repos.conversations.save(user_id, {"step": "arrive"}, now=now)

    async with unit_of_work() as repos:
        await repos.users.erase(ALICE)

    async with unit_of_work() as repos:
        for model, column in (
            (User, User.id),
            (UserKey, UserKey.user_id),
            (Conversation, Conversation.user_id),
            (Entry, Entry.user_id),
        ):
            counts = dict(
                (
                    await repos.session.execute(
                        select(column, func.count()).select_from(model).group_by(column)
                    )
                ).all()
            )
            assert ALICE not in counts, model.__name__
            assert BOB in counts, model.__name__
        assert len(await repos.entries.export(BOB)) == 2


# Conversation state


async def test_conversation_state_survives_between_units_of_work(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    state = {"dialogue": "reflection", "step": "phase_2", "answers": {"what": "A long call"}}
    async with unit_of_work() as repos:
        assert await repos.conversations.load(ALICE) is None
        await repos.conversations.save(ALICE, state, now=now)

    async with unit_of_work() as repos:
        assert await repos.conversations.load(ALICE) == state


async def test_each_save_bumps_the_version(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    versions = []
    for step in range(3):
        async with unit_of_work() as repos:
            await repos.conversations.save(ALICE, {"step": step}, now=now)
        async with unit_of_work() as repos:
            row = await repos.session.get(Conversation, ALICE)
            assert row is not None
            versions.append(row.version)

    assert versions == [1, 2, 3]


async def test_saving_over_a_newer_state_is_refused(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        await repos.conversations.save(ALICE, {"step": "arrive"}, now=now)

    async with unit_of_work() as slow:
        assert await slow.conversations.load(ALICE) == {"step": "arrive"}
        await slow.session.commit()  # e.g. the handler awaited something in between
        async with unit_of_work() as fast:
            await fast.conversations.save(ALICE, {"step": "phase_1"}, now=now)
        with pytest.raises(ConversationConflictError):
            await slow.conversations.save(ALICE, {"step": "stale"}, now=now)
        await slow.session.rollback()

    async with unit_of_work() as repos:
        assert await repos.conversations.load(ALICE) == {"step": "phase_1"}


async def test_first_save_refused_when_another_unit_of_work_got_there_first(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as slow:
        assert await slow.conversations.load(ALICE) is None
        await slow.session.commit()
        async with unit_of_work() as fast:
            await fast.conversations.save(ALICE, {"step": "arrive"}, now=now)
        with pytest.raises(ConversationConflictError):
            await slow.conversations.save(ALICE, {"step": "stale"}, now=now)
        await slow.session.rollback()

    async with unit_of_work() as repos:
        assert await repos.conversations.load(ALICE) == {"step": "arrive"}


async def test_clearing_forgets_the_conversation(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        await repos.conversations.save(ALICE, {"step": "arrive"}, now=now)
        await repos.conversations.clear(ALICE)
        assert await repos.conversations.load(ALICE) is None
        await repos.conversations.save(ALICE, {"step": "again"}, now=now)

    async with unit_of_work() as repos:
        assert await repos.conversations.load(ALICE) == {"step": "again"}


async def test_nothing_is_kept_unless_the_unit_of_work_commits(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        await repos.conversations.save(ALICE, {"step": "arrive"}, now=now)
        await repos.entries.add(ALICE, kind="quick", created_at=now, private={})
        await repos.session.rollback()

    async with unit_of_work() as repos:
        assert await repos.conversations.load(ALICE) is None
        assert await repos.entries.page(ALICE, offset=0, limit=10) == ([], 0)


# Entries


async def test_entry_round_trips_codes_ratings_and_private_text(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    private = {"what_happened": "Risk call overran", "next_step": "Book supervision slot"}
    async with unit_of_work() as repos:
        entry_id = await repos.entries.add(
            ALICE,
            kind="reflection",
            created_at=now,
            private=private,
            category="complexity_and_risk",
            values=["quality_safe_care", "own_wellbeing"],
            strategy="using_supervision",
            rating_before=3,
            rating_after=6,
            next_step_due=date(2025, 3, 17),
        )

    async with unit_of_work() as repos:
        view = await repos.entries.get(ALICE, entry_id)

    assert view is not None
    assert (view.id, view.kind, view.created_at) == (entry_id, "reflection", now)
    assert view.category == "complexity_and_risk"
    assert view.values == ("quality_safe_care", "own_wellbeing")
    assert (view.strategy, view.rating_before, view.rating_after) == ("using_supervision", 3, 6)
    assert (view.intensity, view.next_step_due) == (None, date(2025, 3, 17))
    assert view.expanded_into_id is None
    assert view.private == private
    assert "Risk call" not in repr(view)


async def test_pages_run_newest_first_with_a_total(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    await add_user(BOB)
    async with unit_of_work() as repos:
        # Written out of order, and two at the same instant (the later id counts as newer).
        ids = {}
        for label, minutes in (("b", 10), ("a", 0), ("d", 20), ("c", 10)):
            ids[label] = await repos.entries.add(
                ALICE,
                kind="quick",
                created_at=now + timedelta(minutes=minutes),
                private={"label": label},
            )
        await repos.entries.add(BOB, kind="quick", created_at=now, private={"label": "bob"})

    async with unit_of_work() as repos:
        first, total = await repos.entries.page(ALICE, offset=0, limit=3)
        second, _ = await repos.entries.page(ALICE, offset=3, limit=3)
        exported = await repos.entries.export(ALICE)

    assert total == 4
    assert [v.private["label"] for v in first] == ["d", "c", "b"]
    assert [v.private["label"] for v in second] == ["a"]
    assert [v.id for v in exported] == [ids["a"], ids["b"], ids["c"], ids["d"]]


async def test_an_entry_is_only_shown_to_its_owner(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    await add_user(BOB)
    async with unit_of_work() as repos:
        alice_entry = await repos.entries.add(
            ALICE, kind="quick", created_at=now, private={"n": "Alice only"}
        )

    async with unit_of_work() as repos:
        assert await repos.entries.get(BOB, alice_entry) is None
        assert await repos.entries.get(ALICE, alice_entry + 999) is None
        assert await repos.entries.page(BOB, offset=0, limit=10) == ([], 0)


async def test_parked_quick_debrief_is_found_until_expanded(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        older = await repos.entries.add(ALICE, kind="quick", created_at=now, private={})
        newer = await repos.entries.add(
            ALICE, kind="quick", created_at=now + timedelta(hours=1), private={}
        )
        await repos.entries.add(
            ALICE, kind="reflection", created_at=now + timedelta(hours=2), private={}
        )

    async with unit_of_work() as repos:
        parked = await repos.entries.latest_parked_quick(ALICE)
        assert parked is not None and parked.id == newer
        reflection = await repos.entries.add(
            ALICE, kind="reflection", created_at=now + timedelta(hours=3), private={}
        )
        await repos.entries.mark_expanded(ALICE, newer, reflection)

    async with unit_of_work() as repos:
        expanded = await repos.entries.get(ALICE, newer)
        assert expanded is not None and expanded.expanded_into_id == reflection
        parked = await repos.entries.latest_parked_quick(ALICE)
        assert parked is not None and parked.id == older


async def test_expanding_refuses_entries_of_the_wrong_user_or_kind(
    unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    await add_user(BOB)
    async with unit_of_work() as repos:
        quick = await repos.entries.add(ALICE, kind="quick", created_at=now, private={})
        reflection = await repos.entries.add(ALICE, kind="reflection", created_at=now, private={})
        bobs = await repos.entries.add(BOB, kind="reflection", created_at=now, private={})

    async with unit_of_work() as repos:
        for user_id, quick_id, reflection_id in (
            (BOB, quick, bobs),  # not Bob's quick debrief
            (ALICE, quick, bobs),  # not Alice's reflection
            (ALICE, reflection, reflection),  # not a quick debrief
            (ALICE, quick, quick),  # not a reflection
        ):
            with pytest.raises(EntryNotFoundError):
                await repos.entries.mark_expanded(user_id, quick_id, reflection_id)


async def test_times_come_back_in_utc_whatever_zone_they_were_written_in(
    unit_of_work: UnitOfWork, add_user: AddUser
) -> None:
    await add_user(ALICE)
    british_summer = timezone(timedelta(hours=1))
    written = datetime(2025, 6, 2, 17, 45, 30, 123456, tzinfo=british_summer)
    async with unit_of_work() as repos:
        entry_id = await repos.entries.add(ALICE, kind="quick", created_at=written, private={})

    async with unit_of_work() as repos:
        view = await repos.entries.get(ALICE, entry_id)

    assert view is not None
    assert view.created_at == written
    assert view.created_at.tzinfo == UTC
    assert view.created_at.hour == 16


async def test_naive_times_are_refused(unit_of_work: UnitOfWork, add_user: AddUser) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        with pytest.raises(StatementError, match="timezone-aware"):
            await repos.entries.add(
                ALICE, kind="quick", created_at=datetime(2025, 1, 1, 9, 0), private={}
            )
        await repos.session.rollback()


async def test_unknown_kinds_and_out_of_range_ratings_are_refused(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        with pytest.raises(ValueError, match="unknown entry kind"):
            await repos.entries.add(ALICE, kind="diary", created_at=now, private={})
        with pytest.raises(IntegrityError):
            await repos.entries.add(
                ALICE, kind="quick", created_at=now, private={}, rating_before=11
            )
        await repos.session.rollback()


async def test_entries_cannot_be_added_for_an_unknown_user(
    unit_of_work: UnitOfWork, now: datetime
) -> None:
    async with unit_of_work() as repos:
        with pytest.raises(KeyDestroyedError):
            await repos.entries.add(ALICE, kind="quick", created_at=now, private={})
