"""The ``steady`` command line.

steady chat            reflect in this terminal (embedded store under ./steady-data)
steady run             run the Telegram bot (needs TELEGRAM_BOT_TOKEN)
steady migrate         apply database migrations and exit
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.app import create_app
from bot.settings import Settings, SettingsError
from dialogues.core import Event, Reply

log = logging.getLogger("steady")

# Terminal chats are a single local practitioner; a negative id can never clash with Telegram's.
TERMINAL_USER_ID = -1


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The HTTP client logs request URLs, which carry the bot token: keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


async def _chat(settings: Settings, user_id: int) -> int:
    from bot.terminal import run_terminal

    app = await create_app(settings)
    try:

        async def handle(event: Event) -> list[Reply]:
            return await app.companion.handle(user_id, event)

        return await run_terminal(
            handle,
            sys.stdin,
            sys.stdout,
            export_dir=settings.data_dir / "exports",
            opening=Event.command("reflect"),
        )
    finally:
        await app.close()


async def _migrate(settings: Settings) -> int:
    app = await create_app(settings)
    await app.close()
    print("Database is up to date.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``steady`` command."""
    parser = argparse.ArgumentParser(prog="steady", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="reflect in this terminal")
    chat.add_argument("--user-id", type=int, default=TERMINAL_USER_ID, help=argparse.SUPPRESS)
    run = commands.add_parser("run", help="run the Telegram bot")
    run.add_argument("--webhook", action="store_true", help="receive updates by webhook")
    commands.add_parser("migrate", help="apply database migrations and exit")
    commands.add_parser("diagrams", help="print the dialogue diagrams (Mermaid)")
    args = parser.parse_args(argv)
    if args.command == "diagrams":
        from dialogues.diagram import all_diagrams

        print(all_diagrams())
        return 0
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"steady: {error}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level if args.command == "run" else "WARNING")
    try:
        if args.command == "chat":
            return asyncio.run(_chat(settings, args.user_id))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        from bot.telegram.runner import run_bot

        return run_bot(settings, webhook=args.webhook)
    except SettingsError as error:
        print(f"steady: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
