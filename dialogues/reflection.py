"""/reflect: the structured reflection, following the three-phase resilience model.

Arrive (rate how you feel) -> phase 1, name the challenge (own words, then a category) ->
phase 2, values and appraisal (which values, why they matter, one or two appraisal prompts that
suit the challenge) -> phase 3, coping (a strategy, one concrete next step and when) -> close
(rate again, see a summary card, know it is saved).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, auto
from types import MappingProxyType
from typing import Any

from transitions import EventData

from dialogues.core import Option, SaveEntry, Turn
from dialogues.form import (
    DONE_OPTION,
    OWN_OPTION,
    PROCEED,
    RETREAT,
    Context,
    FormDialogue,
    FormModel,
    Step,
    StepKind,
    answers_of,
    build_machine,
    labelled,
    link,
    rating_options,
)


class ReflectStep(Enum):
    """Where a practitioner is in a reflection."""

    ARRIVE = auto()
    CHALLENGE = auto()
    CATEGORY = auto()
    VALUES = auto()
    VALUE_WHY = auto()
    APPRAISAL = auto()
    APPRAISAL_MORE = auto()
    STRATEGY = auto()
    OWN_STRATEGY = auto()
    NEXT_STEP = auto()
    WHEN = auto()
    CLOSE = auto()
    DONE = auto()


S = ReflectStep

STEPS: Mapping[Enum, Step] = MappingProxyType(
    {
        S.ARRIVE: Step("rating_before", StepKind.RATING, "reflect_arrive.j2"),
        S.CHALLENGE: Step("challenge", StepKind.TEXT, "reflect_challenge.j2"),
        S.CATEGORY: Step("category", StepKind.CHOICE, "reflect_category.j2"),
        S.VALUES: Step("values", StepKind.MULTI, "reflect_values.j2"),
        S.VALUE_WHY: Step("value_why", StepKind.TEXT, "reflect_value_why.j2"),
        S.APPRAISAL: Step("appraisal_1", StepKind.TEXT, "reflect_appraisal.j2"),
        S.APPRAISAL_MORE: Step("appraisal_2", StepKind.TEXT, "reflect_appraisal.j2"),
        S.STRATEGY: Step("strategy", StepKind.CHOICE, "reflect_strategy.j2"),
        S.OWN_STRATEGY: Step("own_strategy", StepKind.TEXT, "reflect_own_strategy.j2"),
        S.NEXT_STEP: Step("next_step", StepKind.TEXT, "reflect_next_step.j2"),
        S.WHEN: Step("when", StepKind.CHOICE_OR_TEXT, "reflect_when.j2"),
        S.CLOSE: Step("rating_after", StepKind.RATING, "reflect_close.j2"),
        S.DONE: Step("", StepKind.TEXT, "reflect_summary.j2"),
    }
)


def _chose_own_strategy(event: EventData) -> bool:
    return answers_of(event).get("strategy") == OWN_OPTION


def _build() -> Any:
    machine = build_machine(ReflectStep, S.ARRIVE)
    link(machine, [S.ARRIVE, S.CHALLENGE, S.CATEGORY, S.VALUES, S.VALUE_WHY, S.APPRAISAL])
    link(machine, [S.APPRAISAL, S.APPRAISAL_MORE, S.STRATEGY])
    # Choosing "something else" asks for the practitioner's own strategy; otherwise straight on.
    machine.add_transition(PROCEED, S.STRATEGY, S.OWN_STRATEGY, conditions=_chose_own_strategy)
    machine.add_transition(PROCEED, S.STRATEGY, S.NEXT_STEP)
    machine.add_transition(PROCEED, S.OWN_STRATEGY, S.NEXT_STEP)
    machine.add_transition(RETREAT, S.OWN_STRATEGY, S.STRATEGY)
    machine.add_transition(RETREAT, S.NEXT_STEP, S.OWN_STRATEGY, conditions=_chose_own_strategy)
    machine.add_transition(RETREAT, S.NEXT_STEP, S.STRATEGY)
    link(machine, [S.NEXT_STEP, S.WHEN, S.CLOSE])
    machine.add_transition(PROCEED, S.CLOSE, S.DONE)
    return machine


class ReflectionDialogue(FormDialogue):
    """The full reflection; one instance (and one machine) serves every practitioner."""

    name = "reflect"
    machine = _build()
    steps = STEPS
    first = S.ARRIVE
    finished = S.DONE

    def options(self, model: FormModel, ctx: Context) -> tuple[Option, ...]:
        """Ratings, categories, values, strategies or timings, depending on the step."""
        catalogue = ctx.catalogue
        answers = model.answers
        match model.state:
            case S.ARRIVE | S.CLOSE:
                return rating_options()
            case S.CATEGORY:
                return labelled(catalogue.categories)
            case S.VALUES:
                chosen = set(answers.get("values") or ())
                ticked = tuple(
                    Option(v.id, ("✓ " if v.id in chosen else "") + v.label)
                    for v in catalogue.values
                )
                return (*ticked, Option(DONE_OPTION, "Done"))
            case S.STRATEGY:
                ranked = catalogue.suggested_strategies(
                    answers.get("category"), tuple(answers.get("values") or ())
                )
                return (*labelled(ranked), Option(OWN_OPTION, "Something else"))
            case S.WHEN:
                return labelled(catalogue.timings)
            case _:
                return ()

    def question_data(self, model: FormModel, ctx: Context) -> dict[str, Any]:
        """What each question's template shows besides the question itself."""
        catalogue = ctx.catalogue
        answers = model.answers
        appraisal_ids = catalogue.appraisal_ids_for(answers.get("category"))
        data: dict[str, Any] = {
            "expanding": answers.get("quick_note"),
            "category": catalogue.label(answers.get("category")),
            "values": [catalogue.label(code) for code in answers.get("values") or ()],
        }
        match model.state:
            case S.APPRAISAL:
                data["prompt"] = catalogue.appraisals[appraisal_ids[0]]
                data["second"] = False
            case S.APPRAISAL_MORE:
                data["prompt"] = catalogue.appraisals[appraisal_ids[min(1, len(appraisal_ids) - 1)]]
                data["second"] = True
            case S.STRATEGY:
                data["suggested"] = [o.label for o in self.options(model, ctx)[:3]]
            case S.NEXT_STEP:
                strategy = catalogue.strategy(answers.get("strategy"))
                data["strategy"] = strategy.label if strategy else answers.get("own_strategy")
                data["hint"] = strategy.hint if strategy else ""
            case S.CLOSE:
                data["rating_before"] = answers.get("rating_before")
        return data

    def finish(self, model: FormModel, ctx: Context, turn: Turn) -> None:
        """Save the reflection and show the summary card."""
        catalogue = ctx.catalogue
        a = model.answers
        appraisal_ids = catalogue.appraisal_ids_for(a.get("category"))
        appraisals = [
            {"prompt": appraisal_ids[min(i, len(appraisal_ids) - 1)], "answer": a[key]}
            for i, key in enumerate(("appraisal_1", "appraisal_2"))
            if a.get(key)
        ]
        timing = catalogue.timing(a.get("when"))
        strategy = catalogue.strategy(a.get("strategy"))
        private = {
            "challenge": a.get("challenge"),
            "value_why": a.get("value_why"),
            "appraisals": appraisals,
            "own_strategy": a.get("own_strategy") if strategy is None else None,
            "next_step": a.get("next_step"),
            "when": a.get("when_text"),
            "timing": timing.id if timing else None,
            "quick_note": a.get("quick_note"),
        }
        turn.effects.append(
            SaveEntry(
                kind="reflection",
                private={k: v for k, v in private.items() if v},
                category=a.get("category"),
                values=tuple(a.get("values") or ()),
                strategy=strategy.id if strategy else None,
                rating_before=a.get("rating_before"),
                rating_after=a.get("rating_after"),
                next_step_due_days=timing.days if timing and a.get("next_step") else None,
                expands_quick_id=a.get("quick_id"),
            )
        )
        turn.say(
            "reflect_summary.j2",
            category=catalogue.label(a.get("category")),
            values=[catalogue.label(code) for code in a.get("values") or ()],
            strategy=strategy.label if strategy else a.get("own_strategy"),
            next_step=a.get("next_step"),
            when=timing.label if timing else a.get("when_text"),
            rating_before=a.get("rating_before"),
            rating_after=a.get("rating_after"),
        )


REFLECTION = ReflectionDialogue()
