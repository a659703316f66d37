"""Fixtures for the stand-in's own tests."""

from tests.botapi.fixtures import bot_api_server, fake_telegram

__all__ = ["bot_api_server", "fake_telegram"]
