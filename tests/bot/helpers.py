"""Talking to a real Companion over a real database, as any channel would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.companion import Companion
from dialogues.catalogue import default_catalogue
from dialogues.core import Event, Reply
from dialogues.identifiers import default_identifier_guard
from dialogues.safety import default_risk_screen
from prompts.rendering import html_to_plain, render_html
from storage import KeyRing


class StepClock:
    """A clock that moves a minute every time it is read, so entries get distinct times."""

    def __init__(self, start: datetime = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def make_companion(
    sessions: async_sessionmaker[AsyncSession], keyring: KeyRing, clock: StepClock | None = None
) -> Companion:
    return Companion(
        sessions,
        keyring,
        catalogue=default_catalogue(),
        risk_screen=default_risk_screen(),
        identifier_guard=default_identifier_guard(),
        clock=clock or StepClock(),
    )


@dataclass
class Chat:
    """One practitioner's side of the conversation."""

    companion: Companion
    user_id: int
    last: list[Reply] = field(default_factory=list)

    async def send(self, event: Event) -> list[Reply]:
        self.last = await self.companion.handle(self.user_id, event)
        return self.last

    async def command(self, name: str) -> list[Reply]:
        return await self.send(Event.command(name))

    async def say(self, text: str) -> list[Reply]:
        return await self.send(Event.text(text))

    async def pick(self, label: str) -> list[Reply]:
        question = [r for r in self.last if r.options][-1]
        for option in question.options:
            if option.label.removeprefix("✓ ") == label or option.label.startswith(label):
                return await self.send(Event.choice(option.value, question.token))
        raise AssertionError(f"no option {label!r} in {[o.label for o in question.options]}")

    @property
    def text(self) -> str:
        return "\n".join(html_to_plain(render_html(r.template, r.data)) for r in self.last)

    @property
    def templates(self) -> list[str]:
        return [r.template for r in self.last]

    async def consent(self) -> None:
        await self.command("start")
        await self.pick("I agree")

    async def reflect(self, challenge: str, next_step: str = "Ask for a caseload review") -> None:
        """A whole reflection, start to finish."""
        await self.command("reflect")
        if "resume_offer.j2" in self.templates or "expand_offer.j2" in self.templates:
            await self.pick("Start afresh" if "resume_offer.j2" in self.templates else "New")
        await self.say("4")
        await self.say(challenge)
        await self.pick("Caseload and targets")
        await self.pick("Teamwork")
        await self.pick("Done")
        await self.say("We look after each other")
        await self.say("The referral rate is not mine to control")
        await self.command("skip")
        await self.pick("Planning and prioritising")
        await self.say(next_step)
        await self.pick("Tomorrow")
        await self.say("6")
        assert "Saved privately" in self.text, self.text
