"""One OS process running a check-in dispatcher, for the several-processes test.

    python -m tests.bot.checkin_worker URL SCHEMA DUE_ISO OUT_FILE

It connects, says "ready", waits for "go" on standard input (so that both workers start
together), sends every due prompt it can claim, and appends each practitioner's id to
OUT_FILE as it "sends". The test then counts what both processes sent.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.checkins import CheckinDispatcher
from dialogues.core import Reply
from storage.database import create_engine, session_factory


class FileSender:
    """Records each prompt in a file, flushed at once, as a real send would be visible."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    async def send(self, user_id: int, reply: Reply) -> None:
        self._file.write(f"{user_id}\n")
        self._file.flush()
        await asyncio.sleep(0)  # let the other coroutines (and so the other process) move


async def main(url: str, schema: str, due: datetime, out: Path) -> None:
    engine = create_engine(url)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _search_path(_dialect: Any, _record: Any, _cargs: Any, cparams: Any) -> None:
        cparams["server_settings"] = {"search_path": schema}

    dispatcher = CheckinDispatcher(session_factory(engine), FileSender(out), clock=lambda: due)
    async with engine.connect():
        pass  # connect before saying ready, so start-up cost is not part of the race
    print("ready", flush=True)
    sys.stdin.readline()
    await dispatcher.run_due()
    await engine.dispose()


if __name__ == "__main__":
    url, schema, due_iso, out_file = sys.argv[1:5]
    asyncio.run(main(url, schema, datetime.fromisoformat(due_iso), Path(out_file)))
