"""Weekly check-ins: /checkin settings, and the short check-in a weekly prompt leads to.

Both are ordinary step dialogues on shared machines. The settings form starts from the
practitioner's current settings (supplied by the application) and saves them all at once on
"Save"; the weekly check-in asks how they are, an optional line, and then follows up on the
next step they chose in a recent reflection: did they try it, and did it help?
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum, auto
from types import MappingProxyType
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from transitions import EventData

from dialogues.answers import normalise
from dialogues.core import Effect, Option, SaveEntry, Turn
from dialogues.form import (
    PROCEED,
    RETREAT,
    Context,
    FormDialogue,
    FormModel,
    Step,
    StepKind,
    answers_of,
    build_machine,
    rating_options,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME = re.compile(r"^(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?P<ampm>am|pm)?$")
_DATE_NUMERIC = re.compile(r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})(?:[/.-](?P<y>\d{2,4}))?$")
_DATE_ISO = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")


@dataclass(frozen=True)
class CheckinSettings:
    """A practitioner's weekly check-in settings, as the dialogue sees them."""

    enabled: bool
    weekday: int  # 0 is Monday
    local_time: str  # "HH:MM"
    timezone: str
    paused_until: date | None = None


@dataclass(frozen=True)
class FollowUp:
    """A next step from a recent reflection that has not been followed up yet."""

    entry_id: int
    next_step: str
    strategy: str | None
    chosen_on: datetime


@dataclass(frozen=True)
class UpdateCheckin(Effect):
    """Store new check-in settings (and, if asked, skip the coming week's prompt)."""

    settings: CheckinSettings
    skip_week: bool = False


@dataclass(frozen=True)
class RecordFollowUp(Effect):
    """How a chosen next step went: ``tried`` is yes/not_yet/no; ``helped`` only after yes."""

    entry_id: int
    tried: str
    helped: str | None


class CheckinContext(Context, Protocol):
    """What the application supplies when a check-in dialogue starts."""

    @property
    def checkin(self) -> CheckinSettings | None: ...

    @property
    def follow_up(self) -> FollowUp | None: ...


def parse_time(text: str) -> str | None:
    """A wall-clock time as "HH:MM" from "15:30", "3.30pm", "9am" or "17"; None if unclear."""
    match = _TIME.match(normalise(text).casefold().replace(" ", ""))
    if match is None:
        return None
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["ampm"] == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def parse_date(text: str, *, today: date) -> date | None:
    """A future date from "2027-01-04", "4/1/2027" or "4/1" (day first, as in the UK)."""
    folded = normalise(text).casefold()
    match = _DATE_ISO.match(folded) or _DATE_NUMERIC.match(folded)
    if match is None:
        return None
    year = int(match["y"]) if match["y"] else today.year
    if year < 100:
        year += 2000
    try:
        parsed = date(year, int(match["m"]), int(match["d"]))
    except ValueError:
        return None
    if parsed <= today and not match["y"]:
        parsed = parsed.replace(year=year + 1)  # "4/1" in December means next January
    return parsed if parsed > today else None


def parse_timezone(text: str) -> str | None:
    """An IANA zone name typed in any case ("europe/dublin"); None if unknown."""
    wanted = normalise(text).replace(" ", "_")
    if not wanted or len(wanted) > 64:
        return None
    try:
        ZoneInfo(wanted)
        return wanted
    except (ZoneInfoNotFoundError, ValueError):
        pass
    folded = wanted.casefold()
    return next((name for name in available_timezones() if name.casefold() == folded), None)


def _date_or_none(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


# --- /checkin: the settings form ---------------------------------------------------------


class SettingsStep(Enum):
    """Where a practitioner is in the check-in settings."""

    MENU = auto()
    DAY = auto()
    TIME = auto()
    ZONE = auto()
    PAUSE = auto()
    SAVED = auto()


C = SettingsStep
MENU_CHOICES = {"day": C.DAY, "time": C.TIME, "zone": C.ZONE, "pause": C.PAUSE}
TIME_CHOICES = ("08:30", "12:30", "15:00", "17:00")
ZONE_CHOICES = ("Europe/London", "Europe/Dublin", "Europe/Paris")
PAUSE_WEEKS = (1, 2, 4)


def _menu_is(code: str) -> Any:
    def condition(event: EventData) -> bool:
        return answers_of(event).get("menu") == code

    condition.__name__ = f"chose {code}"
    return condition


def _build_settings() -> Any:
    machine = build_machine(SettingsStep, C.MENU)
    for code, state in MENU_CHOICES.items():
        machine.add_transition(PROCEED, C.MENU, state, conditions=_menu_is(code))
        machine.add_transition(PROCEED, state, C.MENU)
        machine.add_transition(RETREAT, state, C.MENU)
    # Turning on or off and skipping a week are changes made from the menu itself.
    machine.add_transition(PROCEED, C.MENU, C.SAVED, conditions=_menu_is("save"))
    machine.add_transition(PROCEED, C.MENU, C.MENU)
    return machine


class CheckinSettingsDialogue(FormDialogue):
    """/checkin: choose whether, when and where the weekly prompt arrives; pause; skip."""

    name = "checkin"
    machine = _build_settings()
    steps: Mapping[Enum, Step] = MappingProxyType(
        {
            C.MENU: Step("menu", StepKind.CHOICE, "checkin_settings.j2"),
            C.DAY: Step("weekday", StepKind.CHOICE, "checkin_day.j2"),
            C.TIME: Step("local_time", StepKind.CHOICE_OR_TEXT, "checkin_time.j2"),
            C.ZONE: Step("timezone", StepKind.CHOICE_OR_TEXT, "checkin_zone.j2"),
            C.PAUSE: Step("paused_until", StepKind.CHOICE_OR_TEXT, "checkin_pause.j2"),
            C.SAVED: Step("", StepKind.TEXT, "checkin_saved.j2"),
        }
    )
    first = C.MENU
    finished = C.SAVED

    def initial_answers(self, ctx: Context) -> dict[str, Any]:
        """Start from the practitioner's current settings."""
        current = cast(CheckinContext, ctx).checkin
        if current is None:
            current = CheckinSettings(False, 4, "15:00", "Europe/London")
        return {
            "enabled": current.enabled,
            "weekday": current.weekday,
            "local_time": current.local_time,
            "timezone": current.timezone,
            "paused_until": current.paused_until.isoformat() if current.paused_until else None,
            "skip_week": False,
        }

    def options(self, model: FormModel, ctx: Context) -> tuple[Option, ...]:
        """The menu, or the choices for the setting being changed."""
        a = model.answers
        match model.state:
            case C.MENU:
                menu = [
                    Option("toggle", "Turn off" if a.get("enabled") else "Turn on"),
                    Option("day", "Change day"),
                    Option("time", "Change time"),
                    Option("zone", "Change time zone"),
                    Option("pause", "Pause until a date"),
                ]
                if a.get("enabled"):
                    menu.append(Option("skip", "Skip this week"))
                return (*menu, Option("save", "Save"))
            case C.DAY:
                return tuple(Option(str(n), day) for n, day in enumerate(WEEKDAYS))
            case C.TIME:
                return tuple(Option(t, t) for t in TIME_CHOICES)
            case C.ZONE:
                return tuple(Option(z, z) for z in ZONE_CHOICES)
            case C.PAUSE:
                weeks = tuple(
                    Option(f"weeks{n}", f"{n} week" + ("s" if n > 1 else "")) for n in PAUSE_WEEKS
                )
                return (*weeks, Option("resume", "No pause"))
            case _:
                return ()

    def question_data(self, model: FormModel, ctx: Context) -> dict[str, Any]:
        """The settings as they stand in this form."""
        return self._summary(model.answers)

    def accepted(self, model: FormModel, ctx: Context) -> None:
        """Act on menu toggles and turn picked options into stored values."""
        a = model.answers
        if model.state == C.MENU and a.get("menu") == "toggle":
            a["enabled"] = not a.get("enabled")
            a["skip_week"] = False
        elif model.state == C.MENU and a.get("menu") == "skip":
            a["skip_week"] = not a.get("skip_week")
        elif model.state == C.DAY:
            a["weekday"] = int(a["weekday"])
        elif model.state == C.PAUSE:
            pause = a.get("paused_until")
            if pause == "resume":
                a["paused_until"] = None
            elif isinstance(pause, str) and pause.startswith("weeks"):
                until = ctx.now.date() + timedelta(weeks=int(pause.removeprefix("weeks")))
                a["paused_until"] = until.isoformat()

    def accept_own_words(self, model: FormModel, step: Step, text: str, ctx: Context) -> str | None:
        """Typed times, zones and dates are parsed, and refused clearly if unclear."""
        if step.key == "local_time":
            parsed = parse_time(text)
            if parsed is None:
                return "bad_time"
            model.answers["local_time"] = parsed
        elif step.key == "timezone":
            zone = parse_timezone(text)
            if zone is None:
                return "bad_zone"
            model.answers["timezone"] = zone
        elif step.key == "paused_until":
            until = parse_date(text, today=ctx.now.date())
            if until is None:
                return "bad_date"
            model.answers["paused_until"] = until.isoformat()
        return None

    def finish(self, model: FormModel, ctx: Context, turn: Turn) -> None:
        """Save the settings and say when the next prompt will come."""
        a = model.answers
        settings = CheckinSettings(
            enabled=bool(a.get("enabled")),
            weekday=int(a.get("weekday") or 0),
            local_time=str(a.get("local_time") or "15:00"),
            timezone=str(a.get("timezone") or "Europe/London"),
            paused_until=_date_or_none(a.get("paused_until")),
        )
        turn.effects.append(UpdateCheckin(settings, skip_week=bool(a.get("skip_week"))))
        turn.say("checkin_saved.j2", **self._summary(a))

    @staticmethod
    def _summary(a: Mapping[str, Any]) -> dict[str, Any]:
        weekday = a.get("weekday")
        return {
            "enabled": bool(a.get("enabled")),
            "day": WEEKDAYS[int(str(weekday))] if str(weekday).isdigit() else "",
            "time": a.get("local_time") or "",
            "timezone": a.get("timezone") or "",
            "paused_until": _date_or_none(a.get("paused_until")),
            "skip_week": bool(a.get("skip_week")),
        }


# --- the weekly check-in itself ------------------------------------------------------------


class WeeklyStep(Enum):
    """Where a practitioner is in a weekly check-in."""

    HOW = auto()
    NOTE = auto()
    TRIED = auto()
    HELPED = auto()
    DONE = auto()


W = WeeklyStep
TRIED_OPTIONS = (("yes", "Yes"), ("not_yet", "Not yet"), ("no", "No, not this time"))
HELPED_OPTIONS = (("not_at_all", "Not at all"), ("a_bit", "A bit"), ("a_lot", "A lot"))


def _has_follow_up(event: EventData) -> bool:
    return answers_of(event).get("follow_up") is not None


def _tried_it(event: EventData) -> bool:
    return answers_of(event).get("tried") == "yes"


def _build_weekly() -> Any:
    machine = build_machine(WeeklyStep, W.HOW)
    machine.add_transition(PROCEED, W.HOW, W.NOTE)
    machine.add_transition(PROCEED, W.NOTE, W.TRIED, conditions=_has_follow_up)
    machine.add_transition(PROCEED, W.NOTE, W.DONE)
    machine.add_transition(PROCEED, W.TRIED, W.HELPED, conditions=_tried_it)
    machine.add_transition(PROCEED, W.TRIED, W.DONE)
    machine.add_transition(PROCEED, W.HELPED, W.DONE)
    machine.add_transition(RETREAT, W.NOTE, W.HOW)
    machine.add_transition(RETREAT, W.TRIED, W.NOTE)
    machine.add_transition(RETREAT, W.HELPED, W.TRIED)
    return machine


class WeeklyCheckinDialogue(FormDialogue):
    """How are you (0-10), one optional line, and did the chosen next step help?"""

    name = "weekly"
    machine = _build_weekly()
    steps: Mapping[Enum, Step] = MappingProxyType(
        {
            W.HOW: Step("wellbeing", StepKind.RATING, "weekly_how.j2"),
            W.NOTE: Step("note", StepKind.TEXT, "weekly_note.j2"),
            W.TRIED: Step("tried", StepKind.CHOICE, "weekly_tried.j2"),
            W.HELPED: Step("helped", StepKind.CHOICE, "weekly_helped.j2"),
            W.DONE: Step("", StepKind.TEXT, "weekly_done.j2"),
        }
    )
    first = W.HOW
    finished = W.DONE

    def initial_answers(self, ctx: Context) -> dict[str, Any]:
        """Bring in the next step to follow up on, if there is one."""
        follow_up = cast(CheckinContext, ctx).follow_up
        if follow_up is None:
            return {"follow_up": None}
        return {
            "follow_up": {
                "entry_id": follow_up.entry_id,
                "next_step": follow_up.next_step,
                "strategy": follow_up.strategy,
                "chosen_on": follow_up.chosen_on.isoformat(),
            }
        }

    def options(self, model: FormModel, ctx: Context) -> tuple[Option, ...]:
        """0-10, then the follow-up answers."""
        match model.state:
            case W.HOW:
                return rating_options()
            case W.TRIED:
                return tuple(Option(v, label) for v, label in TRIED_OPTIONS)
            case W.HELPED:
                return tuple(Option(v, label) for v, label in HELPED_OPTIONS)
            case _:
                return ()

    def question_data(self, model: FormModel, ctx: Context) -> dict[str, Any]:
        """The next step being followed up, in the practitioner's own words."""
        follow_up = model.answers.get("follow_up") or {}
        chosen_on = follow_up.get("chosen_on")
        return {
            "next_step": follow_up.get("next_step"),
            "strategy": ctx.catalogue.label(follow_up.get("strategy")) or None,
            "chosen_on": datetime.fromisoformat(chosen_on) if chosen_on else None,
        }

    def finish(self, model: FormModel, ctx: Context, turn: Turn) -> None:
        """Store the check-in and the follow-up, then offer a reflection or a debrief."""
        a = model.answers
        turn.effects.append(
            SaveEntry(
                kind="checkin",
                private={"note": a["note"]} if a.get("note") else {},
                rating_before=a.get("wellbeing"),
            )
        )
        follow_up = a.get("follow_up")
        if follow_up is not None and a.get("tried"):
            helped = a.get("helped") if a.get("tried") == "yes" else None
            turn.effects.append(RecordFollowUp(follow_up["entry_id"], a["tried"], helped))
        turn.ask(
            "weekly_done.j2",
            (Option("menu:reflect", "Reflect"), Option("menu:quick", "Quick debrief")),
            wellbeing=a.get("wellbeing"),
            helped=a.get("helped") if a.get("tried") == "yes" else None,
        )


CHECKIN_SETTINGS = CheckinSettingsDialogue()
WEEKLY = WeeklyCheckinDialogue()
