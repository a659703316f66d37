"""Settings read from the environment: defaults, and a clear error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import TELEGRAM_DEFAULT_BASE_URL, Settings, SettingsError


def test_defaults_need_nothing_set() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path("steady-data")
    assert settings.database_url is None and settings.telegram_token is None
    assert settings.telegram_api_base_url == TELEGRAM_DEFAULT_BASE_URL
    assert settings.send_rate == 30.0


def test_values_are_read_and_trimmed() -> None:
    settings = Settings.from_env(
        {"STEADY_DATA_DIR": " /srv/steady ", "STEADY_SEND_RATE": "15", "STEADY_LOG_LEVEL": "debug"}
    )
    assert settings.data_dir == Path("/srv/steady")
    assert settings.send_rate == 15.0
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [("STEADY_SEND_RATE", "fast"), ("STEADY_SEND_RATE", "0"), ("STEADY_WEBHOOK_PORT", "99999")],
)
def test_a_bad_value_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
