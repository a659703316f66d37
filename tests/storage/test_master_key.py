"""The master key: created safely on first run, reused after, refused when exposed."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from storage.crypto import MASTER_KEY_FILE, MasterKeyError, encode_key, load_or_create_master_key
from storage.database import ensure_data_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_creates_a_private_key_file(tmp_path: Path) -> None:
    key = load_or_create_master_key(tmp_path, None)

    key_file = tmp_path / MASTER_KEY_FILE
    assert len(key) == 32
    assert _mode(key_file) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [MASTER_KEY_FILE]  # no temp files left


def test_second_run_reuses_the_same_key(tmp_path: Path) -> None:
    first = load_or_create_master_key(tmp_path, None)

    assert load_or_create_master_key(tmp_path, None) == first


def test_key_file_holds_a_value_usable_as_the_environment_variable(tmp_path: Path) -> None:
    key = load_or_create_master_key(tmp_path, None)
    text = (tmp_path / MASTER_KEY_FILE).read_text().strip()

    assert load_or_create_master_key(tmp_path / "elsewhere", text) == key


def test_missing_data_directory_is_created_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"

    load_or_create_master_key(data_dir, None)

    assert _mode(data_dir) == 0o700


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_stops_start_up(tmp_path: Path, mode: int) -> None:
    load_or_create_master_key(tmp_path, None)
    (tmp_path / MASTER_KEY_FILE).chmod(mode)

    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_or_create_master_key(tmp_path, None)


@pytest.mark.parametrize(
    "content",
    ["not base64 at all!", encode_key(os.urandom(16)), "", encode_key(os.urandom(33))],
)
def test_malformed_key_file_stops_start_up(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / MASTER_KEY_FILE
    key_file.write_text(content)
    key_file.chmod(0o600)

    with pytest.raises(MasterKeyError, match="does not hold a valid master key"):
        load_or_create_master_key(tmp_path, None)


def test_environment_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = os.urandom(32)

    assert load_or_create_master_key(tmp_path, encode_key(key)) == key
    assert not (tmp_path / MASTER_KEY_FILE).exists()


def test_environment_key_without_padding_is_accepted(tmp_path: Path) -> None:
    key = os.urandom(32)
    unpadded = base64.urlsafe_b64encode(key).decode().rstrip("=")

    assert load_or_create_master_key(tmp_path, unpadded) == key


def test_environment_key_wins_over_an_existing_file(tmp_path: Path) -> None:
    load_or_create_master_key(tmp_path, None)
    key = os.urandom(32)

    assert load_or_create_master_key(tmp_path, encode_key(key)) == key


@pytest.mark.parametrize("value", ["short", encode_key(os.urandom(31)), "!!" * 22])
def test_malformed_environment_key_stops_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(MasterKeyError):
        load_or_create_master_key(tmp_path, value)


def test_data_directory_is_created_with_mode_0700(tmp_path: Path) -> None:
    data_dir = ensure_data_dir(tmp_path / "steady-data")

    assert _mode(data_dir) == 0o700
