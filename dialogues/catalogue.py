"""The editable content catalogue: challenge categories, values, appraisal prompts, strategies.

The YAML files under ``prompts/content`` are owned by a clinical lead; this module only reads them
and checks that their cross-references hold, so a typo fails at start-up rather than mid-reflection.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from prompts import load_content


@dataclass(frozen=True)
class Item:
    """One selectable thing in a vocabulary: a stable code and the words a practitioner sees."""

    id: str
    label: str


@dataclass(frozen=True)
class Category(Item):
    """A kind of work-related challenge, with the prompts and strategies that suit it best."""

    appraisals: tuple[str, ...]
    strategies: tuple[str, ...]


@dataclass(frozen=True)
class Value(Item):
    """A professional or personal value a challenge can touch."""

    strategies: tuple[str, ...]


@dataclass(frozen=True)
class Strategy(Item):
    """A coping strategy, with a hint that helps turn it into one concrete step."""

    hint: str


@dataclass(frozen=True)
class Timing(Item):
    """When a next step will happen; ``days`` sets when a follow-up is due."""

    days: int


@dataclass(frozen=True)
class Helpline:
    """A UK support route shown whenever risk language is detected, and in /help."""

    name: str
    contact: str
    detail: str
    urgent: bool


@dataclass(frozen=True)
class Catalogue:
    """Every vocabulary a dialogue offers, loaded once per process."""

    categories: tuple[Category, ...]
    values: tuple[Value, ...]
    appraisals: dict[str, str]
    strategies: tuple[Strategy, ...]
    timings: tuple[Timing, ...]
    helplines: tuple[Helpline, ...]

    def category(self, code: str | None) -> Category | None:
        """Return the category with this code, if it still exists."""
        return next((c for c in self.categories if c.id == code), None)

    def value(self, code: str) -> Value | None:
        """Return the value with this code, if it still exists."""
        return next((v for v in self.values if v.id == code), None)

    def strategy(self, code: str | None) -> Strategy | None:
        """Return the strategy with this code, if it still exists."""
        return next((s for s in self.strategies if s.id == code), None)

    def timing(self, code: str | None) -> Timing | None:
        """Return the next-step timing with this code, if it still exists."""
        return next((t for t in self.timings if t.id == code), None)

    def label(self, code: str | None) -> str:
        """The practitioner-facing label of any code, or the code itself if it was retired."""
        for group in (self.categories, self.values, self.strategies, self.timings):
            for item in group:
                if item.id == code:
                    return item.label
        return code or ""

    def appraisal_ids_for(self, category_code: str | None) -> tuple[str, ...]:
        """Appraisal prompts that fit a challenge, most fitting first."""
        category = self.category(category_code)
        if category is None:
            return tuple(self.appraisals)[:2]
        return category.appraisals

    def suggested_strategies(
        self, category_code: str | None, value_codes: tuple[str, ...]
    ) -> tuple[Strategy, ...]:
        """Every strategy, ranked so those fitting the challenge and values come first."""
        score: dict[str, float] = {s.id: 0.0 for s in self.strategies}
        category = self.category(category_code)
        if category is not None:
            for rank, code in enumerate(category.strategies):
                score[code] = score.get(code, 0.0) + 3.0 - rank * 0.5
        for value_code in value_codes:
            value = self.value(value_code)
            if value is not None:
                for code in value.strategies:
                    score[code] = score.get(code, 0.0) + 1.0
        order = {s.id: i for i, s in enumerate(self.strategies)}
        return tuple(sorted(self.strategies, key=lambda s: (-score[s.id], order[s.id])))


def _items(data: Any, key: str) -> list[dict[str, Any]]:
    items = data[key]
    if not isinstance(items, list) or not items:
        raise ValueError(f"content file must list at least one entry under {key!r}")
    return items


def build_catalogue(
    categories: Any, values: Any, appraisals: Any, strategies: Any, timing: Any, helplines: Any
) -> Catalogue:
    """Build and cross-check a catalogue from parsed YAML documents."""
    catalogue = Catalogue(
        categories=tuple(
            Category(
                id=str(c["id"]),
                label=str(c["label"]),
                appraisals=tuple(c.get("appraisals", ())),
                strategies=tuple(c.get("strategies", ())),
            )
            for c in _items(categories, "categories")
        ),
        values=tuple(
            Value(id=str(v["id"]), label=str(v["label"]), strategies=tuple(v.get("strategies", ())))
            for v in _items(values, "values")
        ),
        appraisals={str(a["id"]): str(a["prompt"]) for a in _items(appraisals, "appraisals")},
        strategies=tuple(
            Strategy(id=str(s["id"]), label=str(s["label"]), hint=str(s.get("hint", "")))
            for s in _items(strategies, "strategies")
        ),
        timings=tuple(
            Timing(id=str(t["id"]), label=str(t["label"]), days=int(t["days"]))
            for t in _items(timing, "next_step_timing")
        ),
        helplines=tuple(
            Helpline(
                name=str(h["name"]),
                contact=str(h.get("contact", "")),
                detail=str(h.get("detail", "")),
                urgent=bool(h.get("urgent", False)),
            )
            for h in _items(helplines, "helplines")
        ),
    )
    _check_references(catalogue)
    return catalogue


def _check_references(catalogue: Catalogue) -> None:
    strategy_ids = {s.id for s in catalogue.strategies}
    all_ids: list[str] = []
    for group in (catalogue.categories, catalogue.values, catalogue.strategies, catalogue.timings):
        all_ids.extend(item.id for item in group)
    for code in all_ids:
        # Codes travel inside Telegram callback data, which is limited to 64 bytes in all.
        if not code or len(code.encode()) > 20 or ":" in code:
            raise ValueError(f"content code {code!r} must be 1-20 bytes without ':'")
    for category in catalogue.categories:
        for code in category.appraisals:
            if code not in catalogue.appraisals:
                raise ValueError(f"category {category.id!r} names unknown appraisal {code!r}")
        for code in category.strategies:
            if code not in strategy_ids:
                raise ValueError(f"category {category.id!r} names unknown strategy {code!r}")
    for value in catalogue.values:
        for code in value.strategies:
            if code not in strategy_ids:
                raise ValueError(f"value {value.id!r} names unknown strategy {code!r}")


@cache
def default_catalogue() -> Catalogue:
    """The catalogue from ``prompts/content``, parsed once per process."""
    return build_catalogue(
        load_content("categories.yaml"),
        load_content("values.yaml"),
        load_content("appraisals.yaml"),
        load_content("strategies.yaml"),
        load_content("timing.yaml"),
        load_content("helplines.yaml"),
    )
