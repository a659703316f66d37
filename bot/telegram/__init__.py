"""Steady on Telegram: python-telegram-bot's Application, durable intake and careful sending.

``bot.telegram.runner.run_bot`` is what ``steady run`` calls; ``channel.TelegramChannel`` is the
wiring tests build directly. Nothing is imported here, so that importing one module of the
package (the renderer, say, from the check-in fan-out) never drags in the whole runner.
"""
