"""Envelope encryption for everything a practitioner writes.

A master key (from ``STEADY_MASTER_KEY`` or ``master.key`` in the data directory) wraps one
random data key per user; each user's data key seals their free text. Destroying a user's
wrapped key therefore makes all of their sealed text unreadable: crypto-shredding.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
MASTER_KEY_FILE = "master.key"

# Each blob starts with its format version so the layout can change without guessing.
_SEAL_VERSION = b"\x01"
_WRAP_VERSION = b"\x01"
_MIN_BLOB = 1 + NONCE_BYTES + 16  # version + nonce + GCM tag


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed or stored unsafely; Steady must not start."""


class DecryptionError(Exception):
    """A blob could not be opened: wrong key, wrong user or purpose, or tampered bytes."""


class KeyDestroyedError(LookupError):
    """The user's data key no longer exists (erased), so their text cannot be read."""


def decode_key(text: str) -> bytes:
    """Decode a URL-safe base64 master key (padding optional) and check it is 32 bytes."""
    cleaned = text.strip()
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError("the master key is not valid URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def encode_key(key: bytes) -> str:
    """Encode a key as URL-safe base64 text, the form ``STEADY_MASTER_KEY`` expects."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def load_or_create_master_key(data_dir: Path, env_value: str | None) -> bytes:
    """Return the master key from ``env_value`` if given, else from ``data_dir/master.key``.

    The key file is created on first run with mode 0600. An existing file that other users
    could read, or that is malformed, stops start-up with :class:`MasterKeyError`.
    """
    if env_value:
        return decode_key(env_value)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / MASTER_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    """Write a fresh key so that ``path`` never exists half-written, even with racing starts."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(encode_key(os.urandom(KEY_BYTES)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() refuses to replace an existing file: if another process won, keep theirs.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _read_key_file(path: Path) -> bytes:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise MasterKeyError(f"{path} is not a regular file")
    if info.st_mode & 0o077:
        raise MasterKeyError(
            f"{path} can be read by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    try:
        return decode_key(path.read_text(encoding="ascii"))
    except (MasterKeyError, UnicodeDecodeError) as error:
        raise MasterKeyError(f"{path} does not hold a valid master key: {error}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _aead_open(cipher: AESGCM, version: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < _MIN_BLOB or blob[:1] != version:
        raise DecryptionError("unrecognised blob format")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return cipher.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError("blob failed authentication") from None


def _aead_seal(cipher: AESGCM, version: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return version + nonce + cipher.encrypt(nonce, plaintext, aad)


class KeyRing:
    """Wraps and unwraps per-user data keys under the master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes")
        self._cipher = AESGCM(master_key)

    @staticmethod
    def _aad(user_id: int) -> bytes:
        return _WRAP_VERSION + b"steady/dek\x00" + str(user_id).encode("ascii")

    def new_wrapped_key(self, user_id: int) -> tuple[bytes, bytes]:
        """Make a random data key for ``user_id``; return it and its wrapped (storable) form."""
        dek = os.urandom(KEY_BYTES)
        return dek, _aead_seal(self._cipher, _WRAP_VERSION, dek, self._aad(user_id))

    def unwrap(self, user_id: int, wrapped: bytes) -> bytes:
        """Recover ``user_id``'s data key; a key wrapped for anyone else raises DecryptionError."""
        return _aead_open(self._cipher, _WRAP_VERSION, wrapped, self._aad(user_id))


class Sealer:
    """Seals and opens one user's blobs; each blob is bound to the user and a purpose."""

    def __init__(self, dek: bytes, user_id: int) -> None:
        if len(dek) != KEY_BYTES:
            raise ValueError(f"a data key must be {KEY_BYTES} bytes")
        self._cipher = AESGCM(dek)
        self._user_id = user_id

    @property
    def user_id(self) -> int:
        """The user whose data key this sealer holds."""
        return self._user_id

    def _aad(self, purpose: str) -> bytes:
        # The user id is decimal so the first NUL separates it unambiguously from the purpose.
        return (
            _SEAL_VERSION
            + b"steady/seal\x00"
            + str(self._user_id).encode("ascii")
            + b"\x00"
            + purpose.encode("utf-8")
        )

    def seal(self, purpose: str, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for this user and ``purpose`` (e.g. ``"entry"``)."""
        return _aead_seal(self._cipher, _SEAL_VERSION, plaintext, self._aad(purpose))

    def open(self, purpose: str, blob: bytes) -> bytes:
        """Decrypt a blob sealed for this user and ``purpose``, or raise DecryptionError."""
        return _aead_open(self._cipher, _SEAL_VERSION, blob, self._aad(purpose))

    def seal_json(self, purpose: str, value: Any) -> bytes:
        """Serialise ``value`` as JSON and seal it."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return self.seal(purpose, text.encode("utf-8"))

    def open_json(self, purpose: str, blob: bytes) -> Any:
        """Open a blob made by :meth:`seal_json` and parse its JSON."""
        return json.loads(self.open(purpose, blob).decode("utf-8"))
