"""The vocabulary shared by every dialogue and every channel.

A channel turns what a practitioner did into an :class:`Event`; a dialogue answers with
:class:`Reply` objects (a template name, its data, the options offered) and :class:`Effect`
objects that the application carries out against storage. Nothing here knows about Telegram,
the terminal or the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """What the practitioner did."""

    TEXT = "text"  # typed something
    CHOICE = "choice"  # picked one of the options we offered
    COMMAND = "command"  # a slash command such as /reflect, or a control such as skip


@dataclass(frozen=True)
class Event:
    """One thing a practitioner did, as a dialogue sees it.

    ``token`` is the question number a pressed button was issued for (None when typed), so a
    button from an earlier question can be told apart from an answer to the current one.
    """

    kind: EventKind
    value: str
    token: int | None = None

    @classmethod
    def text(cls, value: str) -> Event:
        """The practitioner typed ``value``."""
        return cls(EventKind.TEXT, value)

    @classmethod
    def choice(cls, value: str, token: int | None = None) -> Event:
        """The practitioner picked the option whose value is ``value``."""
        return cls(EventKind.CHOICE, value, token)

    @classmethod
    def command(cls, name: str) -> Event:
        """The practitioner sent a command; ``name`` has no leading slash and is lower case."""
        return cls(EventKind.COMMAND, name.lstrip("/").lower())


# Controls available while a dialogue is asking something. Their names double as commands.
SKIP, BACK, PAUSE, CANCEL = "skip", "back", "pause", "cancel"
CONTROLS = (SKIP, BACK, PAUSE, CANCEL)


@dataclass(frozen=True)
class Option:
    """Something the practitioner can pick: a short stable value and the label they see."""

    value: str
    label: str


@dataclass(frozen=True)
class Attachment:
    """A file to hand to the practitioner alongside a reply (an export, for instance)."""

    filename: str
    content: bytes
    media_type: str = "application/json"


@dataclass(frozen=True)
class Reply:
    """One message to show: the template that words it, the data it needs, what can be picked.

    ``controls`` lists which of skip/back/pause/cancel make sense for this question. ``token``
    is filled in by the application with the question number that buttons must echo back.
    """

    template: str
    data: Mapping[str, Any] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    controls: tuple[str, ...] = ()
    token: int | None = None
    attachment: Attachment | None = None


class Effect:
    """Something the application must do in storage as a result of a turn."""


@dataclass(frozen=True)
class SaveEntry(Effect):
    """Store a finished reflection or quick debrief.

    ``private`` holds every word the practitioner wrote; it is encrypted before it is stored.
    The other fields are codes and ratings, kept in clear for the practitioner's own summaries.
    """

    kind: str
    private: Mapping[str, Any]
    category: str | None = None
    values: tuple[str, ...] = ()
    strategy: str | None = None
    rating_before: int | None = None
    rating_after: int | None = None
    intensity: int | None = None
    next_step_due_days: int | None = None
    expands_quick_id: int | None = None


@dataclass(frozen=True)
class GrantConsent(Effect):
    """The practitioner agreed to the privacy notice of this version."""

    version: str


@dataclass
class Turn:
    """What handling one event produced."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def say(self, template: str, **data: Any) -> Reply:
        """Add a reply without options and return it."""
        reply = Reply(template, data)
        self.replies.append(reply)
        return reply

    def ask(
        self,
        template: str,
        options: tuple[Option, ...] = (),
        controls: tuple[str, ...] = (),
        **data: Any,
    ) -> Reply:
        """Add a reply that waits for an answer and return it."""
        reply = Reply(template, data, options, controls)
        self.replies.append(reply)
        return reply
