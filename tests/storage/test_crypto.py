"""Sealing and key wrapping: blobs open only for the right user, purpose and key."""

from __future__ import annotations

import os

import pytest

from storage.crypto import DecryptionError, KeyRing, MasterKeyError, Sealer

ALICE, BOB = 1001, 2002


def test_sealed_text_round_trips_and_never_repeats() -> None:
    sealer = Sealer(os.urandom(32), ALICE)
    first = sealer.seal("entry", b"Felt flat after the call")
    second = sealer.seal("entry", b"Felt flat after the call")

    assert first != second  # fresh nonce each time
    assert sealer.open("entry", first) == b"Felt flat after the call"


def test_json_round_trips_non_ascii_text() -> None:
    sealer = Sealer(os.urandom(32), ALICE)
    value = {"what_happened": "Café supervision ran over — again", "n": [1, 2]}

    assert sealer.open_json("entry", sealer.seal_json("entry", value)) == value


def test_blob_cannot_be_opened_as_another_user_even_with_the_same_key() -> None:
    dek = os.urandom(32)
    blob = Sealer(dek, ALICE).seal("entry", b"private")

    with pytest.raises(DecryptionError):
        Sealer(dek, BOB).open("entry", blob)


def test_blob_cannot_be_moved_to_another_field() -> None:
    sealer = Sealer(os.urandom(32), ALICE)

    with pytest.raises(DecryptionError):
        sealer.open("conversation", sealer.seal("entry", b"private"))


def test_wrong_key_is_refused() -> None:
    blob = Sealer(os.urandom(32), ALICE).seal("entry", b"private")

    with pytest.raises(DecryptionError):
        Sealer(os.urandom(32), ALICE).open("entry", blob)


@pytest.mark.parametrize("position", [0, 1, 13, -1])
def test_any_tampered_byte_is_detected(position: int) -> None:
    sealer = Sealer(os.urandom(32), ALICE)
    blob = bytearray(sealer.seal("entry", b"private"))
    blob[position] ^= 0x01

    with pytest.raises(DecryptionError):
        sealer.open("entry", bytes(blob))


def test_truncated_blob_is_refused() -> None:
    sealer = Sealer(os.urandom(32), ALICE)

    with pytest.raises(DecryptionError):
        sealer.open("entry", sealer.seal("entry", b"private")[:20])


def test_wrapped_key_unwraps_only_for_its_own_user() -> None:
    keyring = KeyRing(os.urandom(32))
    dek, wrapped = keyring.new_wrapped_key(ALICE)

    assert keyring.unwrap(ALICE, wrapped) == dek
    with pytest.raises(DecryptionError):
        keyring.unwrap(BOB, wrapped)


def test_wrapped_key_needs_the_same_master_key() -> None:
    _dek, wrapped = KeyRing(os.urandom(32)).new_wrapped_key(ALICE)

    with pytest.raises(DecryptionError):
        KeyRing(os.urandom(32)).unwrap(ALICE, wrapped)


def test_each_user_gets_a_different_data_key() -> None:
    keyring = KeyRing(os.urandom(32))

    assert keyring.new_wrapped_key(ALICE)[0] != keyring.new_wrapped_key(ALICE)[0]


def test_master_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(MasterKeyError):
        KeyRing(os.urandom(16))
