"""Secrets at rest: AES-256-GCM under the master key (issue 14 point 2, docs/security.md).

The store keeps two kinds of secret that it must read back in clear: AccessKey secrets
(they verify the HMAC signatures of API requests) and the accounts' push secrets (they sign
pushes). It seals them with a `Sealer` before they are written and opens them where they are
loaded; the API caches loaded keys, so a request pays nothing for it.

A sealed value reads `yz1:` + base64url(12-byte nonce + ciphertext + tag). Its associated
data names the row (`access_keys:<id>`), so a sealed value copied into another row does not
open. A value without the prefix is a plaintext row of an older version: it opens as itself
until the start of this version seals it (`storage/sealed.py`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "yz1:"
KEY_BYTES = 32
_NONCE_BYTES = 12


class MasterKeyError(Exception):
    """The master key is missing, malformed or not the one the store's secrets were sealed
    under: a configuration problem, told in one line (the CLI prints it and exits)."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The text form of a key: what the key file holds and `master_key` takes."""
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str, where: str) -> bytes:
    """Read a key in its text form (base64 of 32 bytes); `where` names its source for the
    error message."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{where} is not a master key (base64 of {KEY_BYTES} bytes); "
                             "`yizhan keys new-master` prints a fresh one")
    return key


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a master key has {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._derivation = hmac.new(key, b"yizhan derived keys", hashlib.sha256).digest()

    def derive(self, purpose: str) -> bytes:
        """A key for `purpose` derived from the master key (HMAC-SHA256): the master key
        itself never signs anything else; rotating it changes every derived key."""
        return hmac.new(self._derivation, purpose.encode(), hashlib.sha256).digest()

    def seal(self, plain: str, row: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), row.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, stored: str, row: str) -> str:
        """The clear value of a stored one; raises `MasterKeyError` when this key did not
        seal it (or it was altered)."""
        if not is_sealed(stored):
            return stored  # a plaintext row from before sealing; sealed at start
        body = stored[len(PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                      row.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise MasterKeyError(f"the secret of {row} does not open with this master key"
                                 ) from exc
