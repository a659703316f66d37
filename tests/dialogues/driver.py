"""A practitioner talking to the pure dialogue layer, with no storage and no channel."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from dialogues.catalogue import default_catalogue
from dialogues.checkin import CheckinSettings, FollowUp
from dialogues.conversation import Conversation, ConversationState, ParkedQuick, Situation
from dialogues.core import Effect, Event, GrantConsent, Reply, SaveEntry
from prompts.rendering import html_to_plain, render_html

NOW = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)


class NoRisk:
    def screen(self, text: str) -> object | None:
        return None


class NoIdentifiers:
    def find(self, text: str, *, today: date) -> list[Any]:
        return []


def real_screens() -> tuple[Any, Any]:
    from dialogues.identifiers import default_identifier_guard
    from dialogues.safety import default_risk_screen

    return default_risk_screen(), default_identifier_guard()


@dataclass
class Practitioner:
    """Sends events, keeps the state as the application would (through JSON), records effects."""

    consented: bool = True
    parked_quick: ParkedQuick | None = None
    checkin: CheckinSettings | None = None
    follow_up: FollowUp | None = None
    state: ConversationState = field(default_factory=ConversationState)
    effects: list[Effect] = field(default_factory=list)
    last: list[Reply] = field(default_factory=list)
    screens: tuple[Any, Any] = field(default_factory=real_screens)

    def send(self, event: Event) -> list[Reply]:
        ctx = Situation(
            catalogue=default_catalogue(),
            risk_screen=self.screens[0],
            identifier_guard=self.screens[1],
            now=NOW,
            consented=self.consented,
            parked_quick=self.parked_quick,
            checkin=self.checkin,
            follow_up=self.follow_up,
        )
        # Round-trip through JSON exactly as storage would, so nothing unserialisable hides.
        self.state = ConversationState.from_json(json.loads(json.dumps(self.state.to_json())))
        replies = Conversation().handle(self.state, event, ctx)
        for reply in replies.replies:
            render_html(reply.template, reply.data)  # every reply must render (StrictUndefined)
        self.effects.extend(replies.effects)
        if any(isinstance(e, GrantConsent) for e in replies.effects):
            self.consented = True
        self.last = replies.replies
        return replies.replies

    # conveniences -------------------------------------------------------------------------
    def command(self, name: str) -> list[Reply]:
        return self.send(Event.command(name))

    def say(self, text: str) -> list[Reply]:
        return self.send(Event.text(text))

    def pick(self, label: str) -> list[Reply]:
        """Press the button with this label on the latest question."""
        question = self.question
        for option in question.options:
            if option.label.removeprefix("✓ ") == label:
                return self.send(Event.choice(option.value, question.token))
        raise AssertionError(f"no option {label!r} in {[o.label for o in question.options]}")

    @property
    def question(self) -> Reply:
        asking = [r for r in self.last if r.options or r.controls]
        assert asking, f"no question asked; got {self.templates}"
        return asking[-1]

    @property
    def templates(self) -> list[str]:
        return [r.template for r in self.last]

    @property
    def text(self) -> str:
        return "\n".join(html_to_plain(render_html(r.template, r.data)) for r in self.last)

    @property
    def saved(self) -> list[SaveEntry]:
        return [e for e in self.effects if isinstance(e, SaveEntry)]

    @property
    def step(self) -> str | None:
        return self.state.active["state"] if self.state.active else None
