"""``steady run``'s set-up: configuration errors, URLs, the webhook secret."""

from __future__ import annotations

import os

import pytest

from bot.cli import main
from bot.settings import Settings
from bot.telegram.runner import file_url_for, webhook_secret


def test_a_missing_token_is_a_clear_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert main(["run"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "TELEGRAM_BOT_TOKEN is not set" in error and "BotFather" in error


def test_webhook_mode_needs_its_public_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:" + "A" * 35)
    monkeypatch.delenv("STEADY_WEBHOOK_URL", raising=False)
    assert main(["run", "--webhook"]) == 2
    assert "STEADY_WEBHOOK_URL" in capsys.readouterr().err


def test_file_downloads_follow_a_self_hosted_api_server() -> None:
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"


def test_the_webhook_secret_is_stable_per_installation_and_telegram_safe() -> None:
    key = os.urandom(32)
    derived = webhook_secret(Settings(), key)
    assert derived == webhook_secret(Settings(), key)
    assert derived != webhook_secret(Settings(), os.urandom(32))
    assert 32 <= len(derived) <= 256 and derived.replace("-", "").replace("_", "").isalnum()
    assert webhook_secret(Settings(webhook_secret="mine-1234"), key) == "mine-1234"
