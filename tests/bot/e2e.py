"""Driving a real ``steady run`` subprocess against the loopback Bot API stand-in.

`SteadyProcess` starts, kills and stops the bot; `KillSwitch` wraps the stand-in so the bot
is SIGKILLed at chosen Bot API calls (before Telegram acts on the call, or after it acted but
before the bot hears back); `play` is a scripted practitioner who only ever waits for events.
"""

# Waits take a `timeout` on purpose: it is how long a test tolerates silence before failing.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bot.harness import latest_question
from tests.bot.scripts import Step
from tests.botapi import BotApiServer, ChatMessage, FakeTelegram, TelegramUser
from tests.botapi.errors import SimulatedConnectionFailure

REPO_ROOT = Path(__file__).resolve().parents[2]
PATIENCE = 60.0  # seconds a practitioner waits for an answer (restarts included) before failing


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def steady_env(
    server: BotApiServer, data_dir: Path, master_key: str, **extra: str
) -> dict[str, str]:
    """The environment of a ``steady run`` that talks to the stand-in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STEADY_", "TELEGRAM_", "DATABASE_URL"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        TELEGRAM_BOT_TOKEN=server.telegram.token,
        TELEGRAM_API_BASE_URL=server.base_url,
        STEADY_DATA_DIR=str(data_dir),
        STEADY_MASTER_KEY=master_key,
        STEADY_LOG_LEVEL="DEBUG",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


@dataclass
class SteadyProcess:
    """One ``steady run`` at a time, restartable, with its logs appended to one file."""

    env: Mapping[str, str]
    log_path: Path
    args: tuple[str, ...] = ()
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    kills: int = 0

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", *self.args,
                cwd=REPO_ROOT, env=dict(self.env),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.kills += 1

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    async def ensure_stopped(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    @property
    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class KillSwitch:
    """SIGKILLs the bot at seeded-random Bot API calls, then starts it again.

    The bot is killed while it waits for the stand-in's answer, either before the stand-in acts
    on the call (as if the process died just before sending) or after it acted (as if it died
    before hearing back): the two moments where losing or repeating something is possible.
    """

    telegram: FakeTelegram
    bot: SteadyProcess
    seed: int
    kills: int
    gap: tuple[int, int] = (40, 160)
    moments: list[tuple[int, str, str]] = field(default_factory=list)
    _calls: int = 0
    _next: int = 0
    _restarting: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._next = self._rng.randint(*self.gap)
        original = self.telegram.handle

        async def handle(token: str, method: str, params: Any, files: Any = None) -> Any:
            if method.lower() in ("getme", "setmycommands", "deletewebhook", "setwebhook"):
                return await original(token, method, params, files)
            self._calls += 1
            if self._calls < self._next or len(self.moments) >= self.kills:
                return await original(token, method, params, files)
            self._next = self._calls + self._rng.randint(*self.gap)
            moment = self._rng.choice(("before", "after"))
            self.moments.append((self._calls, method, moment))
            if moment == "after":
                await original(token, method, params, files)
            self.bot.kill()
            self._restarting = asyncio.create_task(self._restart())
            raise SimulatedConnectionFailure(method, received=moment == "after")

        self.telegram.handle = handle  # type: ignore[method-assign]

    async def _restart(self) -> None:
        assert self.bot.process is not None
        await self.bot.process.wait()
        await self.bot.start()

    async def settle(self) -> None:
        """Wait for a restart in progress."""
        if self._restarting is not None:
            await self._restarting


def _answer(user: TelegramUser, before: Mapping[int, str], expect: str) -> ChatMessage | None:
    """The new (or newly edited) bot message that says ``expect``, if it has come."""
    for message in reversed(user.received()):
        if expect in message.body and before.get(message.message_id) != message.body:
            return message
    return None


async def play(user: TelegramUser, steps: list[Step], patience: float = PATIENCE) -> None:
    """Carry out ``steps``, each time waiting (on events, never a clock) for the expected reply.

    The answer may come as a new message or as an edit of an earlier one. Like a person, the
    practitioner presses buttons on the question they have just been shown (which, after a
    restart repeated a message, is not always the bottom one).
    """
    shown: ChatMessage | None = None
    for step in steps:
        before = {m.message_id: m.body for m in user.received()}
        question = shown if shown is not None and shown.buttons else None
        if step.action == "type":
            await user.send_text(step.value)
        elif step.action == "command":
            await user.send_command(step.value)
        elif step.action == "press_first":
            question = question or latest_question(user)
            await user.press(question, question.callback_data[0])
        else:
            await user.press(question or latest_question(user), text=step.value)
        await user.wait_until(
            lambda step=step, before=before: _answer(user, before, step.expect) is not None,  # type: ignore[misc]
            patience,
            f"{step.expect!r} after {step.action} {step.value!r}",
        )
        shown = _answer(user, before, step.expect)


def original_text(message: ChatMessage) -> str:
    """The text a bot message was first sent with (before any edit)."""
    return message.history[0] if message.history else message.body


def collapse_repeats(texts: list[str], longest: int = 4) -> tuple[list[str], int]:
    """Remove blocks repeated back to back (a batch re-sent after a crash); count removals."""
    result: list[str] = []
    removed = 0
    index = 0
    while index < len(texts):
        for size in range(1, longest + 1):
            block = texts[index : index + size]
            if len(block) == size and len(result) >= size and result[-size:] == block:
                removed += size
                index += size
                break
        else:
            result.append(texts[index])
            index += 1
    return result, removed
