"""``steady run``: start the store, the application and a receiver; stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import os
import signal
from typing import Any
from urllib.parse import urlsplit

from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

from bot.app import create_app
from bot.checkins import CheckinDispatcher
from bot.companion import utc_now
from bot.fanout import CheckinLoop, FanoutSender, PacedOutbound, SendBudget
from bot.outbound import retry_seconds
from bot.settings import TELEGRAM_DEFAULT_BASE_URL, Settings, SettingsError
from bot.telegram.channel import TelegramChannel
from bot.telegram.logsafety import protect_logging
from bot.telegram.receivers import Backoff, Poller, WebhookServer
from bot.telegram.routing import ALLOWED_UPDATES
from storage.journal import derive_key

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
STOP_GRACE_SECONDS = 10.0


def file_url_for(base_url: str) -> str:
    """The file download URL that goes with a Bot API base URL (``.../bot`` -> ``.../file/bot``)."""
    if base_url.rstrip("/").endswith("/bot"):
        return base_url.rstrip("/")[: -len("/bot")] + "/file/bot"
    return TELEGRAM_DEFAULT_BASE_URL.replace("/bot", "/file/bot")


def build_application(settings: Settings) -> AnyApplication:
    """The python-telegram-bot application for ``settings`` (updates come from our receivers)."""
    if not settings.telegram_token:
        raise SettingsError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token"
        )
    return (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url_for(settings.telegram_api_base_url))
        .updater(None)
        .connection_pool_size(8)
        .pool_timeout(5.0)
        .connect_timeout(5.0)
        .read_timeout(10.0)
        .write_timeout(10.0)
        .get_updates_read_timeout(10.0)
        .build()
    )


def webhook_secret(settings: Settings, master_key: bytes) -> str:
    """``STEADY_WEBHOOK_SECRET``, or one derived from the master key (stable across restarts)."""
    if settings.webhook_secret:
        return settings.webhook_secret
    derived = derive_key(master_key, "telegram/webhook-secret")
    return base64.urlsafe_b64encode(derived).decode("ascii").rstrip("=")


def run_bot(settings: Settings, *, webhook: bool = False) -> int:
    """Run the bot until SIGINT or SIGTERM; returns the exit status."""
    if not settings.telegram_token:
        raise SettingsError(
            "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token"
        )
    use_webhook = webhook or settings.webhook_url is not None
    if use_webhook and not settings.webhook_url:
        raise SettingsError("webhook mode needs STEADY_WEBHOOK_URL, the public HTTPS address")
    # python-telegram-bot 22 gives durations as timedelta only with this set (and warns without).
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    safety = protect_logging([settings.telegram_token])
    safety.add_secret(settings.webhook_secret)
    return asyncio.run(_serve(settings, use_webhook, safety.add_secret))


async def _serve(settings: Settings, use_webhook: bool, add_secret: Any) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    steady = await create_app(settings)
    master_key = steady.master_key
    application = build_application(settings)
    # One send budget for replies and the weekly broadcast, so replies always go first.
    budget = SendBudget(global_per_second=settings.send_rate)
    channel = TelegramChannel(
        steady,
        application,
        master_key=master_key,
        outbound=PacedOutbound(application.bot, budget, interactive=True),
    )
    checkins: CheckinLoop | None = None
    receiver: asyncio.Task[None] | None = None
    server: WebhookServer | None = None
    poller: Poller | None = None
    try:
        try:
            await _retrying(application.initialize, stop)  # Telegram may be unreachable yet
        except InvalidToken:
            raise SettingsError(
                "Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather"
            ) from None
        if stop.is_set():
            return 0
        await application.start()
        # Everything loaded so far lives as long as the process: keep the collector off it.
        gc.collect()
        gc.freeze()
        await _retrying(channel.register_commands, stop)
        await channel.recover()
        prompts = FanoutSender.for_bot(application.bot, channel.renderer, budget)
        checkins = CheckinLoop(CheckinDispatcher(steady.sessions, prompts, clock=utc_now))
        checkins.start()
        if use_webhook:
            assert settings.webhook_url is not None
            secret = webhook_secret(settings, master_key)
            add_secret(secret)
            server = WebhookServer(
                channel.accept,
                secret=secret,
                path=urlsplit(settings.webhook_url).path or "/",
                listen=settings.webhook_listen,
                port=settings.webhook_port,
            )
            await server.start()

            async def set_webhook() -> None:
                await application.bot.set_webhook(
                    settings.webhook_url or "",
                    secret_token=secret,
                    allowed_updates=ALLOWED_UPDATES,
                    drop_pending_updates=False,
                )

            await _retrying(set_webhook, stop)
            log.info("Steady is running (webhook on port %d)", settings.webhook_port)
        else:
            poller = Poller(application.bot, channel.accept_parsed)
            await poller.prepare(stopping=stop.is_set)
            receiver = asyncio.create_task(poller.run(), name="steady-polling")
            receiver.add_done_callback(lambda _task: stop.set())
            log.info("Steady is running (long polling)")
        await stop.wait()
        error = receiver.exception() if receiver is not None and receiver.done() else None
        if isinstance(error, InvalidToken):
            raise SettingsError(
                "Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather"
            ) from None
        if error is not None:
            raise error
    finally:
        log.info("Steady is stopping")
        if checkins is not None:
            # Claim no more prompts; the ones in hand go out (they are already recorded).
            await checkins.stop()
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
        if server is not None:
            await server.stop()
        # Let work in progress finish briefly; anything left is recorded and resumes next start.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await channel.drain()
        await channel.close()
        if poller is not None:
            await poller.confirm()
        with contextlib.suppress(Exception):
            if application.running:
                await application.stop()
            await application.shutdown()
        await steady.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    log.info("Steady stopped")
    return 0


async def _retrying(action: Any, stop: asyncio.Event) -> None:
    """Run a start-up call until it succeeds (network trouble is waited out) or we stop."""
    backoff = Backoff(asyncio.sleep)
    while not stop.is_set():
        try:
            await action()
            return
        except InvalidToken:
            raise
        except RetryAfter as error:
            await asyncio.sleep(retry_seconds(error))
        except TelegramError as error:
            log.warning("Telegram is not answering yet (%s); retrying", type(error).__name__)
            await backoff.wait()
