"""The Dockerfile's promises, checked without a Docker engine (none runs on CI here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_image_is_slim_python_running_as_a_non_root_user() -> None:
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base)
    (user,) = instructions("USER")
    assert user.strip() not in ("root", "0")


def test_data_directory_is_a_volume_and_the_default_command_runs_the_bot() -> None:
    assert instructions("VOLUME") == ['["/data"]']
    assert "STEADY_DATA_DIR=/data" in DOCKERFILE
    assert instructions("CMD") == ['["steady", "run"]']


def test_everything_the_package_needs_is_copied_into_the_image() -> None:
    copied = [source for line in instructions("COPY") for source in line.split()[:-1]]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source} names nothing"
    # Every package setuptools installs, and the files its metadata reads.
    for needed in ("bot", "dialogues", "prompts", "storage", "pyproject.toml", "README.md"):
        assert needed in copied
