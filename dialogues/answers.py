"""Reading what a practitioner typed or picked: ratings, options and free text.

Every parser returns ``None`` (or an error code) for an answer it cannot accept, so the dialogue
can re-ask clearly instead of guessing or crashing.
"""

from __future__ import annotations

import re
import unicodedata

from dialogues.core import Option

RATING_MIN, RATING_MAX = 0, 10
# Long enough for a thoughtful paragraph, short enough that a summary card (which echoes the
# practitioner's words) still fits in one Telegram message of 4,096 characters.
MAX_TEXT_LENGTH = 1500

_NUMBER_WORDS = {
    "zero": 0, "nought": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_RATING = re.compile(r"^(?P<n>-?\d{1,3})(?:\s*(?:/|out of)\s*10)?$")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def normalise(text: str) -> str:
    """Fold compatibility forms and strip invisible characters, keeping the words as typed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).strip()


def _folded(text: str) -> str:
    return " ".join(normalise(text).casefold().split())


def parse_rating(text: str) -> int | None:
    """A whole number from 0 to 10, typed as digits ("7", "7/10") or a word ("seven")."""
    folded = _folded(text).rstrip(".!")
    if folded in _NUMBER_WORDS:
        return _NUMBER_WORDS[folded]
    match = _RATING.match(folded)
    if match is None:
        return None
    value = int(match["n"])
    return value if RATING_MIN <= value <= RATING_MAX else None


def rating_options() -> tuple[Option, ...]:
    """Buttons 0 to 10."""
    return tuple(Option(str(n), str(n)) for n in range(RATING_MIN, RATING_MAX + 1))


def match_option(text: str, options: tuple[Option, ...]) -> Option | None:
    """The option a typed answer names: its exact label, or a label it unambiguously starts."""
    folded = _folded(text).rstrip(".!")
    if not folded:
        return None
    for option in options:
        if folded in (_folded(option.label), option.value.casefold()):
            return option
    if len(folded) >= 3:
        starts = [o for o in options if _folded(o.label).startswith(folded)]
        if len(starts) == 1:
            return starts[0]
    return None


def clean_free_text(text: str) -> tuple[str | None, str | None]:
    """Tidy a free-text answer; return ``(text, None)`` or ``(None, reason)``.

    Reasons are ``"empty"`` and ``"too_long"``; templates word them for the practitioner.
    """
    cleaned = normalise(text)
    if not cleaned:
        return None, "empty"
    if len(cleaned) > MAX_TEXT_LENGTH:
        return None, "too_long"
    return cleaned, None
