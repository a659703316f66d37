"""``steady chat``: the same dialogues in a terminal, interactive or scripted."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.terminal import run_terminal
from dialogues.core import Event, Reply
from storage import KeyRing
from tests.bot.helpers import make_companion

REFLECTION_SCRIPT = """\
1
4
Twelve calls back to back and no lunch
Caseload and targets
3
5
done
Clients deserve my full attention
/skip
It was fine to ask for help
planning and prioritising
Ask for a caseload review on Monday
2
6
"""


async def chat(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, script: str, tmp: Path
) -> str:
    companion = make_companion(session_factory, keyring)

    async def handle(event: Event) -> list[Reply]:
        return await companion.handle(-1, event)

    out = io.StringIO()
    status = await run_terminal(
        handle, io.StringIO(script), out, export_dir=tmp, opening=Event.command("reflect")
    )
    assert status == 0
    return out.getvalue()


async def test_scripted_reflection_by_number_and_by_label(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    output = await chat(session_factory, keyring, REFLECTION_SCRIPT, tmp_path)
    assert "  1. I agree" in output
    assert "  1. Caseload and targets" in output
    assert "Coping: Planning and prioritising" in output
    assert "Next step: Ask for a caseload review on Monday (Tomorrow)" in output
    assert "Feeling: 4 → 6" in output
    assert "Saved privately" in output
    assert "<b>" not in output  # formatting is stripped for the terminal


async def test_pause_then_resume_in_a_later_terminal_session(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    first = await chat(session_factory, keyring, "I agree\n5\n/pause\n", tmp_path)
    assert "kept as a draft" in first
    second = await chat(session_factory, keyring, "Carry on\nA tough referral\n", tmp_path)
    assert "unfinished reflection" in second
    assert "Which of these is closest to the challenge?" in second


async def test_invalid_answers_are_reasked_in_the_terminal(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    output = await chat(session_factory, keyring, "1\neleven\n42\n/nonsense\n", tmp_path)
    assert output.count("whole number from 0 to 10") == 2
    assert "I don't know the command /nonsense" in output


async def test_quick_debrief_and_history_in_the_terminal(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    script = "1\n/cancel\n/quick\n3\n8\nLong call\n/history\n1\n/export\n"
    output = await chat(session_factory, keyring, script, tmp_path)
    assert "Parked and saved privately" in output
    assert "Quick debrief" in output and "Note: Long call" in output
    exports = list(tmp_path.glob("steady-export-*.json"))
    assert len(exports) == 1 and "Long call" in exports[0].read_text()
    assert exports[0].stat().st_mode & 0o077 == 0


def test_steady_chat_reads_piped_input_until_the_end_and_exits_0(tmp_path: Path) -> None:
    """The installed command, as the README runs it, on the embedded SQLite store."""
    result = run_steady_chat(REFLECTION_SCRIPT, tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "Saved privately" in result.stdout
    assert (tmp_path / "data" / "steady.db").exists()
    key_file = tmp_path / "data" / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    # A second run finds the reflection in the same store.
    again = run_steady_chat("/history\n", tmp_path / "data")
    assert again.returncode == 0, again.stderr
    assert "1–1 of 1" in again.stdout


@pytest.mark.parametrize("line", ["", "   ", "\u200b"])
def test_blank_lines_are_ignored(line: str) -> None:
    from bot.terminal import TerminalChat

    async def never(event: Event) -> list[Reply]:
        raise AssertionError("blank lines must not reach the dialogue")

    terminal = TerminalChat(never, io.StringIO(), Path("."))
    assert terminal.event_for(line) is None


async def test_back_skip_and_cancel_in_the_terminal(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    script = "1\n5\nA hard call\n/back\nA very hard call\n/skip\n/skip\n/cancel\n/history\n"
    output = await chat(session_factory, keyring, script, tmp_path)
    assert output.count("What happened?") == 2  # /back asked the challenge again
    assert "Which values did this touch?" in output  # /skip moved past the category
    assert "Nothing from that reflection was saved" in output
    assert "haven't saved any reflections" in output


async def test_quick_debrief_paused_then_resumed_after_restart(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    first = await chat(session_factory, keyring, "1\n/cancel\n/quick\n3\n/pause\n", tmp_path)
    assert "quick debrief is kept as a draft" in first
    second = await chat(session_factory, keyring, "/cancel\n/quick\nCarry on\n9\n/skip\n", tmp_path)
    assert "unfinished quick debrief" in second
    assert "Parked and saved privately" in second


def run_steady_chat(script: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEADY_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("STEADY_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_paused_reflection_resumes_in_a_new_process(tmp_path: Path) -> None:
    first = run_steady_chat("I agree\n4\nA tense supervision\n/pause\n", tmp_path / "data")
    assert first.returncode == 0, first.stderr
    second = run_steady_chat("Carry on\nOrganisational change or staffing\n", tmp_path / "data")
    assert second.returncode == 0, second.stderr
    assert "unfinished reflection" in second.stdout
    assert "Which values did this touch?" in second.stdout


async def test_checkin_settings_and_a_weekly_check_in_in_the_terminal(
    session_factory: async_sessionmaker[AsyncSession], keyring: KeyRing, tmp_path: Path
) -> None:
    script = "1\n/cancel\n/checkin\nTurn on\nChange time\n9am\nSave\n/weekly\n8\n/skip\n"
    output = await chat(session_factory, keyring, script, tmp_path)
    assert "  1. Turn on" in output
    assert "Your check-in will come on Fridays at 09:00 (Europe/London)" in output
    assert "How are you doing this week" in output
    assert "Thank you for checking in" in output
