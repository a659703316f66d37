"""The idiomatic python-telegram-bot design, as the baseline for the Telegram benchmark.

    TELEGRAM_BOT_TOKEN=... TELEGRAM_API_BASE_URL=... BASELINE_PICKLE=/tmp/b.pickle \
        python -m bench.ptb_baseline

The same reflection dialogue as Steady's /reflect (same templates, vocabularies, risk screen and
identifier guard, same buttons and the same Telegram calls per step), written the way the
library's examples write it: a ``ConversationHandler`` whose states are the steps, answers in
``context.user_data``, ``PicklePersistence`` with its defaults, ``run_polling``. It is not
durable: persistence is flushed every 60 seconds and on shutdown, updates are acknowledged
before they are handled, and a crash loses whatever was in memory. Only the benchmark's path is
built (no skip/back/pause, no drafts, no /quick).
"""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

from dialogues.answers import parse_rating
from dialogues.catalogue import default_catalogue
from dialogues.identifiers import default_identifier_guard
from dialogues.safety import default_risk_screen
from prompts.rendering import render_html

(
    ARRIVE,
    CHALLENGE,
    CATEGORY,
    VALUES,
    VALUE_WHY,
    APPRAISAL,
    APPRAISAL_MORE,
    STRATEGY,
    NEXT_STEP,
    WHEN,
    CLOSE,
) = range(11)
CATALOGUE = default_catalogue()
RISK = default_risk_screen()
IDENTIFIERS = default_identifier_guard()
CONTROLS = [
    InlineKeyboardButton(label, callback_data=f"ctl:{name}")
    for name, label in (
        ("skip", "Skip"),
        ("back", "Back"),
        ("pause", "Pause"),
        ("cancel", "Cancel"),
    )
]
Context = ContextTypes.DEFAULT_TYPE


def keyboard(options: list[tuple[str, str]], numeric: bool = False) -> InlineKeyboardMarkup:
    """Options laid out as Steady lays them out, with the step controls underneath."""
    width = 6 if numeric else (2 if all(len(label) <= 18 for _, label in options) else 1)
    rows = [
        [
            InlineKeyboardButton(label, callback_data=value)
            for value, label in options[i : i + width]
        ]
        for i in range(0, len(options), width)
    ]
    return InlineKeyboardMarkup([*rows, CONTROLS])


RATINGS = keyboard([(str(n), str(n)) for n in range(11)], numeric=True)


async def ask(
    update: Update, template: str, markup: InlineKeyboardMarkup | None = None, **data: Any
) -> None:
    """Send the next question; after a button press, take the buttons off the old one."""
    if update.callback_query is not None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_reply_markup(None)
    assert update.effective_chat is not None
    await update.effective_chat.send_message(
        render_html(template, {"error": None, **data}),
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
    )


def typed(update: Update) -> str:
    """A typed answer, screened as Steady screens every answer."""
    assert update.message is not None and update.message.text is not None
    text = update.message.text.strip()
    RISK.screen(text)
    IDENTIFIERS.find(text, today=datetime.now(UTC).date())
    return text


def picked(update: Update) -> str:
    assert update.callback_query is not None and update.callback_query.data is not None
    return update.callback_query.data


def answers(context: Context) -> dict[str, Any]:
    assert context.user_data is not None
    reflection: dict[str, Any] = context.user_data.setdefault("reflection", {})
    return reflection


async def start(update: Update, context: Context) -> None:
    """The welcome and privacy notice, with consent buttons."""
    assert update.message is not None
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("I agree", callback_data="consent:yes"),
                InlineKeyboardButton("Not now", callback_data="consent:no"),
            ]
        ]
    )
    await update.message.reply_html(
        render_html("welcome.j2", {"helplines": CATALOGUE.helplines}), reply_markup=markup
    )


async def consent(update: Update, context: Context) -> None:
    """Agreeing to the notice."""
    assert context.user_data is not None and update.effective_chat is not None
    context.user_data["consented"] = True
    await ask(update, "consented.j2")
    menu = keyboard([("menu:reflect", "Reflect"), ("menu:quick", "Quick debrief")])
    await update.effective_chat.send_message(render_html("idle.j2", {}), reply_markup=menu)


async def reflect(update: Update, context: Context) -> int:
    """/reflect: the intro and the first question."""
    assert context.user_data is not None and update.effective_chat is not None
    context.user_data["reflection"] = {}
    await update.effective_chat.send_message(render_html("reflect_intro.j2", {}))
    await ask(update, "reflect_arrive.j2", RATINGS, expanding=None, category="", values=[])
    return ARRIVE


async def arrive(update: Update, context: Context) -> int:
    rating = parse_rating(picked(update) if update.callback_query else typed(update))
    answers(context)["rating_before"] = rating
    await ask(update, "reflect_challenge.j2", keyboard([]), expanding=None)
    return CHALLENGE


async def challenge(update: Update, context: Context) -> int:
    answers(context)["challenge"] = typed(update)
    options = [(c.id, c.label) for c in CATALOGUE.categories]
    await ask(update, "reflect_category.j2", keyboard(options), category="")
    return CATEGORY


def values_markup(chosen: list[str]) -> InlineKeyboardMarkup:
    options = [(v.id, ("✓ " if v.id in chosen else "") + v.label) for v in CATALOGUE.values]
    return keyboard([*options, ("done", "Done")])


async def category(update: Update, context: Context) -> int:
    answers(context)["category"] = picked(update)
    await ask(update, "reflect_values.j2", values_markup([]), values=[])
    return VALUES


async def values(update: Update, context: Context) -> int:
    chosen: list[str] = answers(context).setdefault("values", [])
    choice = picked(update)
    if choice == "done":
        labels = [CATALOGUE.label(code) for code in chosen]
        await ask(update, "reflect_value_why.j2", keyboard([]), values=labels)
        return VALUE_WHY
    if choice in chosen:
        chosen.remove(choice)
    else:
        chosen.append(choice)
    query = update.callback_query
    assert query is not None
    await query.answer()
    labels = [CATALOGUE.label(code) for code in chosen]
    await query.edit_message_text(
        render_html("reflect_values.j2", {"error": None, "values": labels}),
        parse_mode=ParseMode.HTML,
        reply_markup=values_markup(chosen),
    )
    return VALUES


def appraisal_prompt(context: Context, index: int) -> str:
    ids = CATALOGUE.appraisal_ids_for(answers(context).get("category"))
    return CATALOGUE.appraisals[ids[min(index, len(ids) - 1)]]


async def value_why(update: Update, context: Context) -> int:
    answers(context)["value_why"] = typed(update)
    await ask(
        update,
        "reflect_appraisal.j2",
        keyboard([]),
        second=False,
        prompt=appraisal_prompt(context, 0),
    )
    return APPRAISAL


async def appraisal(update: Update, context: Context) -> int:
    answers(context)["appraisal_1"] = typed(update)
    await ask(
        update,
        "reflect_appraisal.j2",
        keyboard([]),
        second=True,
        prompt=appraisal_prompt(context, 1),
    )
    return APPRAISAL_MORE


async def appraisal_more(update: Update, context: Context) -> int:
    reflection = answers(context)
    reflection["appraisal_2"] = typed(update)
    ranked = CATALOGUE.suggested_strategies(
        reflection.get("category"), tuple(reflection.get("values") or ())
    )
    options = [(s.id, s.label) for s in ranked] + [("own", "Something else")]
    await ask(
        update,
        "reflect_strategy.j2",
        keyboard(options),
        suggested=[label for _, label in options[:3]],
    )
    return STRATEGY


async def strategy(update: Update, context: Context) -> int:
    answers(context)["strategy"] = picked(update)
    chosen = CATALOGUE.strategy(picked(update))
    await ask(
        update,
        "reflect_next_step.j2",
        keyboard([]),
        strategy=chosen.label if chosen else None,
        hint=chosen.hint if chosen else "",
    )
    return NEXT_STEP


async def next_step(update: Update, context: Context) -> int:
    answers(context)["next_step"] = typed(update)
    await ask(update, "reflect_when.j2", keyboard([(t.id, t.label) for t in CATALOGUE.timings]))
    return WHEN


async def when(update: Update, context: Context) -> int:
    answers(context)["when"] = picked(update)
    await ask(
        update, "reflect_close.j2", RATINGS, rating_before=answers(context).get("rating_before")
    )
    return CLOSE


async def close(update: Update, context: Context) -> int:
    assert context.user_data is not None and update.effective_chat is not None
    reflection = answers(context)
    reflection["rating_after"] = parse_rating(
        picked(update) if update.callback_query else typed(update)
    )
    reflection["created_at"] = datetime.now(UTC).isoformat()
    context.user_data.setdefault("entries", []).append(reflection)
    timing = CATALOGUE.timing(reflection.get("when"))
    chosen = CATALOGUE.strategy(reflection.get("strategy"))
    if update.callback_query is not None:
        await update.callback_query.answer()
    await update.effective_chat.send_message(
        render_html(
            "reflect_summary.j2",
            {
                "category": CATALOGUE.label(reflection.get("category")),
                "values": [CATALOGUE.label(code) for code in reflection.get("values", [])],
                "strategy": chosen.label if chosen else None,
                "next_step": reflection.get("next_step"),
                "when": timing.label if timing else None,
                "rating_before": reflection.get("rating_before"),
                "rating_after": reflection.get("rating_after"),
            },
        ),
        parse_mode=ParseMode.HTML,
    )
    return ConversationHandler.END


async def cancel(update: Update, context: Context) -> int:
    assert update.effective_chat is not None
    await update.effective_chat.send_message(render_html("cancelled.j2", {"dialogue": "reflect"}))
    return ConversationHandler.END


async def history(update: Update, context: Context) -> None:
    """The saved reflections, newest first, as buttons."""
    assert context.user_data is not None and update.message is not None
    entries = list(reversed(context.user_data.get("entries", [])))[:5]
    options = [
        (f"open:{i}", f"Reflection · {html.escape(CATALOGUE.label(e.get('category')))}")
        for i, e in enumerate(entries)
    ]
    await update.message.reply_html(
        render_html("history.j2", {"first": 1, "last": len(entries), "total": len(entries)}),
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=value)] for value, label in options]
        ),
    )


def main() -> None:
    """Build the application and poll until interrupted."""
    persistence = PicklePersistence(filepath=os.environ["BASELINE_PICKLE"])
    application = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .persistence(persistence)
        .build()
    )
    text = filters.TEXT & ~filters.COMMAND
    steps = {
        ARRIVE: [CallbackQueryHandler(arrive, pattern=r"^\d+$"), MessageHandler(text, arrive)],
        CHALLENGE: [MessageHandler(text, challenge)],
        CATEGORY: [CallbackQueryHandler(category)],
        VALUES: [CallbackQueryHandler(values)],
        VALUE_WHY: [MessageHandler(text, value_why)],
        APPRAISAL: [MessageHandler(text, appraisal)],
        APPRAISAL_MORE: [MessageHandler(text, appraisal_more)],
        STRATEGY: [CallbackQueryHandler(strategy)],
        NEXT_STEP: [MessageHandler(text, next_step)],
        WHEN: [CallbackQueryHandler(when)],
        CLOSE: [CallbackQueryHandler(close, pattern=r"^\d+$"), MessageHandler(text, close)],
    }
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(consent, pattern=r"^consent:"))
    application.add_handler(CommandHandler("history", history))
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("reflect", reflect)],
            states=steps,  # type: ignore[arg-type]
            fallbacks=[CommandHandler("cancel", cancel)],
            name="reflect",
            persistent=True,
        )
    )
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
