"""The patient-identifier guard: what it flags, what it leaves alone, and that it never hangs."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues.identifiers import (
    KINDS,
    IdentifierFinding,
    IdentifierGuard,
    default_identifier_guard,
    is_valid_nhs_number,
)
from prompts import load_content

SAMPLES_PATH = Path(__file__).resolve().parents[1] / "data" / "identifier_samples.yaml"
SAMPLES: dict[str, Any] = yaml.safe_load(SAMPLES_PATH.read_text(encoding="utf-8"))
TODAY: datetime.date = SAMPLES["today"]
ZERO_WIDTH_SPACE = "\u200b"


def flagged(text: str, today: datetime.date = TODAY) -> list[tuple[str, str]]:
    """What the default guard flags in ``text``, as (kind, original text) pairs."""
    findings = default_identifier_guard().find(text, today=today)
    return [(finding.kind, text[finding.start : finding.end]) for finding in findings]


def test_sample_file_has_enough_of_each_side() -> None:
    assert len(SAMPLES["identifiers"]) >= 30
    assert len(SAMPLES["not_identifiers"]) >= 30
    assert {sample["kind"] for sample in SAMPLES["identifiers"]} == set(KINDS)


@pytest.mark.parametrize(
    "sample", SAMPLES["identifiers"], ids=lambda sample: f"{sample['kind']}:{sample['match']}"
)
def test_every_sample_identifier_is_caught_with_its_kind(sample: dict[str, str]) -> None:
    assert (sample["kind"], sample["match"]) in flagged(sample["text"])


@pytest.mark.parametrize("text", SAMPLES["not_identifiers"])
def test_ordinary_reflection_text_raises_no_alarm(text: str) -> None:
    assert flagged(text) == []


@pytest.mark.parametrize(
    "sample", SAMPLES["identifiers"], ids=lambda sample: f"{sample['kind']}:{sample['match']}"
)
def test_zero_width_characters_cannot_hide_an_identifier(sample: dict[str, str]) -> None:
    hidden = ZERO_WIDTH_SPACE.join(sample["match"])
    text = sample["text"].replace(sample["match"], hidden, 1)
    assert (sample["kind"], hidden) in flagged(text)


# --- NHS numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["9434765919", "943 476 5919", "943-476-5919", "4010232137", "4505577104"]
)
def test_valid_nhs_numbers_pass_the_check_digit(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "9434765918",  # wrong check digit
        "943 476 5918",
        "1234567890",
        "943476591",  # nine digits
        "94347659190",  # eleven digits
        "94347659I9",  # a letter
        "",
        "٩٤٣٤٧٦٥٩١٩",  # right digits in another script are not an NHS number as written
    ],
)
def test_invalid_nhs_numbers_fail(number: str) -> None:
    assert not is_valid_nhs_number(number)


def test_a_remainder_giving_eleven_means_check_digit_zero() -> None:
    # 2*10 + 1*2 = 22, which leaves no remainder: 11 - 0 = 11, written as 0.
    assert is_valid_nhs_number("2000000010")
    assert not is_valid_nhs_number("2000000011")


def test_a_prefix_needing_check_digit_ten_is_never_valid() -> None:
    # 1*10 + 2*9 + ... + 9*2 = 210, remainder 1, so the check digit would be 10.
    assert not any(is_valid_nhs_number(f"123456789{digit}") for digit in "0123456789")


def test_ten_digits_failing_the_check_are_not_an_nhs_number() -> None:
    assert flagged("Ref 943 476 5918 on the letter") == []


def test_ten_digits_failing_the_check_can_still_be_a_phone_number() -> None:
    assert flagged("ring 0163296012 after 5") == [("phone_number", "0163296012")]


# --- Dates of birth ------------------------------------------------------------------------------


def test_a_full_date_counts_as_birth_only_once_old_enough() -> None:
    text = "Mentioned 12/03/2010 in passing"
    assert flagged(text, today=datetime.date(2026, 6, 1)) == [("date_of_birth", "12/03/2010")]
    assert flagged(text, today=datetime.date(2020, 6, 1)) == []


def test_a_recent_date_with_a_birth_cue_is_still_a_date_of_birth() -> None:
    assert flagged("Baby born 2 May 2026, mum exhausted") == [("date_of_birth", "2 May 2026")]


def test_impossible_dates_are_ignored() -> None:
    assert flagged("DOB 31/02/1987 looked wrong") == []


def test_two_digit_years_are_read_as_the_latest_year_not_after_today() -> None:
    assert flagged("seen on 12/03/25") == []
    assert flagged("seen on 12/03/87") == [("date_of_birth", "12/03/87")]


def test_a_stubborn_client_is_not_a_birth_cue() -> None:
    assert flagged("a stubborn 3 March deadline") == []


# --- Names ---------------------------------------------------------------------------------------


def test_initials_are_already_anonymised() -> None:
    assert flagged("Mrs P and client JS both cancelled") == []


def test_a_title_is_not_itself_a_name() -> None:
    assert flagged("Mr Mr Mrs") == []


def test_a_name_with_a_contracted_has_is_reported_without_the_s() -> None:
    assert flagged("Sarah's cancelled again.") == [("name", "Sarah")]


def test_contractions_of_stop_words_do_not_extend_a_name() -> None:
    assert flagged("I told Sarah I'd call back") == [("name", "Sarah")]


# --- Unicode and offsets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "original"),
    [
        ("NHS ９４３ ４７６ ５９１９ on file", "nhs_number", "９４３ ４７６ ５９１９"),
        ("NHS 943\u00a0476\u00a05919", "nhs_number", "943\u00a0476\u00a05919"),
        ("NHS 943–476–5919", "nhs_number", "943–476–5919"),
        ("Sarah’s anxiety", "name", "Sarah"),
        ("Told Siobha\u0301n about it", "name", "Siobha\u0301n"),
        ("\u200b\u200bMrs Patel", "name", "Mrs Patel"),
        ("ｍｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email", "ｍｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ],
)
def test_odd_unicode_is_normalised_but_offsets_point_into_the_original(
    text: str, kind: str, original: str
) -> None:
    assert flagged(text) == [(kind, original)]


def test_findings_come_in_order_without_overlaps() -> None:
    text = (
        "Mrs Patel, DOB 12/03/1987, NHS 943 476 5919, lives at B33 8TH, "
        "call 07700 900123 or sarah.j@example.com"
    )
    assert flagged(text) == [
        ("name", "Mrs Patel"),
        ("date_of_birth", "12/03/1987"),
        ("nhs_number", "943 476 5919"),
        ("postcode", "B33 8TH"),
        ("phone_number", "07700 900123"),
        ("email", "sarah.j@example.com"),
    ]


def test_an_email_wins_over_a_postcode_inside_it() -> None:
    assert flagged("write to sw1a1aa@example.com") == [("email", "sw1a1aa@example.com")]


def test_a_finding_is_a_plain_value() -> None:
    finding = default_identifier_guard().find("Mrs Patel", today=TODAY)[0]
    assert finding == IdentifierFinding(kind="name", start=0, end=9)
    with pytest.raises(AttributeError):
        finding.start = 1  # type: ignore[misc]


# --- Content -------------------------------------------------------------------------------------


def content_with(**changes: Any) -> dict[str, Any]:
    data = dict(load_content("identifiers.yaml"))
    data.update(changes)
    return data


def test_default_guard_is_built_once() -> None:
    assert default_identifier_guard() is default_identifier_guard()


def test_cues_come_from_the_content_data() -> None:
    guard = IdentifierGuard.from_content(content_with(name_cues=["counsellee"]))
    text = "my counsellee Ruth was calmer; my client Sarah was not"
    names = [text[finding.start : finding.end] for finding in guard.find(text, today=TODAY)]
    assert names == ["Ruth"]


def test_the_stop_list_comes_from_the_content_data() -> None:
    not_names = {**load_content("identifiers.yaml")["not_names"], "local": ["Wigan"]}
    guard = IdentifierGuard.from_content(content_with(not_names=not_names))
    assert guard.find("Wigan's waiting list is long", today=TODAY) == []
    assert flagged("Wigan's waiting list is long") == [("name", "Wigan")]


def test_allowed_service_numbers_come_from_the_content_data() -> None:
    guard = IdentifierGuard.from_content(content_with(allowed_phone_numbers=["+44 7700 900123"]))
    assert guard.find("text 07700 900123", today=TODAY) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"titles": None},
        {"titles": []},
        {"dob_cues": "DOB"},
        {"months": ["January"]},
        {"date_of_birth": {"min_age_years": "sixteen"}},
        {"allowed_phone_numbers": [999]},
    ],
)
def test_malformed_content_is_refused_with_a_clear_error(broken: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="identifier content"):
        IdentifierGuard.from_content(content_with(**broken))


def test_missing_sections_are_named_in_the_error() -> None:
    data = content_with()
    del data["name_cues"]
    with pytest.raises(ValueError, match="name_cues"):
        IdentifierGuard.from_content(data)


# --- Robustness ----------------------------------------------------------------------------------

# Fragments that exercise every pattern, so generated text often comes close to matching.
FRAGMENTS = [
    "Mrs ",
    "Dr. ",
    "client ",
    "my 2pm, ",
    "DOB ",
    "born in ",
    "Sarah",
    "'s ",
    "’s ",
    "O'Brien",
    "943 476 5919",
    "07700 900123",
    "+44 ",
    "(0)",
    "SW1A 1AA",
    "m1 1ae",
    "@",
    "example.com",
    "12/03/1987",
    "3rd March 1987",
    "March ",
    "\u200b",
    "\u0301",
    "９",
    "–",
    " ",
    ".",
    "\n",
    "-",
]
NEAR_MISS_TEXT = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40
).map("".join)


@given(text=st.one_of(st.text(), NEAR_MISS_TEXT), today=st.dates())
@settings(max_examples=300, deadline=None)
def test_find_never_raises_and_keeps_offsets_inside_the_text(
    text: str, today: datetime.date
) -> None:
    findings = default_identifier_guard().find(text, today=today)
    previous_end = 0
    for finding in findings:
        assert finding.kind in KINDS
        assert previous_end <= finding.start < finding.end <= len(text)
        previous_end = finding.end


LONG_TEXT = 20_000
PATHOLOGICAL_INPUTS = {
    "letters": "a" * LONG_TEXT,
    "digits": "0" * LONG_TEXT,
    "spaced digits": "0 " * (LONG_TEXT // 2),
    "email-ish": "a@" * (LONG_TEXT // 2),
    "dotted": "a.b@c." * (LONG_TEXT // 6),
    "titles": "Mr " * (LONG_TEXT // 3),
    "cue then spaces": "client" + " " * LONG_TEXT,
    "possessives": "A's" * (LONG_TEXT // 3),
    "apostrophes": "Ab'" * (LONG_TEXT // 3),
    "words and gaps": "Ab   " * (LONG_TEXT // 5),
    "many names": "Jo said Mrs Ng's " * (LONG_TEXT // 17),
    "one long word": "A" + "b" * LONG_TEXT + "'s",
    "dob cues": "DOB " * (LONG_TEXT // 4),
    "date parts": "1/1/" * (LONG_TEXT // 4),
    "months": "3 March " * (LONG_TEXT // 8),
    "phone parts": "+44 (0)" * (LONG_TEXT // 7),
    "combining marks": "a" + "\u0301" * LONG_TEXT,
    "zero width": "\u200b9" * (LONG_TEXT // 2),
}


@pytest.mark.parametrize("name", PATHOLOGICAL_INPUTS)
def test_long_hostile_input_is_handled_quickly(name: str) -> None:
    text = PATHOLOGICAL_INPUTS[name]
    started = time.perf_counter()
    default_identifier_guard().find(text, today=TODAY)
    # Linear patterns take tens of milliseconds here; catastrophic backtracking takes minutes.
    assert time.perf_counter() - started < 2.0
