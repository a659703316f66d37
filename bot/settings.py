"""Settings, read from the environment once at start-up.

| variable | default | meaning |
| --- | --- | --- |
| ``STEADY_DATA_DIR`` | ``./steady-data`` | where the SQLite store and the master key file live |
| ``DATABASE_URL`` | unset | PostgreSQL URL; when set it replaces the embedded SQLite store |
| ``STEADY_MASTER_KEY`` | unset | urlsafe-base64 32-byte key wrapping every user's data key |
| ``TELEGRAM_BOT_TOKEN`` | unset | the token BotFather gave you; needed by ``steady run`` |
| ``TELEGRAM_API_BASE_URL`` | Telegram's own | a self-hosted Bot API server, or a test stand-in |
| ``STEADY_WEBHOOK_URL`` | unset | public HTTPS URL for webhook mode |
| ``STEADY_WEBHOOK_SECRET`` | unset | secret token Telegram echoes in a header |
| ``STEADY_WEBHOOK_LISTEN`` | ``0.0.0.0`` | address the webhook server listens on |
| ``STEADY_WEBHOOK_PORT`` | ``8443`` | port the webhook server listens on |
| ``STEADY_SEND_RATE`` | ``30`` | messages a second this process sends Telegram, all chats |
| ``STEADY_LOG_LEVEL`` | ``INFO`` | logging level |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TELEGRAM_DEFAULT_BASE_URL = "https://api.telegram.org/bot"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a Steady process."""

    data_dir: Path = Path("steady-data")
    database_url: str | None = None
    master_key: str | None = None
    telegram_token: str | None = None
    telegram_api_base_url: str = TELEGRAM_DEFAULT_BASE_URL
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "0.0.0.0"  # noqa: S104 - a container's webhook must listen outside
    webhook_port: int = 8443
    send_rate: float = 30.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from environment variables (``os.environ`` by default)."""
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        port = text("STEADY_WEBHOOK_PORT") or "8443"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError("STEADY_WEBHOOK_PORT must be a port number such as 8443")
        rate = text("STEADY_SEND_RATE") or "30"
        try:
            send_rate = float(rate)
        except ValueError:
            send_rate = 0.0
        if not 0 < send_rate <= 1_000_000:
            raise SettingsError("STEADY_SEND_RATE must be a positive number of messages a second")
        return cls(
            data_dir=Path(text("STEADY_DATA_DIR") or "steady-data"),
            database_url=text("DATABASE_URL"),
            master_key=text("STEADY_MASTER_KEY"),
            telegram_token=text("TELEGRAM_BOT_TOKEN"),
            telegram_api_base_url=text("TELEGRAM_API_BASE_URL") or TELEGRAM_DEFAULT_BASE_URL,
            webhook_url=text("STEADY_WEBHOOK_URL"),
            webhook_secret=text("STEADY_WEBHOOK_SECRET"),
            webhook_listen=text("STEADY_WEBHOOK_LISTEN") or "0.0.0.0",  # noqa: S104
            webhook_port=int(port),
            send_rate=send_rate,
            log_level=(text("STEADY_LOG_LEVEL") or "INFO").upper(),
        )
