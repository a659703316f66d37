"""/quick: a between-calls debrief of at most three answers, in well under 90 seconds.

Category, how heavy it felt (0-10) and an optional one-line note. It is saved at once and
"parked": the next /reflect offers to expand it into a full reflection.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, auto
from types import MappingProxyType
from typing import Any

from dialogues.core import Option, SaveEntry, Turn
from dialogues.form import (
    PROCEED,
    Context,
    FormDialogue,
    FormModel,
    Step,
    StepKind,
    build_machine,
    labelled,
    link,
    rating_options,
)


class QuickStep(Enum):
    """Where a practitioner is in a quick debrief."""

    CATEGORY = auto()
    INTENSITY = auto()
    NOTE = auto()
    DONE = auto()


Q = QuickStep


def _build_quick() -> Any:
    machine = build_machine(QuickStep, Q.CATEGORY)
    link(machine, [Q.CATEGORY, Q.INTENSITY, Q.NOTE])
    machine.add_transition(PROCEED, Q.NOTE, Q.DONE)
    return machine


class QuickDialogue(FormDialogue):
    """/quick: three answers between calls, parked so the next /reflect can expand it."""

    name = "quick"
    machine = _build_quick()
    steps: Mapping[Enum, Step] = MappingProxyType(
        {
            Q.CATEGORY: Step("category", StepKind.CHOICE, "quick_category.j2"),
            Q.INTENSITY: Step("intensity", StepKind.RATING, "quick_intensity.j2"),
            Q.NOTE: Step("note", StepKind.TEXT, "quick_note.j2"),
            Q.DONE: Step("", StepKind.TEXT, "quick_saved.j2"),
        }
    )
    first = Q.CATEGORY
    finished = Q.DONE

    def options(self, model: FormModel, ctx: Context) -> tuple[Option, ...]:
        """Categories, then 0-10, then nothing (the note is typed)."""
        if model.state == Q.CATEGORY:
            return labelled(ctx.catalogue.categories)
        if model.state == Q.INTENSITY:
            return rating_options()
        return ()

    def question_data(self, model: FormModel, ctx: Context) -> dict[str, Any]:
        """The category chosen so far, for context."""
        return {"category": ctx.catalogue.label(model.answers.get("category"))}

    def finish(self, model: FormModel, ctx: Context, turn: Turn) -> None:
        """Park the debrief and say how to expand it later."""
        a = model.answers
        turn.effects.append(
            SaveEntry(
                kind="quick",
                private={"note": a["note"]} if a.get("note") else {},
                category=a.get("category"),
                intensity=a.get("intensity"),
            )
        )
        turn.say("quick_saved.j2", category=ctx.catalogue.label(a.get("category")))


QUICK = QuickDialogue()
