"""The README's promises that can drift from the code."""

from __future__ import annotations

from pathlib import Path

from dialogues.diagram import all_diagrams

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_shows_the_current_dialogue_diagrams() -> None:
    assert all_diagrams() in README.read_text(encoding="utf-8")


def test_readme_gives_the_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install . && steady chat" in text
    assert 'pip install ".[test]" && pytest' in text
