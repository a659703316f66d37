"""Machinery shared by the step-by-step dialogues (/reflect and /quick).

Each dialogue is one ``transitions`` state machine built once per process. Practitioners do not
get a machine each: their position lives in the database and, for one message, in a
:class:`FormModel` that the shared machine moves with ``machine.events[...].trigger(model)``.
That keeps memory flat however many practitioners have a reflection open.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from itertools import pairwise
from typing import Any, Protocol, cast

from transitions import EventData, Machine

from dialogues.answers import clean_free_text, match_option, parse_rating, rating_options
from dialogues.catalogue import Catalogue
from dialogues.core import BACK, CANCEL, PAUSE, SKIP, Event, EventKind, Option, Reply, Turn

PROCEED, RETREAT = "proceed", "retreat"
# Not an error: a multi-select step stays open after each tick until the practitioner is done.
_KEEP_ASKING = "keep_asking"
DONE_OPTION = "done"
OWN_OPTION = "own"


class StepKind(StrEnum):
    """How a step is answered."""

    RATING = "rating"  # 0-10
    TEXT = "text"  # the practitioner's own words
    CHOICE = "choice"  # one option
    MULTI = "multi"  # one or more options, then Done
    CHOICE_OR_TEXT = "choice_or_text"  # one option, or their own words


@dataclass(frozen=True)
class Step:
    """One question: where its answer is kept, how it is answered and which template asks it."""

    key: str
    kind: StepKind
    template: str


class FormModel:
    """One practitioner's place in a dialogue, alive only while their message is handled."""

    __slots__ = ("answers", "state")

    def __init__(self, state: Enum, answers: dict[str, Any]) -> None:
        self.state = state
        self.answers = answers


class Context(Protocol):
    """What a dialogue may consult while handling one event."""

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def now(self) -> datetime: ...


def answers_of(event: EventData) -> Mapping[str, Any]:
    """The answers of the model a transition is acting on (for transition conditions)."""
    return cast(FormModel, event.model).answers


def build_machine(states: type[Enum], initial: Enum) -> Machine:
    """A machine with enum states, no implicit ``to_*`` shortcuts and no bound models."""
    return Machine(
        model=None,
        states=states,
        initial=initial,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )


def link(machine: Machine, order: list[Enum]) -> None:
    """Add proceed and retreat transitions along a straight run of states."""
    for here, there in pairwise(order):
        machine.add_transition(PROCEED, here, there)
        machine.add_transition(RETREAT, there, here)


class FormDialogue(ABC):
    """A dialogue that asks a fixed series of questions, with skip, back, pause and cancel."""

    name: str
    machine: Machine
    steps: Mapping[Enum, Step]
    first: Enum
    finished: Enum

    # --- what each dialogue supplies -------------------------------------------------------
    @abstractmethod
    def options(self, model: FormModel, ctx: Context) -> tuple[Option, ...]:
        """The options offered at the current step."""

    @abstractmethod
    def question_data(self, model: FormModel, ctx: Context) -> dict[str, Any]:
        """Template data for the current question."""

    @abstractmethod
    def finish(self, model: FormModel, ctx: Context, turn: Turn) -> None:
        """Record the finished dialogue: add the effects and the closing replies."""

    def initial_answers(self, ctx: Context) -> dict[str, Any]:
        """Answers a fresh dialogue starts with (a settings form starts from the settings)."""
        return {}

    def accept_own_words(self, model: FormModel, step: Step, text: str, ctx: Context) -> str | None:
        """Keep typed words at a choose-or-type step; return an error code to refuse them."""
        model.answers[step.key] = None
        model.answers[step.key + "_text"] = text
        return None

    def accepted(self, model: FormModel, ctx: Context) -> None:
        """Called after an answer is stored and before moving on (to tidy or act on it)."""
        return None

    # --- shared behaviour ------------------------------------------------------------------
    def start(self, answers: dict[str, Any] | None = None) -> FormModel:
        """A fresh model at the first step."""
        return FormModel(self.first, dict(answers or {}))

    def restore(self, state_name: str, answers: dict[str, Any]) -> FormModel:
        """Rebuild a model from what was stored; an unknown step restarts the dialogue."""
        states = type(self.first)
        try:
            state = states[state_name]
        except KeyError:
            return self.start(answers)
        return FormModel(state, answers)

    def step(self, model: FormModel) -> Step:
        """The step the model is at."""
        return self.steps[model.state]

    def expects_free_text(self, model: FormModel) -> bool:
        """Whether a typed answer here would be stored as the practitioner's own words."""
        if model.state == self.finished:
            return False
        if self.step(model).kind is StepKind.TEXT:
            return True
        return self.step(model).kind is StepKind.CHOICE_OR_TEXT

    def question(self, model: FormModel, ctx: Context, error: str | None = None) -> Reply:
        """The reply that asks the current question again (with why, if it was not accepted)."""
        step = self.step(model)
        controls = [SKIP, BACK, PAUSE, CANCEL]
        if model.state == self.first:
            controls.remove(BACK)
        data = {"error": error, **self.question_data(model, ctx)}
        return Reply(step.template, data, self.options(model, ctx), tuple(controls))

    def control(self, model: FormModel, name: str, ctx: Context) -> Turn:
        """Apply skip or back and ask whatever comes next."""
        turn = Turn()
        if name == SKIP:
            # Skipping moves on without taking anything away: an answer given earlier (or
            # carried over from a quick debrief) stays.
            self._advance(model, ctx, turn)
        elif name == BACK:
            if model.state == self.first:
                turn.replies.append(self.question(model, ctx, error="at_start"))
            else:
                self.machine.events[RETREAT].trigger(model)
                turn.replies.append(self.question(model, ctx))
        return turn

    def answer(self, model: FormModel, event: Event, ctx: Context) -> Turn:
        """Take an answer to the current step, or re-ask saying why it was not accepted."""
        step = self.step(model)
        error = self._accept(model, step, event, ctx)
        turn = Turn()
        if error == _KEEP_ASKING:
            turn.replies.append(self.question(model, ctx))
        elif error is not None:
            turn.replies.append(self.question(model, ctx, error=error))
        else:
            self.accepted(model, ctx)
            self._advance(model, ctx, turn)
        return turn

    def _advance(self, model: FormModel, ctx: Context, turn: Turn) -> None:
        self.machine.events[PROCEED].trigger(model)
        if model.state == self.finished:
            self.finish(model, ctx, turn)
        else:
            turn.replies.append(self.question(model, ctx))

    def _accept(self, model: FormModel, step: Step, event: Event, ctx: Context) -> str | None:
        """Store the answer if it is acceptable; otherwise return why not."""
        options = self.options(model, ctx)
        if step.kind is StepKind.RATING:
            rating = parse_rating(event.value)
            if rating is None:
                return "rating"
            model.answers[step.key] = rating
            return None
        if step.kind is StepKind.TEXT:
            if event.kind is EventKind.CHOICE:
                return "needs_text"
            text, problem = clean_free_text(event.value)
            if text is None:
                return problem
            model.answers[step.key] = text
            return None
        picked = self._picked(event, options)
        if step.kind is StepKind.MULTI:
            return self._accept_multi(model, step, event, picked, options)
        if picked is not None:
            model.answers[step.key] = picked.value
            model.answers.pop(step.key + "_text", None)
            return None
        if step.kind is StepKind.CHOICE_OR_TEXT and event.kind is EventKind.TEXT:
            text, problem = clean_free_text(event.value)
            if text is None:
                return problem
            return self.accept_own_words(model, step, text, ctx)
        return "unknown_option"

    @staticmethod
    def _picked(event: Event, options: tuple[Option, ...]) -> Option | None:
        if event.kind is EventKind.CHOICE:
            return next((o for o in options if o.value == event.value), None)
        return match_option(event.value, options)

    @staticmethod
    def _accept_multi(
        model: FormModel,
        step: Step,
        event: Event,
        picked: Option | None,
        options: tuple[Option, ...],
    ) -> str | None:
        chosen: list[str] = list(model.answers.get(step.key) or [])
        if picked is not None and picked.value == DONE_OPTION:
            return None if chosen else "pick_one"
        if picked is not None:
            if picked.value in chosen:
                chosen.remove(picked.value)
            else:
                chosen.append(picked.value)
            model.answers[step.key] = chosen
            return _KEEP_ASKING
        if event.kind is EventKind.TEXT:
            # Typed as a list ("teamwork, integrity"): accept it whole if every part is known.
            matches = _match_list(event.value, options)
            if matches and all(m is not None and m.value != DONE_OPTION for m in matches):
                model.answers[step.key] = list(dict.fromkeys(m.value for m in matches if m))
                return None
        return "unknown_option"


def _match_list(text: str, options: tuple[Option, ...]) -> list[Option | None]:
    """Match "a, b and c" against option labels, where labels may themselves contain "and"."""
    matches: list[Option | None] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        whole = match_option(part, options)
        if whole is not None:
            matches.append(whole)
            continue
        matches.extend(match_option(p, options) for p in part.replace("&", " and ").split(" and "))
    return matches


def labelled(items: Any) -> tuple[Option, ...]:
    """Options from catalogue items, in catalogue order."""
    return tuple(Option(item.id, item.label) for item in items)


__all__ = [
    "DONE_OPTION",
    "OWN_OPTION",
    "Context",
    "FormDialogue",
    "FormModel",
    "Step",
    "StepKind",
    "answers_of",
    "build_machine",
    "labelled",
    "link",
    "rating_options",
]
