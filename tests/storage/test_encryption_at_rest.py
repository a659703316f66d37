"""Free text is unreadable at rest, bound to its owner, and gone for good once a key is."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import DecryptionError, KeyDestroyedError
from storage.repositories import ENTRY_PURPOSE
from tests.storage.conftest import UnitOfWork

ALICE, BOB = 1001, 2002
SECRET = "Zephyrine-Quokka-7731 said the waiting list made her cry, naïve of me"
SECRET_PARTS = (SECRET, "Zephyrine-Quokka-7731", "waiting list made her cry")
CATEGORY = "caseload_and_targets"

AddUser = Callable[[int], Awaitable[None]]


def _leaks(data: bytes) -> list[str]:
    """Which encodings of the secret appear in ``data``."""
    found = []
    for part in SECRET_PARTS:
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            if part.encode(encoding) in data:
                found.append(f"{part!r} as {encoding}")
    return found


def _sqlite_files(database: Path) -> bytes:
    """Every byte SQLite keeps for the database: main file, WAL and shared memory."""
    suffixes = ("", "-wal", "-shm", "-journal")
    paths = [database.with_name(database.name + suffix) for suffix in suffixes]
    return b"".join(path.read_bytes() for path in paths if path.exists())


async def _write_secret(unit_of_work: UnitOfWork, add_user: AddUser, now: datetime) -> int:
    await add_user(ALICE)
    async with unit_of_work() as repos:
        entry_id = await repos.entries.add(
            ALICE,
            kind="reflection",
            created_at=now,
            private={"what_happened": SECRET, "why_it_matters": SECRET},
            category=CATEGORY,
            values=["making_a_difference"],
            rating_before=3,
            rating_after=6,
        )
        await repos.conversations.save(ALICE, {"draft": {"answer": SECRET}}, now=now)
    return entry_id


async def test_free_text_never_reaches_the_database_in_clear(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await _write_secret(unit_of_work, add_user, now)

    if engine.dialect.name == "sqlite":
        database = Path(str(engine.url.database))
        while_open = _sqlite_files(database)
        await engine.dispose()
        after_close = _sqlite_files(database)
        for raw in (while_open, after_close):
            assert CATEGORY.encode() in raw  # the scan does see what is stored in clear
            assert _leaks(raw) == []
    else:
        async with engine.connect() as connection:
            blobs = (
                await connection.execute(
                    text("SELECT body FROM entries UNION ALL SELECT payload FROM conversations")
                )
            ).scalars()
            rows = (
                await connection.execute(
                    text(
                        "SELECT row_to_json(e)::text FROM entries e "
                        "UNION ALL SELECT row_to_json(c)::text FROM conversations c"
                    )
                )
            ).scalars()
            raw = b"".join(bytes(blob) for blob in blobs)
            as_text = "\n".join(rows).encode()
        assert len(raw) > len(SECRET) * 3
        assert CATEGORY.encode() in as_text
        assert _leaks(raw) == []
        assert _leaks(as_text) == []


async def test_one_users_key_cannot_read_another_users_entry(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await add_user(ALICE)
    await add_user(BOB)
    async with unit_of_work() as repos:
        alice_entry = await repos.entries.add(
            ALICE, kind="quick", created_at=now, private={"note": SECRET}
        )
        bob_entry = await repos.entries.add(BOB, kind="quick", created_at=now, private={"n": "x"})
    swap = (
        "UPDATE entries SET body = (SELECT body FROM entries WHERE id = :source) WHERE id = :target"
    )
    async with engine.begin() as connection:
        await connection.execute(text(swap), {"source": alice_entry, "target": bob_entry})

    async with unit_of_work() as repos:
        with pytest.raises(DecryptionError):
            await repos.entries.get(BOB, bob_entry)


async def test_swapped_wrapped_keys_do_not_unlock_anything(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser
) -> None:
    await add_user(ALICE)
    await add_user(BOB)
    async with engine.begin() as connection:
        keys = dict(
            (await connection.execute(text("SELECT user_id, wrapped_key FROM user_keys"))).all()
        )
        for user_id, other in ((ALICE, BOB), (BOB, ALICE)):
            await connection.execute(
                text("UPDATE user_keys SET wrapped_key = :key WHERE user_id = :user"),
                {"key": keys[other], "user": user_id},
            )

    async with unit_of_work() as repos:
        for user_id in (ALICE, BOB):
            with pytest.raises(DecryptionError):
                await repos.vault.sealer_for(user_id)


async def test_conversation_blob_cannot_pass_as_an_entry(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    entry_id = await _write_secret(unit_of_work, add_user, now)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE entries SET body = (SELECT payload FROM conversations) WHERE id = :id"),
            {"id": entry_id},
        )

    async with unit_of_work() as repos:
        with pytest.raises(DecryptionError):
            await repos.entries.get(ALICE, entry_id)


async def test_entry_rows_that_outlive_the_key_cannot_be_read(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    entry_id = await _write_secret(unit_of_work, add_user, now)
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM user_keys WHERE user_id = :u"), {"u": ALICE})

    async with unit_of_work() as repos:
        with pytest.raises(KeyDestroyedError):
            await repos.entries.get(ALICE, entry_id)
        with pytest.raises(KeyDestroyedError):
            await repos.entries.export(ALICE)
        with pytest.raises(KeyDestroyedError):
            await repos.conversations.load(ALICE)


async def test_erasure_leaves_earlier_copies_of_the_text_unreadable(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    await _write_secret(unit_of_work, add_user, now)
    async with engine.connect() as connection:
        copied = bytes((await connection.execute(text("SELECT body FROM entries"))).scalar_one())

    async with unit_of_work() as repos:
        await repos.users.erase(ALICE)
    await _assert_copy_unreadable(unit_of_work, add_user, copied)


async def test_erasure_defeats_a_database_file_copied_beforehand(
    engine: AsyncEngine, unit_of_work: UnitOfWork, add_user: AddUser, now: datetime
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("file copies are a SQLite matter")
    await _write_secret(unit_of_work, add_user, now)
    database = Path(str(engine.url.database))
    await engine.dispose()  # checkpoint the WAL so the main file is a complete copy
    backup = database.with_name("backup.db")
    shutil.copyfile(database, backup)

    async with unit_of_work() as repos:
        await repos.users.erase(ALICE)
    with sqlite3.connect(backup) as copy:
        (copied,) = copy.execute("SELECT body FROM entries").fetchone()
    copy.close()
    await _assert_copy_unreadable(unit_of_work, add_user, copied)


async def _assert_copy_unreadable(unit_of_work: UnitOfWork, add_user: AddUser, blob: bytes) -> None:
    async with unit_of_work() as repos:
        with pytest.raises(KeyDestroyedError):
            await repos.vault.sealer_for(ALICE)
    # Even if Alice comes back, her new key has nothing to do with the old one.
    await add_user(ALICE)
    async with unit_of_work() as repos:
        sealer = await repos.vault.sealer_for(ALICE)
        with pytest.raises(DecryptionError):
            sealer.open_json(ENTRY_PURPOSE, blob)
