"""Steady on Telegram: python-telegram-bot's Application, durable intake and careful sending.

`run_bot` is what ``steady run`` calls; `TelegramChannel` is the wiring tests build directly.
"""

from bot.telegram.channel import TelegramChannel
from bot.telegram.runner import build_application, run_bot

__all__ = ["TelegramChannel", "build_application", "run_bot"]
