"""Spot likely patient identifiers in a practitioner's free text before it is saved.

Reflective logs must not hold patient-identifiable data, so every free-text answer is checked
here and the dialogue asks the practitioner to anonymise whatever was found. This module only
detects; it never edits the text, stores nothing and reads no clock (callers pass ``today``).

Kinds reported: ``nhs_number`` (10 digits passing the modulus-11 check), ``date_of_birth`` (a
date near a cue such as "DOB", or a full date at least ``min_age_years`` old), ``postcode`` (UK),
``phone_number`` (UK), ``email`` and ``name`` (a capitalised word, not on the stop-list, that
follows a title or a cue such as "my client", comes before a verb such as "said", or carries a
possessive "'s").

The vocabularies (titles, cues, stop-list, month names, allowed service numbers) live in
``prompts/content/identifiers.yaml``. The guard leans towards flagging: a false alarm costs the
practitioner one tap to keep their text, a miss leaves a client identifiable.

Matching runs on a normalised copy of the text (NFKC, format characters such as zero-width spaces
removed, dashes, apostrophes and spaces folded to ASCII), but every finding's ``start`` and ``end``
index the ORIGINAL text, so ``text[finding.start:finding.end]`` is what the practitioner typed.

Every pattern is anchored at a token start and uses bounded repetition, so ``find`` stays linear
in the length of the text, whatever it contains.
"""

from __future__ import annotations

import bisect
import datetime
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from prompts import load_content

CONTENT_FILE = "identifiers.yaml"

# Order matters: when two findings overlap, the earlier kind wins (an email address can contain
# something postcode-shaped; a date inside a phone number is not a date).
KINDS = ("email", "nhs_number", "phone_number", "date_of_birth", "postcode", "name")
_PRIORITY = {kind: rank for rank, kind in enumerate(KINDS)}

NHS_NUMBER_LENGTH = 10


@dataclass(frozen=True)
class IdentifierFinding:
    """One likely identifier: its kind and where it sits in the original text."""

    kind: str
    start: int
    end: int


def is_valid_nhs_number(digits: str) -> bool:
    """Say whether ``digits`` is a 10-digit NHS number whose modulus-11 check digit is right.

    Spaces and hyphens are ignored, so ``"943 476 5919"`` and ``"9434765919"`` are both valid.
    """
    compact = digits.replace(" ", "").replace("-", "")
    if len(compact) != NHS_NUMBER_LENGTH or not (compact.isascii() and compact.isdigit()):
        return False
    weighted = sum(
        int(digit) * weight for digit, weight in zip(compact[:9], range(10, 1, -1), strict=True)
    )
    check = 11 - weighted % 11
    if check == 11:
        check = 0
    # A remainder giving 10 is never issued, so no number carrying it is valid.
    return check != 10 and check == int(compact[9])


# --- Normalisation ------------------------------------------------------------------------------

_APOSTROPHES = frozenset("\u2018\u2019\u02bc\u2032\u0060\u00b4")


def _fold(char: str) -> str:
    """Fold look-alike punctuation to the ASCII the patterns expect."""
    if char in _APOSTROPHES:
        return "'"
    category = unicodedata.category(char)
    if category == "Pd":
        return "-"
    if category == "Zs":
        return " "
    return char


@dataclass(frozen=True)
class _Normalised:
    """A normalised copy of a text plus, per character, the original span it came from."""

    text: str
    origin_start: list[int]
    origin_end: list[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin_start[start], self.origin_end[end - 1]


def _normalise(text: str) -> _Normalised:
    """NFKC-normalise ``text`` cluster by cluster, keeping a map back to the original offsets.

    A cluster is a character plus any combining marks after it, so "e" + U+0301 becomes "é"
    and maps back to both original characters. Format characters (zero-width space, soft hyphen,
    bidi controls) are dropped, so "943\u200b476\u200b5919" still reads as one number.
    """
    if text.isascii():
        positions = list(range(len(text)))
        return _Normalised(text, positions, [index + 1 for index in positions])
    chars: list[str] = []
    origin_start: list[int] = []
    origin_end: list[int] = []
    index = 0
    length = len(text)
    while index < length:
        cluster_end = index + 1
        while cluster_end < length and unicodedata.combining(text[cluster_end]):
            cluster_end += 1
        cluster = "".join(
            char for char in text[index:cluster_end] if unicodedata.category(char) != "Cf"
        )
        for char in unicodedata.normalize("NFKC", cluster):
            chars.append(_fold(char))
            origin_start.append(index)
            origin_end.append(cluster_end)
        index = cluster_end
    return _Normalised("".join(chars), origin_start, origin_end)


# --- Fixed patterns -----------------------------------------------------------------------------
# These describe formats (NHS numbers, UK postcodes and phone numbers, email addresses), not
# wording, so they live in code. Lookbehinds pin each match to the start of a token.

_NHS_NUMBER = re.compile(r"(?<![\w+])[0-9]{3}([ -]?)[0-9]{3}\1[0-9]{4}(?!\w)")

_PHONE_NUMBER = re.compile(
    r"""
    (?<![\w+(])
    (?:
        (?:\+|00)44[ ]?(?:\(0\)[ ]?)?     # +44 7700 900123, +44 (0)20 7946 0958
      | \(?0                              # 07700 900123, (0113) 496 0000
    )
    (?:
        [1-9][0-9]\)?[ -]?[0-9]{4}[ -]?[0-9]{4}          # 020 7946 0958
      | [1-9][0-9]{2}\)?[ -]?[0-9]{3}[ -]?[0-9]{4}       # 0161 496 0000, 0800 123 4567
      | [1-9][0-9]{2}\)?[ -]?[0-9]{4}[ -]?[0-9]{3}       # 0300 0303 300
      | [1-9][0-9]{3}\)?[ -]?[0-9]{3}[ -]?[0-9]{3}       # 07700 900 123
      | [1-9][0-9]{3}\)?[ -]?[0-9]{6}                    # 07700 900123, 01632 960123
      | 1[0-9]{3}\)?[ -]?[0-9]{5}                        # 01632 96012 (shorter local numbers)
    )
    (?![0-9])
    """,
    re.VERBOSE,
)

# The Royal Mail format: outward code (area letters, district digit, optional letter/digit),
# optional space, inward code (digit and two letters, never C, I, K, M, O or V). The letter
# restrictions keep ordinary words and scores such as "PHQ9" from matching.
_POSTCODE = re.compile(
    r"""
    (?<![\w])
    (?:
        GIR[ ]?0AA
      | [A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRVWXY]?)
        [ ]?[0-9][ABD-HJLNP-UW-Z]{2}
    )
    (?![\w])
    """,
    re.VERBOSE | re.IGNORECASE,
)

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}(?![\w-])"
)

_NUMERIC_DATE = re.compile(
    r"(?<![\w./-])(?P<a>[0-9]{1,2})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?P=sep)(?P<year>[0-9]{4}|[0-9]{2})"
    r"(?![\w]|[./-][0-9])"
)
_ISO_DATE = re.compile(
    r"(?<![\w./-])(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})(?![\w]|[./-][0-9])"
)

# A word that could be a name: letters, with inner apostrophes or hyphens (O'Brien, Taylor-Brown).
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+){0,4}")
_POSSESSIVE = re.compile(
    r"(?<![\w'-])(?P<word>[^\W\d_]+(?:['-][^\W\d_]+){0,4}?)(?:'s|(?<=s)')(?!\w)"
)

_CLOCK_TIME = r"[0-9]{1,2}(?:[:.][0-9]{2})?[ ]?(?:am|pm|o'clock)|[0-9]{1,2}[:.][0-9]{2}"

_MAX_NAME_WORDS = 3  # a first name and up to two more (middle name, surname)


# --- Content ----------------------------------------------------------------------------------


def _phrases(data: Mapping[str, Any], key: str) -> list[str]:
    """Read ``key`` as a list of strings, or a mapping of named groups of such lists."""
    if key not in data:
        raise ValueError(f"identifier content is missing {key!r}")
    value = data[key]
    groups: Iterable[Any] = value.values() if isinstance(value, Mapping) else [value]
    phrases: list[str] = []
    for group in groups:
        if not isinstance(group, list) or not all(isinstance(item, str) for item in group):
            raise ValueError(f"identifier content {key!r} must hold lists of text")
        phrases.extend(item.strip() for item in group if item.strip())
    if not phrases:
        raise ValueError(f"identifier content {key!r} is empty")
    return phrases


def _whole_number(data: Mapping[str, Any], section: str, key: str) -> int:
    section_data = data.get(section)
    value = section_data.get(key) if isinstance(section_data, Mapping) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"identifier content needs a whole number at {section}.{key}")
    return value


def _alternation(phrases: Iterable[str], *, time_pattern: str | None = None) -> str:
    """Build a regex alternation matching any phrase, with a little leeway in the spacing.

    Longer phrases come first so "service user" wins over "service". ``{time}`` in a phrase
    stands for a clock time ("my {time}" matches "my 2pm").
    """
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        words = []
        for word in phrase.split():
            if word == "{time}" and time_pattern is not None:
                words.append(f"(?:{time_pattern})")
            else:
                words.append(re.escape(word))
        parts.append(r"[ \t]{1,3}".join(words))
    return "|".join(parts)


def _national_digits(phone: str) -> str:
    """Reduce a UK phone number to its national digits: "+44 (0)20 7946 0958" -> "02079460958"."""
    digits = re.sub(r"[^0-9]", "", phone)
    for prefix in ("0044", "44"):
        if digits.startswith(prefix) and (prefix == "0044" or phone.lstrip().startswith("+")):
            rest = digits[len(prefix) :]
            return rest if rest.startswith("0") else "0" + rest
    return digits


@dataclass(frozen=True)
class _DateCandidate:
    start: int
    end: int
    day: int | None
    month: int | None
    year: int | None


class IdentifierGuard:
    """Finds likely patient identifiers in free text, using vocabularies from content data."""

    def __init__(
        self,
        *,
        titles: list[str],
        name_cues: list[str],
        name_followers: list[str],
        dob_cues: list[str],
        not_names: list[str],
        months: list[str],
        allowed_phone_numbers: list[str],
        min_age_years: int,
        max_age_years: int,
        cue_window_before: int,
        cue_window_after: int,
    ) -> None:
        """Build the guard; prefer :meth:`from_content`, which reads the editable YAML."""
        if len(months) != 12:
            raise ValueError("identifier content needs exactly 12 month names, January first")
        self._min_age_years = min_age_years
        self._max_age_years = max_age_years
        self._cue_window_before = cue_window_before
        self._cue_window_after = cue_window_after
        self._allowed_phones = frozenset(
            _national_digits(number) for number in allowed_phone_numbers
        )

        self._month_numbers: dict[str, int] = {}
        for number, month in enumerate(months, start=1):
            name = month.casefold()
            self._month_numbers[name] = number
            self._month_numbers[name[:3]] = number
        self._month_numbers.setdefault("sept", 9)
        # After a title, month names are names ("Mrs May", "Miss April"); elsewhere neither a
        # title nor a month is a name on its own ("the Dr's note", "March's figures").
        self._not_names_after_title = frozenset(
            [*(word.casefold() for word in not_names), *(title.casefold() for title in titles)]
        )
        self._not_names = self._not_names_after_title | frozenset(self._month_numbers)

        self._title = re.compile(
            rf"(?<![\w])(?:{_alternation(titles)})(?:\.|(?=[ \t]))[ \t]{{1,3}}"
            r"(?:[A-Z]\.?[ \t]{1,3}){0,2}"  # initials, as in "Mr J. Smith"
        )
        self._name_cue = re.compile(
            rf"(?<![\w])(?:{_alternation(name_cues, time_pattern=_CLOCK_TIME)})(?![\w])"
            r"[,:]?[ \t]{1,3}",
            re.IGNORECASE,
        )
        # A capitalised word doing something only a person does: "Jo said", "Amir disclosed".
        self._name_before_follower = re.compile(
            rf"(?<![\w'-])(?P<word>{_WORD.pattern})[ \t]{{1,3}}"
            rf"(?:{_alternation(name_followers)})(?![\w])",
            re.IGNORECASE,
        )
        self._dob_cue = re.compile(rf"(?<![\w])(?:{_alternation(dob_cues)})(?![\w])", re.IGNORECASE)
        self._year_after_cue = re.compile(
            r"[ \t]{0,3}[:-]?[ \t]{0,3}(?:in[ \t]{1,3})?(?P<year>(?:19|20)[0-9]{2})(?![\w])",
            re.IGNORECASE,
        )

        month = rf"(?P<month>{_alternation(self._month_numbers)})(?![^\W\d_])\.?"
        day = r"(?P<day>[0-9]{1,2})(?:st|nd|rd|th)?"
        year = r"(?P<year>[0-9]{4}|'[0-9]{2})"
        self._textual_dates = (
            # 3rd March 1987, 3 Mar 87, 3-Mar-1987, 3rd of March
            re.compile(
                rf"(?<![\w]){day}(?:[ -]|[ \t]{{1,3}}of[ \t]{{1,3}}){month}"
                rf"(?:,?[ -]{year})?(?![\w])",
                re.IGNORECASE,
            ),
            # March 3rd, 1987 / March 3
            re.compile(
                rf"(?<![\w]){month}[ \t]{{1,3}}{day}(?:,?[ \t]{{1,3}}{year})?(?![\w])",
                re.IGNORECASE,
            ),
            # March 1987 (only counts next to a DOB cue)
            re.compile(
                rf"(?<![\w]){month},?[ \t]{{1,3}}(?P<year>[0-9]{{4}})(?![\w])", re.IGNORECASE
            ),
        )

    @classmethod
    def from_content(cls, data: Mapping[str, Any]) -> IdentifierGuard:
        """Build a guard from parsed ``identifiers.yaml`` content; raise ValueError if malformed."""
        if not isinstance(data, Mapping):
            raise ValueError("identifier content must be a mapping")
        allowed = data.get("allowed_phone_numbers", [])
        if not isinstance(allowed, list) or not all(isinstance(item, str) for item in allowed):
            raise ValueError("identifier content 'allowed_phone_numbers' must be a list of text")
        return cls(
            titles=_phrases(data, "titles"),
            name_cues=_phrases(data, "name_cues"),
            name_followers=_phrases(data, "name_followers"),
            dob_cues=_phrases(data, "dob_cues"),
            not_names=_phrases(data, "not_names"),
            months=_phrases(data, "months"),
            allowed_phone_numbers=allowed,
            min_age_years=_whole_number(data, "date_of_birth", "min_age_years"),
            max_age_years=_whole_number(data, "date_of_birth", "max_age_years"),
            cue_window_before=_whole_number(data, "date_of_birth", "cue_window_before"),
            cue_window_after=_whole_number(data, "date_of_birth", "cue_window_after"),
        )

    def find(self, text: str, *, today: datetime.date) -> list[IdentifierFinding]:
        """Return the likely identifiers in ``text``, in order, never overlapping.

        Offsets index the original ``text``. ``today`` decides which dates are old enough to be
        a date of birth.
        """
        normalised = _normalise(text)
        plain = normalised.text
        candidates = [
            *self._emails(plain),
            *self._nhs_numbers(plain),
            *self._phone_numbers(plain),
            *self._dates_of_birth(plain, today),
            *self._postcodes(plain),
            *self._names(plain),
        ]
        findings = []
        for kind, start, end in _without_overlaps(candidates):
            original_start, original_end = normalised.original_span(start, end)
            findings.append(IdentifierFinding(kind, original_start, original_end))
        return findings

    # --- Detectors: each yields (kind, start, end) in normalised-text offsets ---

    def _emails(self, text: str) -> Iterator[tuple[str, int, int]]:
        for match in _EMAIL.finditer(text):
            yield "email", match.start(), match.end()

    def _nhs_numbers(self, text: str) -> Iterator[tuple[str, int, int]]:
        for match in _NHS_NUMBER.finditer(text):
            if is_valid_nhs_number(match.group()):
                yield "nhs_number", match.start(), match.end()

    def _phone_numbers(self, text: str) -> Iterator[tuple[str, int, int]]:
        for match in _PHONE_NUMBER.finditer(text):
            if _national_digits(match.group()) not in self._allowed_phones:
                yield "phone_number", match.start(), match.end()

    def _postcodes(self, text: str) -> Iterator[tuple[str, int, int]]:
        for match in _POSTCODE.finditer(text):
            yield "postcode", match.start(), match.end()

    def _dates_of_birth(self, text: str, today: datetime.date) -> Iterator[tuple[str, int, int]]:
        cues = list(self._dob_cue.finditer(text))
        cue_starts = [cue.start() for cue in cues]
        cue_ends = [cue.end() for cue in cues]

        def near_cue(start: int, end: int) -> bool:
            # A cue ending shortly before the date ("DOB: 12/03/87") or starting shortly after
            # it ("12/03/87 (DOB)").
            before = bisect.bisect_right(cue_ends, start)
            if before and start - cue_ends[before - 1] <= self._cue_window_before:
                return True
            after = bisect.bisect_left(cue_starts, end)
            return after < len(cue_starts) and cue_starts[after] - end <= self._cue_window_after

        for date in self._date_candidates(text, today):
            if not _is_real_date(date):
                continue
            if near_cue(date.start, date.end) or self._old_enough(date, today):
                yield "date_of_birth", date.start, date.end
        # "born in 1987": a bare year counts only straight after a cue.
        for cue in cues:
            match = self._year_after_cue.match(text, cue.end())
            if match:
                yield "date_of_birth", match.start("year"), match.end("year")

    def _old_enough(self, date: _DateCandidate, today: datetime.date) -> bool:
        if date.day is None or date.month is None or date.year is None:
            return False
        age = today.year - date.year
        return self._min_age_years <= age <= self._max_age_years

    def _date_candidates(self, text: str, today: datetime.date) -> Iterator[_DateCandidate]:
        for match in _NUMERIC_DATE.finditer(text):
            first, second = int(match["a"]), int(match["b"])
            year = _full_year(match["year"], today)
            # British order first; fall back to American when that is the only real date.
            day, month = (first, second) if second <= 12 else (second, first)
            yield _DateCandidate(match.start(), match.end(), day, month, year)
        for match in _ISO_DATE.finditer(text):
            yield _DateCandidate(
                match.start(),
                match.end(),
                int(match["day"]),
                int(match["month"]),
                int(match["year"]),
            )
        for pattern in self._textual_dates:
            for match in pattern.finditer(text):
                groups = match.groupdict()
                yield _DateCandidate(
                    match.start(),
                    match.end(),
                    day=int(groups["day"]) if groups.get("day") else None,
                    month=self._month_numbers[groups["month"].casefold()],
                    year=_full_year(groups["year"], today) if groups.get("year") else None,
                )

    def _names(self, text: str) -> Iterator[tuple[str, int, int]]:
        for match in self._title.finditer(text):
            end = self._name_end(text, match.end(), stop_list=self._not_names_after_title)
            if end is not None:
                yield "name", match.start(), end
        for match in self._name_cue.finditer(text):
            end = self._name_end(text, match.end(), stop_list=self._not_names)
            if end is not None:
                yield "name", match.end(), end
        for match in self._name_before_follower.finditer(text):
            word = match["word"].removesuffix("'s")  # "Sarah's cancelled" is "Sarah has"
            if _is_name(word, self._not_names):
                yield "name", match.start(), match.start() + len(word)
        for match in _POSSESSIVE.finditer(text):
            if _is_name(match["word"], self._not_names):
                yield "name", match.start(), match.end("word")

    def _name_end(self, text: str, start: int, *, stop_list: frozenset[str]) -> int | None:
        """Return where the name starting at ``start`` ends (surname included), or None."""
        end: int | None = None
        position = start
        for _ in range(_MAX_NAME_WORDS):
            word = _WORD.match(text, position)
            if word is None:
                break
            name = word.group().removesuffix("'s")
            # A surname is held to the full stop-list: "Mrs May Monday" is Mrs May, on Monday.
            if not _is_name(name, stop_list if end is None else self._not_names):
                break
            end = word.start() + len(name)
            # Only a single space joins a first name to a surname.
            if end != word.end() or text[end : end + 1] != " ":
                break
            position = end + 1
        return end


def _is_name(word: str, stop_list: frozenset[str]) -> bool:
    """A name starts with a capital, has lower-case letters (unlike initials and acronyms) and
    is not on the stop-list."""
    if len(word) < 2 or not word[0].isupper() or not any(char.islower() for char in word):
        return False
    folded = word.casefold()
    # "I'd" and "It's" are the stop-listed "I" and "It" with a contraction.
    return folded not in stop_list and folded.split("'")[0] not in stop_list


def _full_year(text: str, today: datetime.date) -> int:
    """Turn "1987", "87" or "'87" into a year; two digits mean the latest year not after today."""
    digits = text.lstrip("'")
    year = int(digits)
    if len(digits) == 2:
        year += 2000 if 2000 + year <= today.year else 1900
    return year


def _is_real_date(date: _DateCandidate) -> bool:
    if date.month is None or not 1 <= date.month <= 12:
        return False
    if date.day is None:
        return True
    # Without a year, allow 29 February by checking against a leap year.
    try:
        datetime.date(date.year or 2000, date.month, date.day)
    except ValueError:
        return False
    return True


def _without_overlaps(candidates: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Keep the strongest of overlapping candidates: higher-priority kind, then the longer span."""
    ranked = sorted(candidates, key=lambda item: (_PRIORITY[item[0]], item[1] - item[2], item[1]))
    kept_starts: list[int] = []
    kept: list[tuple[str, int, int]] = []
    for candidate in ranked:
        _, start, end = candidate
        index = bisect.bisect_left(kept_starts, start)
        overlaps_next = index < len(kept) and kept[index][1] < end
        overlaps_previous = index > 0 and kept[index - 1][2] > start
        if not (overlaps_next or overlaps_previous):
            kept_starts.insert(index, start)
            kept.insert(index, candidate)
    return kept


@cache
def default_identifier_guard() -> IdentifierGuard:
    """Return the process-wide guard built from ``prompts/content/identifiers.yaml``."""
    return IdentifierGuard.from_content(load_content(CONTENT_FILE))
