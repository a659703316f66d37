"""Every module imports on its own, first, in a fresh interpreter (no import cycles)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for package in ("bot", "dialogues", "storage")
    for path in (ROOT / package).rglob("*.py")
    if path.name != "__init__.py" and "migrations" not in path.parts  # Alembic loads those
)


def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    # One interpreter per module, since a cycle only shows when its module is imported first.
    script = (
        "import subprocess, sys\n"
        "failed = [m for m in sys.argv[1:] if subprocess.run("
        "[sys.executable, '-c', f'import {m}'], capture_output=True).returncode]\n"
        "print(' '.join(failed))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *MODULES],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    assert result.stdout.strip() == "", f"these modules fail when imported first: {result.stdout}"


@pytest.mark.parametrize("module", ["bot.fanout", "bot.telegram.render"])
def test_modules_that_once_formed_a_cycle_are_listed(module: str) -> None:
    assert module in MODULES
