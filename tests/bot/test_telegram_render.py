"""Button data signing, keyboard layout and long-message splitting."""

from __future__ import annotations

import html
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.callbacks import MAX_CALLBACK_BYTES, CallbackCodec, Press
from bot.telegram.render import ReplyRenderer, plain_length, split_html
from dialogues.catalogue import default_catalogue
from dialogues.core import CONTROLS, Option, Reply
from prompts.rendering import html_to_plain
from tests.botapi.html import parse_html

CODEC = CallbackCodec(os.urandom(32))
FIXED_VALUES = [
    "consent:yes:reflect", "consent:yes:quick", "consent:no", "menu:reflect", "menu:quick",
    "resume:yes", "resume:fresh", "expand:yes", "expand:fresh", "identifiers:rewrite",
    "identifiers:keep", "safety:continue", "safety:stop", "safety:unsafe", "forget:yes",
    "forget:no", "history:99999", "open:9999999999", "done", "own",
    *(f"ctl:{name}" for name in CONTROLS),
]  # fmt: skip


def every_option_value() -> list[str]:
    catalogue = default_catalogue()
    vocabularies = (catalogue.categories, catalogue.values, catalogue.strategies, catalogue.timings)
    return [*FIXED_VALUES, *(item.id for items in vocabularies for item in items)]


def test_every_option_fits_in_a_button_even_late_in_a_long_life() -> None:
    for value in every_option_value():
        data = CODEC.encode(9_999_999_999, 10**9, value)
        assert len(data.encode()) <= MAX_CALLBACK_BYTES
        assert CODEC.decode(9_999_999_999, data) == Press(value, 10**9)


def test_a_button_is_bound_to_its_practitioner_question_and_value() -> None:
    data = CODEC.encode(1001, 7, "caseload")
    assert CODEC.decode(1001, data) == Press("caseload", 7)
    assert CODEC.decode(1002, data) is None  # someone else's button
    value, token, signature = data.split("|")
    assert CODEC.decode(1001, f"admin|{token}|{signature}") is None  # another option
    assert CODEC.decode(1001, f"{value}|8|{signature}") is None  # another question
    assert CODEC.decode(1001, f"{value}||{signature}") is None  # question number removed
    assert CallbackCodec(os.urandom(32)).decode(1001, data) is None  # another installation


@given(st.text(max_size=80))
def test_any_callback_data_is_refused_without_crashing(data: str) -> None:
    assert CODEC.decode(1001, data) is None


def test_ratings_are_laid_out_six_to_a_row_with_controls_below() -> None:
    renderer = ReplyRenderer(CODEC, {"skip": "Skip", "pause": "Pause", "cancel": "Cancel"})
    ratings = tuple(Option(str(n), str(n)) for n in range(11))
    keyboard = renderer.keyboard(Reply("x.j2", {}, ratings, ("skip", "pause", "cancel"), 3), 1)
    assert keyboard is not None
    assert [[label for label, _ in row] for row in keyboard] == [
        ["0", "1", "2", "3", "4", "5"],
        ["6", "7", "8", "9", "10"],
        ["Skip", "Pause", "Cancel"],
    ]
    assert CODEC.decode(1, keyboard[-1][0][1]) == Press("ctl:skip", 3)


def test_long_labels_get_a_row_each() -> None:
    renderer = ReplyRenderer(CODEC, {})
    options = (Option("a", "Short"), Option("b", "Boundaries between work and home"))
    keyboard = renderer.keyboard(Reply("x.j2", {}, options, (), 1), 1)
    assert keyboard is not None and [len(row) for row in keyboard] == [1, 1]


def test_short_text_is_one_message() -> None:
    assert split_html("<b>Hello</b> there") == ["<b>Hello</b> there"]


def test_long_text_splits_at_paragraphs_and_keeps_tags_balanced() -> None:
    paragraph = "<b>Heading</b>\n" + "<i>" + ("word " * 150) + "</i>"
    text = "\n\n".join(paragraph for _ in range(8))
    parts = split_html(text, limit=2000)
    assert len(parts) > 1
    for part in parts:
        plain, _entities = parse_html(part)  # valid HTML on its own
        assert len(plain) <= 2000
        assert part.startswith("<b>Heading</b>")  # cut between paragraphs
    assert " ".join(html_to_plain(p) for p in parts).split() == html_to_plain(text).split()


def test_a_tag_open_across_a_cut_is_closed_and_reopened() -> None:
    text = "<b>" + "bold words here " * 400 + "</b>"
    parts = split_html(text, limit=1000)
    assert len(parts) > 5
    for part in parts:
        assert part.startswith("<b>") and part.endswith("</b>")
        parse_html(part)


def test_an_unbroken_run_and_entities_are_cut_safely() -> None:
    text = "x" * 5000 + " &amp; " + "&lt;" * 3000
    parts = split_html(text)
    assert all(plain_length(part) <= 4096 for part in parts)
    assert "".join(html_to_plain(p) for p in parts).replace(" ", "") == html.unescape(text).replace(
        " ", ""
    )


words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(words, st.sampled_from(["", "b", "i"]), st.sampled_from(
    [" ", "\n", "\n\n"])), min_size=1, max_size=400), st.integers(50, 600))  # fmt: skip
def test_any_escaped_text_splits_into_valid_parts_that_keep_every_word(
    pieces: list[tuple[str, str, str]], limit: int
) -> None:
    text = "".join(
        (f"<{tag}>{html.escape(word)}</{tag}>" if tag else html.escape(word)) + gap
        for word, tag, gap in pieces
    )
    parts = split_html(text, limit=limit)
    for part in parts:
        plain, _ = parse_html(part)
        assert 0 < len(plain.encode("utf-16-le")) // 2 <= limit
    assert "".join("".join(html_to_plain(p).split()) for p in parts) == "".join(
        html_to_plain(text).split()
    )
