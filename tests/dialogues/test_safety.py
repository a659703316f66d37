"""The personal-risk screen: what it catches, what it lets through, and that it cannot be broken."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialogues.safety import RiskMatch, RiskScreen, default_risk_screen
from prompts import load_content

WORDINGS = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "risk_wordings.yaml").read_text(encoding="utf-8")
)
RISK: list[str] = WORDINGS["risk"]
NOT_RISK: list[str] = WORDINGS["not_risk"]
MAX_FALSE_ALARMS = 2

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
ODD_SPACES = [" ", "  ", "\t", "\u00a0", "\u2003", " \u200b "]


@pytest.fixture(scope="module")
def screen() -> RiskScreen:
    return default_risk_screen()


def test_examples_cover_at_least_fifty_of_each() -> None:
    assert len(RISK) >= 50
    assert len(NOT_RISK) >= 50
    assert not set(RISK) & set(NOT_RISK)


@pytest.mark.parametrize("text", RISK)
def test_every_risk_wording_is_caught(screen: RiskScreen, text: str) -> None:
    assert isinstance(screen.screen(text), RiskMatch)


def test_work_stress_and_client_risk_do_not_trigger_the_safety_check(screen: RiskScreen) -> None:
    false_alarms = [text for text in NOT_RISK if screen.screen(text) is not None]
    assert len(false_alarms) <= MAX_FALSE_ALARMS, false_alarms


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I keep thinking about ending my life", "suicidal_thoughts"),
        ("Others would be better off without me", "suicidal_thoughts"),
        ("I've been self-harming again", "self_harm"),
        ("I don't think I can keep myself safe tonight", "unable_to_keep_safe"),
        ("my partner hits me", "harm_from_others"),
        ("I'm scared I'll hurt someone", "harm_to_others"),
    ],
)
def test_the_match_names_the_kind_of_risk(screen: RiskScreen, text: str, category: str) -> None:
    assert screen.screen(text) == RiskMatch(category)


def test_a_client_disclosure_alone_is_a_work_challenge(screen: RiskScreen) -> None:
    assert screen.screen("My client talked about suicide in today's session") is None


def test_saying_the_same_of_oneself_after_a_client_disclosure_counts(screen: RiskScreen) -> None:
    text = "My client talked about suicide and honestly I've been feeling the same"
    assert screen.screen(text) == RiskMatch("suicidal_thoughts")


def test_own_voice_in_a_later_sentence_counts_after_a_client_sentence(
    screen: RiskScreen,
) -> None:
    assert screen.screen("My 2pm said she wanted to die.") is None
    assert screen.screen("My 2pm said she wanted to die. I want to die too.") is not None


def test_quoted_client_speech_is_the_clients_voice(screen: RiskScreen) -> None:
    assert screen.screen('My 2pm said "I can\u2019t go on. I just want to die."') is None


def test_a_quotation_tagged_with_someone_else_is_their_voice(screen: RiskScreen) -> None:
    assert screen.screen("\u201cI can\u2019t go on,\u201d she said, and I froze") is None


def test_reassurance_is_not_a_disclosure(screen: RiskScreen) -> None:
    assert screen.screen("I'm not suicidal, just shattered") is None
    assert screen.screen("I'm not suicidal, but I wish I wasn't here") is not None


def test_a_quoted_thought_of_ones_own_still_counts(screen: RiskScreen) -> None:
    text = "I keep thinking \u201ceveryone would be better off without me\u201d"
    assert screen.screen(text) == RiskMatch("suicidal_thoughts")


def test_everyday_phrase_does_not_hide_a_real_statement_in_the_same_message(
    screen: RiskScreen,
) -> None:
    text = "I'd rather die than do another audit, but honestly I want to die"
    assert screen.screen(text) == RiskMatch("suicidal_thoughts")


def test_normalisation_folds_case_apostrophes_spacing_and_invisible_characters(
    screen: RiskScreen,
) -> None:
    messy = "  I\u2019M\u200b   N\u00d3T \uff4f\uff4b,\u00a0I CAN\u2019T\ncope  "
    assert screen.normalise(messy) == "i am not ok, i can not\ncope"


@pytest.mark.parametrize("text", RISK)
def test_every_risk_wording_is_caught_shouted_with_curly_apostrophes_and_hidden_spaces(
    screen: RiskScreen, text: str
) -> None:
    disguised_text = "\u200b".join(text.replace("'", "\u2019").upper())
    assert isinstance(screen.screen(disguised_text), RiskMatch)


@st.composite
def disguised(draw: st.DrawFn, text: str) -> str:
    """``text`` as it might really arrive: odd case, curly apostrophes, hidden characters."""
    if draw(st.booleans()):
        text = text.replace("'", "\u2019")
    case = draw(st.sampled_from(["as typed", "upper", "lower", "title"]))
    text = {"upper": text.upper(), "lower": text.lower(), "title": text.title()}.get(case, text)
    if draw(st.booleans()):
        text = text.replace(" ", draw(st.sampled_from(ODD_SPACES)))
    if draw(st.booleans()):  # full-width letters, as some keyboards produce
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    positions = draw(st.lists(st.integers(0, len(text)), max_size=8))
    for position in sorted(positions, reverse=True):
        text = text[:position] + draw(st.sampled_from(ZERO_WIDTH)) + text[position:]
    return draw(st.sampled_from(["", " ", "  \n"])) + text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_risk_wordings_stay_caught_when_disguised(screen: RiskScreen, data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(RISK))
    assert screen.screen(data.draw(disguised(original))) is not None


LONG_TEXT = st.builds(
    lambda chunk, times: chunk * times,
    st.text(min_size=1, max_size=200),
    st.integers(min_value=1, max_value=20_000),
).map(lambda text: text[:20_000])

RISKY_FRAGMENTS = st.sampled_from(
    [
        "i ", "she ", "want to ", "die", "self-", "harm", "can not ", "go on ", '"', "'", ". ",
        "my partner ", "has ", "hit me", "better off ", "without me", "rather die than ", "\u200b",
        "no point ", "in ", "wish i was not here ", "at ", "2pm ", "said ", "same here", ",",
    ]
)  # fmt: skip
ADVERSARIAL_TEXT = st.lists(RISKY_FRAGMENTS, max_size=2_000).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_screen_never_raises_on_arbitrary_text(screen: RiskScreen, text: str) -> None:
    result = screen.screen(text)
    assert result is None or isinstance(result, RiskMatch)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.one_of(LONG_TEXT, ADVERSARIAL_TEXT))
def test_screen_never_raises_on_long_or_adversarial_text(screen: RiskScreen, text: str) -> None:
    result = screen.screen(text)
    assert result is None or isinstance(result, RiskMatch)


@pytest.mark.parametrize(
    "text",
    [
        "i " * 10_000,
        '"' * 20_000,
        "'a " * 6_600,
        "self-" * 4_000,
        "my partner " + "has " * 5_000 + "hit me",
        "i would rather die than " * 850,
        "\u200b" * 20_000,
        "e\u0301" * 10_000,
    ],
    ids=["pronouns", "quotes", "apostrophes", "hyphens", "filler", "idioms", "zero-width", "marks"],
)
def test_twenty_thousand_adversarial_characters_are_screened(screen: RiskScreen, text: str) -> None:
    # Linear time is guaranteed by the content rules (no unbounded repetition); this proves the
    # worst shapes we know of finish and answer sensibly.
    assert screen.screen(text) is None


def test_a_risk_statement_at_the_end_of_a_very_long_message_is_caught(screen: RiskScreen) -> None:
    text = "Long day of back to back calls. " * 600 + "Honestly I can't go on like this."
    assert len(text) > 19_000
    assert screen.screen(text) == RiskMatch("suicidal_thoughts")


def test_screening_logs_nothing(screen: RiskScreen, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        screen.screen("I want to die")
        screen.screen("My caseload is fine")
    assert caplog.records == []


# --- the content file -------------------------------------------------------------------------


def content() -> dict[str, Any]:
    return copy.deepcopy(load_content("risk.yaml"))


def test_default_screen_is_built_once() -> None:
    assert default_risk_screen() is default_risk_screen()


def test_a_clinical_lead_can_add_a_wording_without_touching_code() -> None:
    text = "I've given up on life"
    assert RiskScreen.from_content(content()).screen(text) is None
    data = content()
    data["categories"]["suicidal_thoughts"]["wordings"].append("given up on (life|living)")
    assert RiskScreen.from_content(data).screen(text) == RiskMatch("suicidal_thoughts")


@pytest.mark.parametrize(
    ("wording", "complaint"),
    [
        ("want .* die", "repeats without a limit"),
        ("(very )+sad", "repeats without a limit"),
        ("so{2,} sad", "repeats without a limit"),
        ("{nobody} wants me", "unknown shorthand {nobody}"),
        ("(unclosed", "not a valid pattern"),
    ],
)
def test_unsafe_or_broken_wordings_are_refused_with_a_clear_reason(
    wording: str, complaint: str
) -> None:
    data = content()
    data["categories"]["self_harm"]["wordings"].append(wording)
    with pytest.raises(ValueError, match="self_harm wording") as raised:
        RiskScreen.from_content(data)
    assert complaint in str(raised.value)


def test_a_category_without_wordings_is_refused() -> None:
    data = content()
    data["categories"]["self_harm"]["wordings"] = []
    with pytest.raises(ValueError, match=r"self_harm\.wordings"):
        RiskScreen.from_content(data)
