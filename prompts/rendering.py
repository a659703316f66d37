"""Turning replies into words: one Jinja2 environment for the whole process.

Autoescape is on because Telegram's HTML parse mode is HTML: whatever a practitioner wrote is
escaped when it is echoed back. ``StrictUndefined`` makes a missing variable an error in tests
rather than a silent gap in front of a practitioner.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from prompts import TEMPLATE_DIR

_TAG = re.compile(r"<[^>]+>")
_BLANK_RUNS = re.compile(r"\n{3,}")


@cache
def environment() -> Environment:
    """The process-wide template environment."""
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render_html(template: str, data: Mapping[str, Any]) -> str:
    """Render a template to Telegram-flavoured HTML, tidied of stray blank lines."""
    text = environment().get_template(template).render(**data)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def html_to_plain(text: str) -> str:
    """Strip the few HTML tags the templates use, for channels without formatting."""
    return html.unescape(_TAG.sub("", text))
