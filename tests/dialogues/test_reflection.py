"""Every path through /reflect, driven through the pure dialogue layer."""

from __future__ import annotations

from dialogues.core import Event
from tests.dialogues.driver import Practitioner

CHALLENGE = "Back-to-back calls all morning and no time to write notes"


def reflect_to(p: Practitioner, step: str) -> None:
    """Answer questions in order until the reflection is at ``step``."""
    answers = {
        "ARRIVE": lambda: p.say("4"),
        "CHALLENGE": lambda: p.say(CHALLENGE),
        "CATEGORY": lambda: p.pick("Caseload and targets"),
        "VALUES": lambda: (p.pick("Teamwork"), p.pick("Quality, safe care"), p.pick("Done")),
        "VALUE_WHY": lambda: p.say("Clients deserve someone who is present"),
        "APPRAISAL": lambda: p.say("The diary was not mine to control"),
        "APPRAISAL_MORE": lambda: p.say("Be kind to yourself"),
        "STRATEGY": lambda: p.pick("Planning and prioritising"),
        "NEXT_STEP": lambda: p.say("Block 30 minutes for notes after lunch"),
        "WHEN": lambda: p.pick("Tomorrow"),
        "CLOSE": lambda: p.say("6"),
    }
    p.command("reflect")
    while p.step != step:
        assert p.step is not None, f"reflection ended before reaching {step}"
        answers[p.step]()


def test_complete_reflection_saves_every_answer_and_says_saved() -> None:
    p = Practitioner()
    reflect_to(p, "CLOSE")
    p.say("6")
    assert p.step is None
    assert p.templates == ["reflect_summary.j2"]
    assert "Saved privately" in p.text
    assert "Block 30 minutes for notes after lunch" in p.text
    (entry,) = p.saved
    assert entry.kind == "reflection"
    assert entry.category == "caseload"
    assert entry.values == ("teamwork", "quality")
    assert entry.strategy == "planning"
    assert (entry.rating_before, entry.rating_after) == (4, 6)
    assert entry.next_step_due_days == 1
    assert entry.private["challenge"] == CHALLENGE
    assert entry.private["next_step"] == "Block 30 minutes for notes after lunch"
    assert [a["prompt"] for a in entry.private["appraisals"]] == ["control", "realistic"]


def test_appraisal_prompts_fit_the_challenge_category() -> None:
    p = Practitioner()
    reflect_to(p, "APPRAISAL")
    assert "in your control" in p.text  # caseload -> control first
    p2 = Practitioner()
    p2.command("reflect")
    p2.say("5")
    p2.say("A client's story stayed with me")
    p2.pick("Emotional weight of client material")
    p2.pick("Person-centred care")
    p2.pick("Done")
    p2.say("Because people matter")
    assert "colleague" in p2.text  # emotional weight -> what would you say to a colleague


def test_strategies_suggested_from_challenge_and_values_come_first() -> None:
    p = Practitioner()
    reflect_to(p, "STRATEGY")
    labels = [o.label for o in p.question.options]
    # Caseload suggests planning first, but teamwork and safe care both point to supervision.
    assert labels[0] == "Using supervision"
    assert labels[-1] == "Something else"
    assert set(labels[:3]) == {"Planning and prioritising", "Using supervision",
                               "Boundaries between work and home"}  # fmt: skip


def test_skipping_every_step_still_saves_a_reflection() -> None:
    p = Practitioner()
    p.command("reflect")
    while p.step is not None:
        p.command("skip")
    assert "Saved privately" in p.text
    (entry,) = p.saved
    assert entry.category is None and entry.values == () and entry.private == {}


def test_back_returns_to_the_previous_question_keeping_the_answer() -> None:
    p = Practitioner()
    reflect_to(p, "CATEGORY")
    p.command("back")
    assert p.step == "CHALLENGE"
    assert p.state.active is not None
    assert p.state.active["answers"]["challenge"] == CHALLENGE
    p.say("A different account of it")
    assert p.step == "CATEGORY"


def test_back_on_the_first_question_says_so_and_stays() -> None:
    p = Practitioner()
    p.command("reflect")
    p.command("back")
    assert p.step == "ARRIVE"
    assert "nothing to go back to" in p.text


def test_back_after_own_strategy_returns_to_it() -> None:
    p = Practitioner()
    reflect_to(p, "STRATEGY")
    p.pick("Something else")
    assert p.step == "OWN_STRATEGY"
    p.say("A walk round the block")
    assert p.step == "NEXT_STEP"
    p.command("back")
    assert p.step == "OWN_STRATEGY"
    p.command("back")
    assert p.step == "STRATEGY"


def test_own_strategy_is_kept_in_the_practitioners_words() -> None:
    p = Practitioner()
    reflect_to(p, "STRATEGY")
    p.pick("Something else")
    p.say("A walk round the block")
    p.say("Walk at 1pm")
    p.say("straight after my 12 o'clock")  # own words for "when"
    p.say("7")
    (entry,) = p.saved
    assert entry.strategy is None
    assert entry.private["own_strategy"] == "A walk round the block"
    assert entry.private["when"] == "straight after my 12 o'clock"
    assert entry.next_step_due_days is None


def test_pause_keeps_a_draft_that_resumes_at_the_same_question() -> None:
    p = Practitioner()
    reflect_to(p, "VALUE_WHY")
    p.command("pause")
    assert p.step is None
    assert "/reflect" in p.text
    p.command("reflect")
    assert p.templates == ["resume_offer.j2"]
    p.pick("Carry on")
    assert p.step == "VALUE_WHY"
    assert p.state.active is not None
    assert p.state.active["answers"]["challenge"] == CHALLENGE


def test_starting_afresh_discards_the_draft() -> None:
    p = Practitioner()
    reflect_to(p, "VALUES")
    p.command("pause")
    p.command("reflect")
    p.pick("Start afresh")
    assert p.step == "ARRIVE"
    assert p.state.active is not None and "challenge" not in p.state.active["answers"]
    assert not p.state.has_draft


def test_cancel_discards_everything_and_saves_nothing() -> None:
    p = Practitioner()
    reflect_to(p, "NEXT_STEP")
    p.command("cancel")
    assert p.step is None
    assert p.saved == []
    assert "Nothing from that reflection was saved" in p.text


def test_controls_with_nothing_in_progress_get_a_clear_answer() -> None:
    p = Practitioner()
    for control in ("skip", "back", "pause", "cancel"):
        p.command(control)
        assert f"nothing to {control}" in p.text


def test_out_of_range_rating_is_reasked_not_accepted() -> None:
    p = Practitioner()
    p.command("reflect")
    for bad in ("eleven", "11", "-1", "seven and a half", "", "🙂"):
        p.say(bad)
        assert p.step == "ARRIVE"
        assert "whole number from 0 to 10" in p.text
    p.say("seven")
    assert p.step == "CHALLENGE"
    assert p.state.active is not None and p.state.active["answers"]["rating_before"] == 7


def test_an_option_that_does_not_exist_is_reasked() -> None:
    p = Practitioner()
    reflect_to(p, "CATEGORY")
    p.say("banana")
    assert p.step == "CATEGORY"
    assert "isn't one of the options" in p.text
    p.send(Event.choice("no-such-category", p.question.token))
    assert p.step == "CATEGORY"
    p.say("caseload and targets")  # typing the label works too
    assert p.step == "VALUES"


def test_values_need_at_least_one_before_done() -> None:
    p = Practitioner()
    reflect_to(p, "VALUES")
    p.pick("Done")
    assert p.step == "VALUES" and "at least one" in p.text
    p.pick("Teamwork")
    p.pick("Teamwork")  # a second press un-ticks it
    p.pick("Done")
    assert p.step == "VALUES"
    p.say("teamwork, integrity and working within competence")
    assert p.step == "VALUE_WHY"
    assert p.state.active is not None
    assert p.state.active["answers"]["values"] == ["teamwork", "integrity"]


def test_empty_and_huge_text_are_reasked_clearly() -> None:
    p = Practitioner()
    reflect_to(p, "CHALLENGE")
    p.say("   \u200b ")
    assert p.step == "CHALLENGE" and "looked empty" in p.text
    p.say("word " * 1000)
    assert p.step == "CHALLENGE" and "trim it" in p.text


def test_a_button_from_an_earlier_question_changes_nothing() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("5")
    p.say(CHALLENGE)
    category_question = p.question
    p.pick("Caseload and targets")
    answers_before = dict(p.state.active["answers"]) if p.state.active else {}
    p.send(Event.choice("admin", category_question.token))  # pressed again, later
    assert "earlier question" in p.text
    assert p.step == "VALUES"
    assert p.state.active is not None and p.state.active["answers"] == answers_before


def test_reflect_while_reflecting_reasks_the_current_question() -> None:
    p = Practitioner()
    reflect_to(p, "CATEGORY")
    p.command("reflect")
    assert p.step == "CATEGORY"
    assert "already in the middle" in p.text


def test_quick_during_a_reflection_keeps_the_reflection_as_a_draft() -> None:
    p = Practitioner()
    reflect_to(p, "VALUES")
    p.command("quick")
    assert p.state.has_draft
    assert p.state.active is not None and p.state.active["dialogue"] == "quick"


def test_help_and_unknown_commands_return_to_the_question() -> None:
    p = Practitioner()
    reflect_to(p, "CHALLENGE")
    p.command("help")
    assert "Samaritans" in p.text and p.templates[-1] == "reflect_challenge.j2"
    p.command("frobnicate")
    assert "don't know the command /frobnicate" in p.text
    assert p.step == "CHALLENGE"


def test_state_survives_json_round_trips_at_every_step() -> None:
    # The driver serialises the state before every event, as storage does; reaching the end
    # through it proves every intermediate state is plain JSON.
    p = Practitioner()
    reflect_to(p, "CLOSE")
    p.say("8")
    assert len(p.saved) == 1
