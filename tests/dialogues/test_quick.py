"""/quick: the between-calls debrief, parked for the next /reflect to expand."""

from __future__ import annotations

from dialogues.conversation import ParkedQuick
from tests.dialogues.driver import NOW, Practitioner


def test_quick_debrief_takes_three_answers_and_parks() -> None:
    p = Practitioner()
    p.command("quick")
    p.pick("Emotional weight of client material")
    p.say("8")
    p.say("Heavy call, need a minute")
    assert p.step is None
    assert "Parked and saved" in p.text
    (entry,) = p.saved
    assert (entry.kind, entry.category, entry.intensity) == ("quick", "emotional", 8)
    assert entry.private == {"note": "Heavy call, need a minute"}


def test_quick_note_is_optional() -> None:
    p = Practitioner()
    p.command("quick")
    p.pick("Caseload and targets")
    p.say("6")
    p.command("skip")
    (entry,) = p.saved
    assert entry.private == {}


def test_quick_rejects_a_rating_out_of_range() -> None:
    p = Practitioner()
    p.command("quick")
    p.pick("Caseload and targets")
    p.say("12")
    assert p.step == "INTENSITY"


def test_next_reflect_offers_to_expand_a_parked_quick_debrief() -> None:
    p = Practitioner(parked_quick=ParkedQuick(41, NOW, "emotional", 8, "Heavy call"))
    p.command("reflect")
    assert p.templates == ["expand_offer.j2"]
    assert "Emotional weight of client material, 8/10" in p.text
    p.pick("Expand it")
    assert p.step == "ARRIVE"
    p.say("3")
    assert "Heavy call" in p.text  # the note is shown when asking about the challenge
    while p.step is not None:
        p.command("skip")
    (entry,) = p.saved
    assert entry.expands_quick_id == 41
    assert entry.category == "emotional"
    assert entry.private["quick_note"] == "Heavy call"


def test_declining_to_expand_starts_a_new_reflection() -> None:
    p = Practitioner(parked_quick=ParkedQuick(41, NOW, "emotional", 8, None))
    p.command("reflect")
    p.pick("New reflection")
    while p.step is not None:
        p.command("skip")
    (entry,) = p.saved
    assert entry.expands_quick_id is None and entry.category is None
