"""Scripted practitioners: what they do, and what they expect to see next.

A script is a list of steps. Each step is an action (type text, send a command, press a button
by its label) and a phrase the bot's answer must contain. The same scripts drive the in-process
tests, the end-to-end tests against a ``steady run`` subprocess, and the benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WORDS = [
    "amber",
    "birch",
    "cedar",
    "dune",
    "ember",
    "fern",
    "glade",
    "heath",
    "iris",
    "juniper",
    "kestrel",
    "larch",
    "meadow",
    "nettle",
    "orchard",
    "pebble",
    "quill",
    "rowan",
    "sorrel",
    "thistle",
    "umber",
    "willow",
    "yarrow",
    "zephyr",
    "acorn",
    "bracken",
    "clover",
    "dapple",
    "elder",
    "flint",
    "gorse",
    "hazel",
    "ivy",
]


@dataclass(frozen=True)
class Step:
    """One thing the practitioner does and the phrase they wait for."""

    action: str  # "type", "command" or "press"
    value: str
    expect: str
    # Text the practitioner wrote that must end up saved (for the no-loss checks).
    saved_as: str | None = None


@dataclass(frozen=True)
class Answers:
    """The practitioner's own words in one reflection."""

    challenge: str
    value_why: str
    appraisal_1: str
    appraisal_2: str
    next_step: str
    rating_before: int
    rating_after: int


def answers_for(number: int, seed: int = 0) -> Answers:
    """Distinct, realistic (and identifier-free) answers for practitioner ``number``."""
    rng = random.Random(f"{seed}:{number}")

    def tag() -> str:
        return " ".join(rng.sample(WORDS, 3))

    return Answers(
        challenge=f"Back to back calls all morning and no time for notes ({tag()})",
        value_why=f"Clients deserve someone who is present and unhurried ({tag()})",
        appraisal_1=f"The diary was not mine to control today ({tag()})",
        appraisal_2=f"I would tell a colleague to be kind to themselves ({tag()})",
        next_step=f"Block half an hour for notes after lunch ({tag()})",
        rating_before=rng.randint(2, 5),
        rating_after=rng.randint(5, 8),
    )


def consent_script() -> list[Step]:
    """/start and agreeing to the privacy notice."""
    return [
        Step("command", "start", "Do you agree"),
        Step("press", "I agree", "What would help right now"),
    ]


def reflection_script(answers: Answers) -> list[Step]:
    """A whole /reflect, mixing buttons and typed answers, ending with the saved summary."""
    return [
        Step("command", "reflect", "How are you feeling right now"),
        Step("press", str(answers.rating_before), "The challenge."),
        Step("type", answers.challenge, "Which of these is closest", saved_as="challenge"),
        Step("press", "Caseload and targets", "Your values."),
        Step("press", "Teamwork", "Chosen so far: Teamwork"),
        Step("press", "Done", "Why does Teamwork matter"),
        Step("type", answers.value_why, "Making sense of it.", saved_as="value_why"),
        Step("type", answers.appraisal_1, "One more, if it helps"),
        Step("type", answers.appraisal_2, "Coping."),
        Step("press", "Planning and prioritising", "One next step."),
        Step("type", answers.next_step, "When will you do it?", saved_as="next_step"),
        Step("press", "Tomorrow", "Closing."),
        Step("type", str(answers.rating_after), "Saved privately"),
    ]


def history_script() -> list[Step]:
    """/history, which lists the saved reflection."""
    return [Step("command", "history", "Your reflections")]


def full_script(answers: Answers) -> list[Step]:
    """/start, consent, a whole reflection and /history."""
    return [*consent_script(), *reflection_script(answers), *history_script()]
