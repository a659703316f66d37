"""Screen what a practitioner writes for risk to themselves.

Every free-text message passes through :meth:`RiskScreen.screen`. A :class:`RiskMatch` means the
conversation should stop, respond warmly and offer the crisis routes; ``None`` means carry on.
The screen looks for risk to the PRACTITIONER (suicidal thoughts, self-harm, feeling unable to
keep safe, harm to or from others). A client's risk described at work is a work challenge, and
so is everyday hyperbole such as "this caseload is killing me".

How a message is read:

1. **Normalise**: NFKC, case folded, zero-width and other invisible characters and combining
   marks removed, curly quotes, dashes, odd spaces and common look-alike letters folded to ASCII,
   then contractions spelt out ("I’m", "Im" -> "i am"; "can't", "cant" -> "can not").
2. **Split into sentences**, and drop quoted speech that follows someone else
   ('my 2pm said "I want to die"' is the client's voice).
3. **Match wordings** category by category. A match counts only when it is in the
   practitioner's own voice: it contains I/me/my/myself, or the nearest person mentioned before
   it in the sentence is the practitioner, or nobody is ("can't go on like this"). Matches inside
   an everyday phrase ("I'd rather die than do another audit") are ignored.
4. **"Me too"**: a message that mentions a category in anyone's voice and also says the same of
   the writer ("...talked about suicide and honestly I've been feeling the same") counts.

All wordings live in ``prompts/content/risk.yaml`` (its header explains how to add one). They are
compiled once and may not use unbounded repetition (``.*``, ``(...)+``), so screening stays
linear in the length of the text, whatever it contains. Nothing here logs or stores text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from prompts import load_content

CONTENT_FILE = "risk.yaml"


@dataclass(frozen=True)
class RiskMatch:
    """A message that needs the safety response; ``category`` names the kind of risk."""

    category: str


# --- Normalisation ------------------------------------------------------------------------------
# Mechanics, not wording: these only make differently typed versions of the same words identical.

_PUNCTUATION_VARIANTS = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u02bc\u02b9\u2032\u0060\u00b4\uff07", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"),
        **dict.fromkeys("\r\v\f\x1c\x1d\x1e\x85\u2028\u2029", "\n"),
        # Other control characters are invisible noise, dropped as zero-width characters are.
        **dict.fromkeys([*range(0x00, 0x09), 0x0E, 0x0F, *range(0x10, 0x1C), 0x1F, 0x7F], None),
    }
)

# Cyrillic and Greek letters that look like Latin ones, so "ѕuicidal" reads as "suicidal".
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ѕ": "s", "і": "i", "ј": "j", "к": "k", "м": "m",
        "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ԁ": "d",
        "ɡ": "g", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x",
    }
)  # fmt: skip

# Invisible characters: format (zero-width space, joiners, soft hyphen, bidi controls), controls
# other than line breaks and tabs, and combining marks (accents, "zalgo" text).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Mn", "Me"})
_KEPT_CONTROLS = frozenset("\n\t")

_SPACES = re.compile(r"[^\S\n]+")
_AROUND_LINE_BREAKS = re.compile(r" ?\n[\s]*")
_WORD = re.compile(r"\w+(?:'\w+)?")
# Full stops inside "2.30pm" are not sentence ends; colons and commas do not end a sentence,
# so 'she said: "..."' keeps its speaker.
_SENTENCE_END = re.compile(r"(?:\.(?!\d)|(?<!\d)\.|[!?;\n])+")
# Quoted speech: double quotes, or single quotes that are not apostrophes inside a word.
_QUOTED = re.compile(r"\"[^\"\n]{0,500}\"|(?<!\w)'[^'\n]{1,500}'(?!\w)")
_QUOTE_TAG_GAP = 3  # at most ", " between a closing quote and "she said"


def _strip_invisible(text: str) -> str:
    """Drop invisible characters and combining marks, keeping line breaks and tabs."""
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(
        char
        for char in decomposed
        if char in _KEPT_CONTROLS or unicodedata.category(char) not in _INVISIBLE_CATEGORIES
    )
    return unicodedata.normalize("NFC", kept)


# --- Building blocks from the content file -------------------------------------------------------

_SHORTHAND = re.compile(r"\{([a-z_]+)\}")
# Content patterns may only repeat a bounded number of times ("?", "{0,3}"), never "*", "+" or
# "{2,}". Then a match attempt at any position reads at most a fixed number of characters, so
# screening is linear in the length of the text and cannot backtrack catastrophically.
_UNBOUNDED = re.compile(r"(?<!\\)[*+]|\{\d*,\}")
# Matches nothing: stands in for an empty list of phrases.
_NEVER = "(?!)"


def _strings(value: object, where: str, *, allow_empty: bool = False) -> list[str]:
    """Return ``value`` as a list of non-empty strings, or explain what is wrong with it."""
    if value is None and allow_empty:
        return []
    if (
        not isinstance(value, list)
        or not (value or allow_empty)
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise ValueError(f"risk content: {where} must be a list of non-empty strings")
    return [str(item) for item in value]


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    """Return ``value`` as a mapping, or explain what is wrong with it."""
    if not isinstance(value, Mapping):
        raise ValueError(f"risk content: {where} must be a mapping")
    return value


def _expand(pattern: str, shorthands: Mapping[str, str], where: str) -> str:
    """Replace each ``{name}`` in ``pattern`` with its shorthand, refusing unknown names."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in shorthands:
            raise ValueError(f"risk content: {where} uses unknown shorthand {{{name}}}")
        return f"(?:{shorthands[name]})"

    return _SHORTHAND.sub(replace, pattern)


def _compile_words(patterns: Iterable[str], shorthands: Mapping[str, str], where: str) -> str:
    """Join ``patterns`` into one whole-word alternation, checking each one on the way."""
    parts: list[str] = []
    for index, pattern in enumerate(patterns, start=1):
        label = f"{where} #{index} ({pattern!r})"
        expanded = _expand(pattern, shorthands, label)
        if _UNBOUNDED.search(expanded):
            raise ValueError(
                f"risk content: {label} repeats without a limit (*, + or {{n,}}); "
                "use (...)? or {0,3} instead"
            )
        try:
            re.compile(expanded)
        except re.error as error:
            raise ValueError(f"risk content: {label} is not a valid pattern: {error}") from None
        parts.append(f"(?:{expanded})")
    if not parts:
        return _NEVER
    return r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)"


def _compile(patterns: Iterable[str], shorthands: Mapping[str, str], where: str) -> re.Pattern[str]:
    """Compile ``patterns`` as one whole-word alternation (see :func:`_compile_words`)."""
    return re.compile(_compile_words(patterns, shorthands, where))


def _load_shorthands(raw: Mapping[str, Any]) -> dict[str, str]:
    """Expand each shorthand using the ones defined before it."""
    shorthands: dict[str, str] = {}
    for name, pattern in raw.items():
        if not isinstance(name, str) or not isinstance(pattern, str) or not pattern:
            raise ValueError("risk content: every shorthand must map a name to a pattern")
        shorthands[name] = _expand(pattern, shorthands, f"shorthand {name}")
    return shorthands


@dataclass(frozen=True)
class _Category:
    name: str
    wordings: re.Pattern[str]
    topics: re.Pattern[str]


@dataclass(frozen=True)
class _Sentence:
    """One normalised sentence with who is mentioned where, and its everyday phrases."""

    text: str
    speaker_starts: list[int]
    speaker_is_me: list[bool]
    everyday_starts: list[int]
    everyday_ends: list[int]


class RiskScreen:
    """Decides whether a message suggests the practitioner may be at risk."""

    def __init__(
        self,
        *,
        contractions: Mapping[str, str],
        speakers: re.Pattern[str],
        me: re.Pattern[str],
        everyday: re.Pattern[str],
        categories: list[_Category],
        me_too: re.Pattern[str],
    ) -> None:
        self._contractions = dict(contractions)
        self._speakers = speakers
        self._me = me
        self._everyday = everyday
        self._categories = categories
        self._me_too = me_too

    @classmethod
    def from_content(cls, data: Mapping[str, Any]) -> RiskScreen:
        """Build a screen from the parsed ``risk.yaml``; a ``ValueError`` names any bad entry."""
        data = _mapping(data, "the file")
        shorthands = _load_shorthands(_mapping(data.get("shorthands", {}), "shorthands"))
        contractions = _mapping(data.get("contractions", {}), "contractions")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in contractions.items()):
            raise ValueError("risk content: contractions must map words to words")

        speakers = _mapping(data.get("speakers"), "speakers")
        me_words = _compile_words(_strings(speakers.get("me"), "speakers.me"), shorthands, "me")
        others = _compile_words(
            _strings(speakers.get("someone_else"), "speakers.someone_else"),
            shorthands,
            "someone_else",
        )

        categories: list[_Category] = []
        for name, entry in _mapping(data.get("categories"), "categories").items():
            entry = _mapping(entry, f"category {name}")
            topics = _strings(entry.get("topics"), f"{name}.topics", allow_empty=True)
            categories.append(
                _Category(
                    name=str(name),
                    wordings=_compile(
                        _strings(entry.get("wordings"), f"{name}.wordings"),
                        shorthands,
                        f"{name} wording",
                    ),
                    topics=_compile(topics, shorthands, f"{name} topic"),
                )
            )
        if not categories:
            raise ValueError("risk content: at least one category is needed")

        return cls(
            contractions={k.casefold(): v.casefold() for k, v in contractions.items()},
            speakers=re.compile(f"(?P<me>{me_words})|(?P<other>{others})"),
            me=re.compile(me_words),
            everyday=_compile(
                _strings(data.get("everyday_phrases"), "everyday_phrases", allow_empty=True),
                shorthands,
                "everyday phrase",
            ),
            categories=categories,
            me_too=_compile(_strings(data.get("me_too"), "me_too"), shorthands, "me_too"),
        )

    def screen(self, text: str) -> RiskMatch | None:
        """Return the kind of personal risk ``text`` suggests, or ``None`` if it suggests none."""
        sentences = [self._read(sentence) for sentence in self._sentences(text)]
        for category in self._categories:
            if any(self._in_own_voice(category.wordings, sentence) for sentence in sentences):
                return RiskMatch(category.name)
        if any(self._in_own_voice(self._me_too, sentence) for sentence in sentences):
            for category in self._categories:
                if any(self._mentions(category, sentence) for sentence in sentences):
                    return RiskMatch(category.name)
        return None

    # --- reading a message ----------------------------------------------------------------------

    def normalise(self, text: str) -> str:
        """Return ``text`` as the wordings see it: lower case, plain ASCII punctuation,
        invisible characters gone, single spaces, contractions spelt out."""
        text = unicodedata.normalize("NFKC", text.translate(_PUNCTUATION_VARIANTS))
        text = text.casefold()
        if not text.isascii():
            text = _strip_invisible(text).translate(_LOOKALIKES)
        text = _SPACES.sub(" ", text)
        text = _AROUND_LINE_BREAKS.sub("\n", text).strip()
        return _WORD.sub(lambda word: self._contractions.get(word[0], word[0]), text)

    def _sentences(self, text: str) -> list[str]:
        normalised = self._drop_reported_quotes(self.normalise(text))
        return [part.strip() for part in _SENTENCE_END.split(normalised) if part.strip()]

    def _drop_reported_quotes(self, text: str) -> str:
        """Blank quotations whose nearest speaker before them in the sentence is someone else."""
        if '"' not in text and "'" not in text:
            return text
        speakers = list(self._speakers.finditer(text))
        speaker_starts = [found.start() for found in speakers]
        sentence_ends = [found.end() for found in _SENTENCE_END.finditer(text)]

        def is_someone_else(index: int) -> bool:
            return 0 <= index < len(speakers) and speakers[index].group("other") is not None

        def keep_or_blank(quote: re.Match[str]) -> str:
            previous_end = bisect_right(sentence_ends, quote.start()) - 1
            sentence_start = sentence_ends[previous_end] if previous_end >= 0 else 0
            before = bisect_left(speaker_starts, quote.start()) - 1
            after = bisect_left(speaker_starts, quote.end())
            introduced_by_someone_else = (
                is_someone_else(before) and speaker_starts[before] >= sentence_start
            )
            # '"I can't go on," she said': the speaker straight after the closing quote.
            tagged_with_someone_else = (
                is_someone_else(after) and speaker_starts[after] - quote.end() <= _QUOTE_TAG_GAP
            )
            if introduced_by_someone_else or tagged_with_someone_else:
                return '""'
            return quote.group()

        return _QUOTED.sub(keep_or_blank, text)

    def _read(self, sentence: str) -> _Sentence:
        speakers = list(self._speakers.finditer(sentence))
        everyday = list(self._everyday.finditer(sentence))
        return _Sentence(
            text=sentence,
            speaker_starts=[found.start() for found in speakers],
            speaker_is_me=[found.group("me") is not None for found in speakers],
            everyday_starts=[found.start() for found in everyday],
            everyday_ends=[found.end() for found in everyday],
        )

    def _in_own_voice(self, pattern: re.Pattern[str], sentence: _Sentence) -> bool:
        """Say whether ``pattern`` matches ``sentence`` in the practitioner's own voice."""
        for found in pattern.finditer(sentence.text):
            if self._is_everyday(sentence, found):
                continue
            if self._me.search(found.group()):
                return True
            nearest = bisect_left(sentence.speaker_starts, found.start()) - 1
            if nearest < 0 or sentence.speaker_is_me[nearest]:
                return True
        return False

    def _mentions(self, category: _Category, sentence: _Sentence) -> bool:
        """Say whether ``sentence`` brings up ``category`` at all, in anyone's voice."""
        return any(
            not self._is_everyday(sentence, found)
            for pattern in (category.wordings, category.topics)
            for found in pattern.finditer(sentence.text)
        )

    @staticmethod
    def _is_everyday(sentence: _Sentence, found: re.Match[str]) -> bool:
        """Say whether ``found`` overlaps an everyday phrase in ``sentence``."""
        # Everyday phrases do not overlap one another, so only the last one starting before the
        # match ends can overlap it.
        last = bisect_left(sentence.everyday_starts, found.end()) - 1
        return last >= 0 and sentence.everyday_ends[last] > found.start()


@cache
def default_risk_screen() -> RiskScreen:
    """Return the screen built from ``prompts/content/risk.yaml``, built once per process."""
    return RiskScreen.from_content(load_content(CONTENT_FILE))
