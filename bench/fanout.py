"""Weekly check-in fan-out under Telegram's limits, with a practitioner chatting throughout.

    python -m bench.fanout [--prompts 10000] [--global-rate 30] [--workers 2]
                           [--write docs/benchmarks.md]

Everything runs in this process on real time: Steady's store (SQLite, WAL, ``synchronous=FULL``),
the real Telegram channel (python-telegram-bot, long polling through Steady's own poller) and
the Bot API stand-in through its in-process request front, with flood control switched on at
``--global-rate`` messages a second overall (Telegram's 30 by default; 10,000 prompts then take
six minutes, and a larger figure scales the run up) and one a second per chat.

``--prompts`` practitioners are due a check-in at the same instant. One more practitioner does
whole reflections, pausing ``--think`` seconds before each answer: first with nothing else
going on (the baseline), then while :class:`bot.fanout.CheckinLoop` sends every prompt through
:class:`bot.fanout.FanoutSender`, sharing one :class:`bot.fanout.SendBudget` with the channel's
replies. Reported: prompts a second as a fraction of the allowed rate, duplicates and misses
counted per chat at the stand-in, 429s, and the chatting practitioner's reply latency (action to
the answer they wait for) in both phases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.app import create_app
from bot.checkins import CheckinDispatcher
from bot.fanout import CheckinLoop, FanoutSender, PacedOutbound, SendBudget
from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.telegram.receivers import Poller
from storage.crypto import encode_key
from tests.bot.e2e import _answer
from tests.bot.harness import latest_question
from tests.bot.scripts import Step, answers_for, consent_script, reflection_script
from tests.bot.test_checkins import FIRST_DUE, add_practitioners
from tests.botapi import FakeTelegram, RateLimits, TelegramUser, in_process_builder

SECTION = "## Weekly check-ins: fan-out"
CHATTER_ID = 9_000_001


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


@dataclass
class Phase:
    firsts: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)


@dataclass
class Turn:
    first: float  # seconds until the bot's first message (or edit) in answer
    answer: float  # seconds until the message the practitioner waits for
    shown: object


def _changed(user: TelegramUser, before: dict[int, str]) -> bool:
    return any(before.get(m.message_id) != m.body for m in user.received())


async def take_turn(user: TelegramUser, step: Step, shown: object) -> Turn:
    """One action and the wait for the answer."""
    before = {m.message_id: m.body for m in user.received()}
    started = time.perf_counter()
    if step.action == "type":
        await user.send_text(step.value)
    elif step.action == "command":
        await user.send_command(step.value)
    else:
        question = shown if getattr(shown, "buttons", None) else latest_question(user)
        await user.press(question, text=step.value)  # type: ignore[arg-type]
    await user.wait_until(lambda: _changed(user, before), 60.0, "an answer")
    first = time.perf_counter() - started
    await user.wait_until(lambda: _answer(user, before, step.expect) is not None, 60.0, step.expect)
    answer = time.perf_counter() - started
    return Turn(first, answer, _answer(user, before, step.expect))


async def converse(
    user: TelegramUser, phase: Phase, think: float, *, at_least: int, until: asyncio.Event
) -> None:
    """Whole reflections, one after another: ``at_least`` of them, and on until ``until``."""
    number = 0
    while number < at_least or not until.is_set():
        number += 1
        shown: object = None
        for step in reflection_script(answers_for(number, seed=7)):
            await asyncio.sleep(think)
            turn = await take_turn(user, step, shown)
            shown = turn.shown
            phase.firsts.append(turn.first)
            phase.answers.append(turn.answer)


@dataclass
class Outcome:
    prompts: int
    global_rate: float
    workers: int
    think: float
    seconds: float
    delivered: int
    duplicates: int
    missing: int
    rejections: int
    baseline: Phase
    during: Phase

    @property
    def fraction(self) -> float:
        return self.delivered / self.seconds / self.global_rate


async def run(args: argparse.Namespace, workdir: Path) -> Outcome:
    master_key = os.urandom(32)
    limits = RateLimits(global_per_second=int(args.global_rate), per_chat_per_second=1)
    async with FakeTelegram(rate_limits=limits, record_calls=False) as tg:
        settings = Settings(
            data_dir=workdir / "data", master_key=encode_key(master_key), telegram_token=tg.token
        )
        steady = await create_app(settings)
        application = in_process_builder(tg).updater(None).build()
        budget = SendBudget(global_per_second=args.global_rate, per_chat_per_second=1)
        channel = TelegramChannel(
            steady,
            application,
            master_key=master_key,
            outbound=PacedOutbound(application.bot, budget, interactive=True),
        )
        print(f"adding {args.prompts} practitioners due a check-in...", flush=True)
        await add_practitioners(steady.sessions, range(1, args.prompts + 1))
        for user_id in range(1, args.prompts + 1):
            tg.user(user_id, has_started=True)
        sender = FanoutSender(channel.renderer, PacedOutbound(application.bot, budget,
                                                              interactive=False))  # fmt: skip
        dispatcher = CheckinDispatcher(steady.sessions, sender, clock=lambda: FIRST_DUE)
        loop = CheckinLoop(dispatcher, workers=args.workers)
        async with application:
            poller = Poller(application.bot, channel.accept_parsed)
            await poller.prepare()
            polling = asyncio.create_task(poller.run())
            try:
                chatter = tg.user(CHATTER_ID, first_name="Chatting")
                shown: object = None
                for step in consent_script():
                    shown = (await take_turn(chatter, step, shown)).shown

                print("baseline: reflections with no fan-out...", flush=True)
                baseline = Phase()
                await converse(
                    chatter, baseline, args.think, at_least=args.baseline, until=_set_event()
                )

                print("fan-out with the practitioner chatting...", flush=True)
                during = Phase()
                finished = asyncio.Event()
                talking = asyncio.create_task(
                    converse(chatter, during, args.think, at_least=1, until=finished)
                )
                started = time.perf_counter()
                await loop.run_once()
                seconds = time.perf_counter() - started
                finished.set()
                await talking
            finally:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
                await channel.drain()
                await channel.close()
        await steady.close()
        per_chat = Counter(
            m.chat_id for m in tg.sent_messages if m.from_bot and 1 <= m.chat_id <= args.prompts
        )
        rejections = tg.rate_limiter.rejections if tg.rate_limiter else 0
    return Outcome(
        prompts=args.prompts,
        global_rate=args.global_rate,
        workers=args.workers,
        think=args.think,
        seconds=seconds,
        delivered=len(per_chat),
        duplicates=sum(count - 1 for count in per_chat.values()),
        missing=args.prompts - len(per_chat),
        rejections=rejections,
        baseline=baseline,
        during=during,
    )


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def report(outcome: Outcome) -> str:
    rows = [
        f"| {label} | {len(phase.firsts)} | {percentile(phase.firsts, 0.5):.0f} | "
        f"{percentile(phase.firsts, 0.99):.0f} | {max(phase.firsts) * 1000:.0f} | "
        f"{percentile(phase.answers, 0.5):.0f} | {percentile(phase.answers, 0.99):.0f} |"
        for label, phase in (("no fan-out (baseline)", outcome.baseline),
                             ("during the fan-out", outcome.during))
    ]  # fmt: skip
    rate = outcome.delivered / outcome.seconds
    return "\n".join(
        [
            SECTION,
            "",
            "```sh",
            f"python -m bench.fanout --prompts {outcome.prompts} --global-rate "
            f"{outcome.global_rate:g} --workers {outcome.workers} --write docs/benchmarks.md",
            "```",
            "",
            f"{outcome.prompts:,} practitioners due a weekly check-in at the same instant, sent by",
            f"`CheckinLoop` ({outcome.workers} claimants) through `FanoutSender` and the Bot API",
            "stand-in (in-process request front) with flood control on at "
            f"{outcome.global_rate:g} messages/s overall",
            "and 1/s per chat"
            + (
                " (Telegram's own limits)."
                if outcome.global_rate == 30
                else f": Telegram's 30/s scaled up {outcome.global_rate / 30:g} times, per chat "
                "unchanged."
            ),
            "Real time throughout; SQLite (WAL, `synchronous=FULL`),",
            "every prompt recorded before it is sent. One more practitioner does whole",
            f"reflections through the real Telegram channel, pausing {outcome.think:g} s before",
            "each answer, first alone (baseline) and then during the fan-out; latency is from",
            "their action to the answer they wait for. Machine: "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
            "",
            "| fan-out | figure | target |",
            "| --- | ---: | --- |",
            f"| prompts delivered | {outcome.delivered:,} of {outcome.prompts:,} | all |",
            f"| time | {outcome.seconds:.1f} s | |",
            f"| achieved rate | {rate:.1f}/s | |",
            f"| **fraction of the allowed rate** | **{outcome.fraction:.3f}** | at least 0.9 |",
            f"| duplicates (counted per chat at the stand-in) | **{outcome.duplicates}** | 0 |",
            f"| missing | {outcome.missing} | 0 |",
            f"| 429s from the stand-in | {outcome.rejections} | |",
            "",
            "Latency of the chatting practitioner, in ms: to the bot's first message in answer,",
            "and to the message they wait for. The channel sends what a turn says as one message",
            "with its question, so the two are the same unless an answer is split for length.",
            "",
            "| chatting practitioner | turns | first p50 | first p99 | first max "
            "| answer p50 | answer p99 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"**p99 reply latency during the fan-out: {percentile(outcome.during.firsts, 0.99):.0f}"
            f" ms to the first message (target under 1,000 ms; baseline "
            f"{percentile(outcome.baseline.firsts, 0.99):.0f} ms).**",
            "",
        ]
    )


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of ``path`` (or add it), leaving the rest alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        outcome = await run(args, Path(workdir))
    section = report(outcome)
    print(section)
    if args.write:
        write_section(Path(args.write), section)


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--global-rate", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", type=int, default=3, help="reflections in the baseline")
    parser.add_argument("--think", type=float, default=1.0, help="seconds before each answer")
    parser.add_argument("--write", metavar="MARKDOWN", help="record the figures in this file")
    asyncio.run(main(parser.parse_args()))
