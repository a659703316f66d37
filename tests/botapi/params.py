"""Reading Bot API parameters the way Telegram does, whatever the body encoding.

Form and multipart bodies carry every value as a string (objects JSON-encoded); JSON bodies
carry native values. `Params` accepts both, so every front shares one set of rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.botapi.errors import bad_request
from tests.botapi.models import UploadedFile

_TRUE = {"true", "1", "yes", "on"}


class Params:
    """The parameters and uploaded files of one call, with Telegram-style type coercion."""

    def __init__(
        self, raw: Mapping[str, Any], files: Mapping[str, UploadedFile] | None = None
    ) -> None:
        self.raw = dict(raw)
        self.files = dict(files or {})

    def has(self, name: str) -> bool:
        """Whether the parameter was given (and is not null)."""
        return self.raw.get(name) is not None

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string parameter; numbers are accepted and turned into text."""
        value = self.raw.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        raise bad_request(f'field "{name}" must be of type String')

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """An integer parameter, from a number or a decimal string."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def number(self, name: str, default: float | None = None) -> float | None:
        """A float parameter."""
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be of type Float') from None

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter ("true"/"false" in forms, true/false in JSON)."""
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in _TRUE

    def json_value(self, name: str, *, parse_error: str) -> Any:
        """An object or array parameter; JSON text is decoded, native values pass through."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(parse_error) from None
        return value

    def upload(self, name: str) -> UploadedFile | str | None:
        """A file parameter: an uploaded part, an `attach://` reference, or a file_id/URL."""
        if name in self.files:
            return self.files[name]
        value = self.text(name)
        if value is None:
            return None
        if value.startswith("attach://"):
            attached = self.files.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file for {name} is not found in the request")
            return attached
        return value
