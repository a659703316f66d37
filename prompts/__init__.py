"""Everything a practitioner reads: Jinja2 templates and the editable content catalogue.

Clinical leads revise wording here without touching code: message texts live in
``templates/*.j2`` and vocabularies (categories, values, strategies, helplines, risk
wordings) in ``content/*.yaml``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
CONTENT_DIR = PACKAGE_DIR / "content"
TEMPLATE_DIR = PACKAGE_DIR / "templates"


def content_path(name: str) -> Path:
    """Return the path of a content file such as ``"values.yaml"``."""
    return CONTENT_DIR / name


@cache
def load_content(name: str) -> Any:
    """Parse a content file once per process; callers must not mutate the result."""
    with content_path(name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
