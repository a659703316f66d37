"""The conversation around the dialogues: consent, commands, safety, identifiers, drafts.

:class:`Conversation` is pure: given one practitioner's :class:`ConversationState`, an
:class:`Event` and a :class:`Situation`, it updates the state and returns a :class:`Turn`. The
application loads the state before and saves it after, in the same unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from dialogues.answers import match_option
from dialogues.catalogue import Catalogue
from dialogues.checkin import CHECKIN_SETTINGS, WEEKLY, CheckinSettings, FollowUp
from dialogues.core import (
    CONTROLS,
    PAUSE,
    Event,
    EventKind,
    GrantConsent,
    Option,
    Turn,
)
from dialogues.form import FormDialogue, FormModel
from dialogues.quick import QUICK
from dialogues.reflection import REFLECTION

PRIVACY_NOTICE_VERSION = "2026-11"

# Commands the conversation answers itself. /history, /export and /forget need storage, so
# the application answers those.
COMMANDS = (
    "start", "reflect", "quick", "checkin", "weekly", "history", "help", "cancel", "skip", "back",
    "pause",
)  # fmt: skip
COMMAND_PREFIX_CONTROL = "ctl:"
DIALOGUES: dict[str, FormDialogue] = {
    d.name: d for d in (REFLECTION, QUICK, CHECKIN_SETTINGS, WEEKLY)
}


class RiskScreen(Protocol):
    """Anything that can tell whether a text suggests the writer may be at risk."""

    def screen(self, text: str) -> object | None: ...


class IdentifierFinder(Protocol):
    """Anything that can spot likely patient identifiers in a text."""

    def find(self, text: str, *, today: date) -> list[Any]: ...


@dataclass(frozen=True)
class ParkedQuick:
    """A quick debrief that has not yet been expanded into a reflection."""

    id: int
    created_at: datetime
    category: str | None
    intensity: int | None
    note: str | None


@dataclass(frozen=True)
class Situation:
    """What the application knows for this one event."""

    catalogue: Catalogue
    risk_screen: RiskScreen
    identifier_guard: IdentifierFinder
    now: datetime
    consented: bool
    parked_quick: ParkedQuick | None = None
    checkin: CheckinSettings | None = None  # supplied when /checkin starts
    follow_up: FollowUp | None = None  # supplied when a weekly check-in starts


@dataclass
class ConversationState:
    """Everything remembered between one practitioner's messages (stored encrypted)."""

    active: dict[str, Any] | None = None  # {"dialogue", "state", "answers"}
    paused: dict[str, dict[str, Any]] = field(default_factory=dict)  # dialogue name -> draft
    pending: dict[str, Any] | None = None  # a question outside the dialogue awaiting an answer
    token: int = 0  # number of the latest question; buttons echo it back

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"v": 1, "active": self.active, "paused": self.paused, "pending": self.pending,
                "token": self.token}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ConversationState:
        """Rebuild from :meth:`to_json` output; None or an unknown version starts afresh."""
        if not data or data.get("v") != 1:
            return cls()
        return cls(
            active=data.get("active"),
            paused=dict(data.get("paused") or {}),
            pending=data.get("pending"),
            token=int(data.get("token") or 0),
        )

    @property
    def has_draft(self) -> bool:
        """Whether a reflection is paused."""
        return REFLECTION.name in self.paused


def _menu() -> tuple[Option, ...]:
    return (Option("menu:reflect", "Reflect"), Option("menu:quick", "Quick debrief"))


class Conversation:
    """Routes one event to the right dialogue, around safety, consent and drafts."""

    def handle(self, state: ConversationState, event: Event, ctx: Situation) -> Turn:
        """Handle one event, updating ``state`` in place."""
        turn = self._route(state, event, ctx)
        self._number_questions(state, turn)
        return turn

    # --- routing ---------------------------------------------------------------------------
    def _route(self, state: ConversationState, event: Event, ctx: Situation) -> Turn:
        # Safety comes before everything else, consent included: nothing is stored by this.
        if event.kind is EventKind.TEXT and ctx.risk_screen.screen(event.value) is not None:
            state.pending = {"kind": "safety"}
            return self._safety_check(ctx)
        if not ctx.consented:
            # Nothing is remembered before consent, so there is no question number to check.
            if event.kind is EventKind.CHOICE and event.value.startswith("safety:"):
                return self._after_safety(state, event.value, ctx)
            return self._before_consent(state, event, ctx)
        if event.kind is EventKind.CHOICE and event.token not in (None, state.token):
            turn = Turn()
            turn.say("stale_button.j2")
            self.reask(state, ctx, turn)
            return turn
        if event.kind is EventKind.CHOICE and event.value.startswith("safety:"):
            return self._after_safety(state, event.value, ctx)
        if event.kind is EventKind.COMMAND:
            return self._command(state, event.value, ctx)
        if event.kind is EventKind.CHOICE and event.value.startswith(COMMAND_PREFIX_CONTROL):
            return self._command(state, event.value.removeprefix(COMMAND_PREFIX_CONTROL), ctx)
        if state.pending is not None:
            return self._pending(state, event, ctx)
        if event.kind is EventKind.CHOICE and event.value.startswith("menu:"):
            return self._command(state, event.value.removeprefix("menu:"), ctx)
        if state.active is not None:
            return self._answer(state, event, ctx)
        turn = Turn()
        turn.ask("idle.j2", _menu())
        return turn

    def _before_consent(self, state: ConversationState, event: Event, ctx: Situation) -> Turn:
        turn = Turn()
        if event.kind is EventKind.COMMAND and event.value == "help":
            self._help(turn, ctx)
            return turn
        if event.kind is EventKind.CHOICE and event.value.startswith("consent:"):
            _, answer, *then = event.value.split(":")
            if answer == "yes":
                turn.effects.append(GrantConsent(PRIVACY_NOTICE_VERSION))
                turn.say("consented.j2")
                next_command = then[0] if then else ""
                if next_command in DIALOGUES:
                    ctx = replace(ctx, consented=True)
                    turn.replies.extend(self._command(state, next_command, ctx).replies)
                else:
                    turn.ask("idle.j2", _menu())
                return turn
            turn.say("consent_declined.j2")
            return turn
        wanted = event.value if event.kind is EventKind.COMMAND and event.value in DIALOGUES else ""
        consent = "consent:yes" + (f":{wanted}" if wanted else "")
        turn.ask(
            "welcome.j2",
            (Option(consent, "I agree"), Option("consent:no", "Not now")),
            helplines=ctx.catalogue.helplines,
        )
        return turn

    def _command(self, state: ConversationState, name: str, ctx: Situation) -> Turn:
        turn = Turn()
        state.pending = None
        if name in DIALOGUES:
            self._open(state, DIALOGUES[name], ctx, turn)
        elif name == "start":
            turn.say("welcome_back.j2")
            if not self.reask(state, ctx, turn):
                turn.ask("idle.j2", _menu())
        elif name == "help":
            self._help(turn, ctx)
            self.reask(state, ctx, turn)
        elif name in CONTROLS:
            self._control(state, name, ctx, turn)
        else:
            turn.say("unknown_command.j2", command=name[:40])
            if not self.reask(state, ctx, turn):
                turn.ask("idle.j2", _menu())
        return turn

    def _open(
        self, state: ConversationState, dialogue: FormDialogue, ctx: Situation, turn: Turn
    ) -> None:
        """Start (or offer to resume) a dialogue, keeping any other one open as a draft."""
        if state.active is not None:
            if state.active["dialogue"] == dialogue.name:
                turn.say("already_active.j2", dialogue=dialogue.name)
                self.reask(state, ctx, turn)
                return
            self._pause_active(state, ctx)
            turn.say("auto_paused.j2")
        if dialogue.name in state.paused:
            state.pending = {"kind": "resume", "dialogue": dialogue.name}
            self._offer_resume(turn, dialogue.name, state.paused[dialogue.name])
            return
        quick = ctx.parked_quick
        if dialogue is REFLECTION and quick is not None:
            state.pending = {
                "kind": "expand",
                "quick_id": quick.id,
                "created_at": quick.created_at.isoformat(),
                "category": quick.category,
                "intensity": quick.intensity,
                "note": quick.note,
            }
            self._offer_expansion(turn, state.pending, ctx)
            return
        self._begin(state, dialogue, dialogue.start(dialogue.initial_answers(ctx)), ctx, turn)

    def _begin(
        self,
        state: ConversationState,
        dialogue: FormDialogue,
        model: FormModel,
        ctx: Situation,
        turn: Turn,
    ) -> None:
        self._store(state, dialogue, model)
        if dialogue is REFLECTION and model.state == dialogue.first:
            turn.say("reflect_intro.j2")
        turn.replies.append(dialogue.question(model, ctx))

    def _control(self, state: ConversationState, name: str, ctx: Situation, turn: Turn) -> None:
        if state.active is None:
            turn.say("nothing_active.j2", control=name)
            turn.ask("idle.j2", _menu())
            return
        dialogue, model = self._load(state)
        if name == PAUSE:
            self._pause_active(state, ctx)
            turn.say("paused.j2", dialogue=dialogue.name)
        elif name == "cancel":
            state.active = None
            turn.say("cancelled.j2", dialogue=dialogue.name)
        else:
            step = dialogue.control(model, name, ctx)
            turn.replies.extend(step.replies)
            turn.effects.extend(step.effects)
            self._after_step(state, dialogue, model, turn)

    def _pending(self, state: ConversationState, event: Event, ctx: Situation) -> Turn:
        """Answer a question asked outside the dialogue: identifiers, drafts, quick debriefs."""
        pending = state.pending or {}
        kind, value = pending.get("kind"), event.value
        picked = event.kind is EventKind.CHOICE
        turn = Turn()
        if kind == "identifiers" and (event.kind is EventKind.TEXT or value == "identifiers:keep"):
            state.pending = None
            if event.kind is EventKind.TEXT:  # a rewritten answer: check it afresh
                return self._answer(state, event, ctx)
            return self._answer(state, Event.text(pending["text"]), ctx, vetted=True)
        if kind == "identifiers" and value == "identifiers:rewrite":
            turn.say("identifier_rewrite.j2")
            return turn
        if kind == "resume" and picked and value in ("resume:yes", "resume:fresh"):
            state.pending = None
            dialogue = DIALOGUES[pending["dialogue"]]
            draft = state.paused.pop(dialogue.name, None)
            if value == "resume:yes" and draft is not None:
                turn.say("resumed.j2", dialogue=dialogue.name)
                model = dialogue.restore(draft["state"], draft["answers"])
                self._begin(state, dialogue, model, ctx, turn)
            else:
                turn.say("draft_discarded.j2", dialogue=dialogue.name)
                fresh = dialogue.start(dialogue.initial_answers(ctx))
                self._begin(state, dialogue, fresh, ctx, turn)
            return turn
        if kind == "expand" and picked and value in ("expand:yes", "expand:fresh"):
            state.pending = None
            answers: dict[str, Any] = {}
            if value == "expand:yes":
                answers = {
                    "quick_id": pending["quick_id"],
                    "category": pending["category"],
                    "quick_note": pending.get("note") or "",
                }
            self._begin(state, REFLECTION, REFLECTION.start(answers), ctx, turn)
            return turn
        turn.say("choose_option.j2")
        self._ask_pending(state, ctx, turn)
        return turn

    def _ask_pending(self, state: ConversationState, ctx: Situation, turn: Turn) -> None:
        """Show the pending out-of-dialogue question again."""
        pending = state.pending or {}
        kind = pending.get("kind")
        if kind == "safety":
            turn.replies.extend(self._safety_check(ctx).replies)
        elif kind == "identifiers":
            self._warn_identifiers(turn, pending["kinds"])
        elif kind == "resume":
            draft = state.paused.get(pending["dialogue"])
            if draft is None:  # the draft went meanwhile; nothing left to offer
                state.pending = None
                turn.ask("idle.j2", _menu())
                return
            self._offer_resume(turn, pending["dialogue"], draft)
        elif kind == "expand":
            self._offer_expansion(turn, pending, ctx)

    @staticmethod
    def _offer_resume(turn: Turn, name: str, draft: dict[str, Any]) -> None:
        turn.ask(
            "resume_offer.j2",
            (Option("resume:yes", "Carry on"), Option("resume:fresh", "Start afresh")),
            dialogue=name,
            paused_at=datetime.fromisoformat(draft["paused_at"]),
        )

    @staticmethod
    def _offer_expansion(turn: Turn, pending: dict[str, Any], ctx: Situation) -> None:
        turn.ask(
            "expand_offer.j2",
            (Option("expand:yes", "Expand it"), Option("expand:fresh", "New reflection")),
            created_at=datetime.fromisoformat(pending["created_at"]),
            category=ctx.catalogue.label(pending["category"]),
            intensity=pending["intensity"],
        )

    @staticmethod
    def _warn_identifiers(turn: Turn, kinds: list[str]) -> None:
        turn.ask(
            "identifier_warning.j2",
            (
                Option("identifiers:rewrite", "I'll rewrite it"),
                Option("identifiers:keep", "Keep it as written"),
            ),
            kinds=kinds,
        )

    def _answer(
        self, state: ConversationState, event: Event, ctx: Situation, *, vetted: bool = False
    ) -> Turn:
        dialogue, model = self._load(state)
        if (
            not vetted
            and event.kind is EventKind.TEXT
            and dialogue.expects_free_text(model)
            and not self._picks_an_option(dialogue, model, event, ctx)
        ):
            findings = ctx.identifier_guard.find(event.value, today=ctx.now.date())
            if findings:
                kinds = sorted({str(getattr(f, "kind", f)) for f in findings})
                state.pending = {"kind": "identifiers", "text": event.value, "kinds": kinds}
                turn = Turn()
                self._warn_identifiers(turn, kinds)
                return turn
        turn = dialogue.answer(model, event, ctx)
        self._after_step(state, dialogue, model, turn)
        return turn

    @staticmethod
    def _picks_an_option(
        dialogue: FormDialogue, model: FormModel, event: Event, ctx: Situation
    ) -> bool:
        return match_option(event.value, dialogue.options(model, ctx)) is not None

    def _after_step(
        self, state: ConversationState, dialogue: FormDialogue, model: FormModel, turn: Turn
    ) -> None:
        if model.state == dialogue.finished:
            state.active = None
        else:
            self._store(state, dialogue, model)

    # --- safety ----------------------------------------------------------------------------
    @staticmethod
    def _safety_check(ctx: Situation) -> Turn:
        turn = Turn()
        turn.ask(
            "safety.j2",
            (
                Option("safety:continue", "I'm safe, let's carry on"),
                Option("safety:stop", "I'm safe, but I'll stop for now"),
                Option("safety:unsafe", "I'm not safe right now"),
            ),
            helplines=ctx.catalogue.helplines,
        )
        return turn

    def _after_safety(self, state: ConversationState, value: str, ctx: Situation) -> Turn:
        turn = Turn()
        if state.pending is not None and state.pending.get("kind") == "safety":
            state.pending = None
        if value == "safety:unsafe":
            turn.say("safety_unsafe.j2", helplines=ctx.catalogue.helplines)
        elif value == "safety:stop":
            if state.active is not None:
                self._pause_active(state, ctx)
            turn.say("safety_stop.j2", helplines=ctx.catalogue.helplines)
        else:
            turn.say("safety_continue.j2")
            if not self.reask(state, ctx, turn):
                turn.ask("idle.j2", _menu())
        return turn

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _help(turn: Turn, ctx: Situation) -> None:
        turn.say("help.j2", helplines=ctx.catalogue.helplines)

    def reask(self, state: ConversationState, ctx: Situation, turn: Turn) -> bool:
        """After a detour (/history, say), ask the current question again, if there is one.

        The question keeps its number, so buttons shown before the detour still work; within
        a turn that asks something new, :meth:`_number_questions` renumbers it with the rest.
        """
        if state.active is None:
            return False
        dialogue, model = self._load(state)
        turn.replies.append(replace(dialogue.question(model, ctx), token=state.token))
        return True

    @staticmethod
    def _load(state: ConversationState) -> tuple[FormDialogue, FormModel]:
        assert state.active is not None
        dialogue = DIALOGUES[state.active["dialogue"]]
        return dialogue, dialogue.restore(state.active["state"], dict(state.active["answers"]))

    @staticmethod
    def _store(state: ConversationState, dialogue: FormDialogue, model: FormModel) -> None:
        state.active = {"dialogue": dialogue.name, "state": model.state.name,
                        "answers": model.answers}  # fmt: skip

    def _pause_active(self, state: ConversationState, ctx: Situation) -> None:
        if state.active is None:
            return
        draft = dict(state.active)
        draft["paused_at"] = ctx.now.isoformat()
        state.paused[draft.pop("dialogue")] = draft
        state.active = None

    @staticmethod
    def _number_questions(state: ConversationState, turn: Turn) -> None:
        """Give every question in this turn the next number, so stale buttons can be told."""
        if any(r.options or r.controls for r in turn.replies):
            state.token += 1
            turn.replies[:] = [
                replace(r, token=state.token) if (r.options or r.controls) else r
                for r in turn.replies
            ]
