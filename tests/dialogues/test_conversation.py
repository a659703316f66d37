"""Consent, safety and the identifier guard around the dialogues."""

from __future__ import annotations

from dialogues.core import GrantConsent
from tests.dialogues.driver import Practitioner

RISK = "honestly everyone would be better off without me"


def test_nothing_happens_before_consent_and_consent_starts_the_reflection() -> None:
    p = Practitioner(consented=False)
    p.command("reflect")
    assert p.templates == ["welcome.j2"]
    assert "not end-to-end encrypted" in p.text
    assert "not a crisis service" in p.text
    assert p.effects == []
    p.pick("I agree")
    assert any(isinstance(e, GrantConsent) for e in p.effects)
    assert p.step == "ARRIVE"


def test_declining_consent_stores_nothing() -> None:
    p = Practitioner(consented=False)
    p.command("start")
    p.pick("Not now")
    assert p.effects == []
    assert "nothing has been stored" in p.text


def test_help_works_before_consent_and_lists_the_safety_routes() -> None:
    p = Practitioner(consented=False)
    p.command("help")
    for route in ("999", "111", "116 123", "85258", "0300 0303 300"):
        assert route in p.text
    assert "not a crisis service" in p.text


def test_risk_language_pauses_the_flow_and_gives_crisis_routes() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("3")
    p.say(RISK)
    assert p.templates == ["safety.j2"]
    for route in ("999", "111", "116 123", "85258"):
        assert route in p.text
    assert "Are you safe right now?" in p.text
    assert p.state.active is not None
    assert "challenge" not in p.state.active["answers"]  # the disclosure is not recorded
    p.pick("I'm safe, let's carry on")
    assert p.templates[-1] == "reflect_challenge.j2"
    assert p.step == "CHALLENGE"


def test_risk_language_outside_a_dialogue_and_before_consent_is_still_answered() -> None:
    p = Practitioner(consented=False)
    p.say("I don't want to wake up tomorrow")
    assert p.templates == ["safety.j2"]
    assert p.effects == []


def test_stopping_after_a_risk_check_keeps_the_reflection_as_a_draft() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("2")
    p.say(RISK)
    p.pick("I'm safe, but I'll stop for now")
    assert p.state.has_draft and p.state.active is None
    assert "Samaritans" in p.text


def test_not_safe_gets_the_urgent_routes_first() -> None:
    p = Practitioner()
    p.say(RISK)
    p.pick("I'm not safe right now")
    assert p.text.startswith("Please get help now.")
    assert "999" in p.text


def test_a_clients_risk_is_a_work_challenge_not_a_personal_crisis() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("4")
    p.say("A client disclosed suicidal thoughts and I had to follow the risk protocol")
    assert p.step == "CATEGORY"


def test_identifiers_are_caught_before_saving_and_can_be_rewritten() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("4")
    p.say("Mrs Patel (NHS 943 476 5919) was upset about the wait")
    assert p.templates == ["identifier_warning.j2"]
    assert "an NHS number" in p.text and "someone's name" in p.text
    assert p.step == "CHALLENGE"
    p.pick("I'll rewrite it")
    p.say("A client was upset about the wait")
    assert p.step == "CATEGORY"
    assert p.state.active is not None
    assert p.state.active["answers"]["challenge"] == "A client was upset about the wait"


def test_identifiers_can_be_kept_after_the_warning() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("4")
    p.say("Supervision with Dr Jones helped")
    p.pick("Keep it as written")
    assert p.step == "CATEGORY"
    assert p.state.active is not None
    assert p.state.active["answers"]["challenge"] == "Supervision with Dr Jones helped"


def test_meeting_dates_and_counts_do_not_trigger_the_identifier_guard() -> None:
    p = Practitioner()
    p.command("reflect")
    p.say("4")
    p.say("Saw 8 clients today and supervision on 12/03/2026 was cancelled")
    assert p.step == "CATEGORY"


def test_idle_text_gets_a_gentle_menu_and_is_not_kept() -> None:
    p = Practitioner()
    p.say("hello")
    assert p.templates == ["idle.j2"]
    assert p.state.active is None and p.effects == []
