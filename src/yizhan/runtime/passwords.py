"""People's passwords (the web console, docs/console.md "Access"): hashed with argon2id
(argon2-cffi's defaults, RFC 9106's second recommended set), verified in constant time.

Only the hash is stored; a hash made under older parameters is re-made at the next login
(`needs_rehash`). Checking a login that does not exist still costs one verification
(`verify_nobody`), so the answer's time does not tell which logins exist.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
"""The shortest password a person may choose."""

_HASHER = PasswordHasher()


@cache
def _nobody() -> str:
    """A hash of a random password, made at the first use (not at import: every CLI
    command imports this module)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_nobody(password: str) -> bool:
    """Spend a verification's time for a login that does not exist; always False."""
    verify(_nobody(), password)
    return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


def new_password() -> str:
    """A password the platform makes (the demo's, a reset): 16 characters of urlsafe base64."""
    return secrets.token_urlsafe(12)


def weak(password: str) -> str | None:
    """Why a chosen password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    return None
