"""The people of the web console (docs/console.md "Access"): who logs in, with which role,
over which session.

Operators run the platform and see every account; a tenant admin and a tenant viewer see
only their own account, and only an admin may change things or see a record unmasked.
Passwords never appear here: the store keeps an argon2id hash (`runtime/passwords.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from yizhan.domain.model import AccountId


class Role(StrEnum):
    OPERATOR = "operator"
    TENANT_ADMIN = "tenant-admin"
    TENANT_VIEWER = "tenant-viewer"

    @property
    def tenant(self) -> bool:
        return self is not Role.OPERATOR


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    id: int
    login: str
    role: Role
    account_id: AccountId | None
    """The tenant's account; None for an operator."""
    password_hash: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A logged-in session as the store keeps it: the cookie carries a random token, the
    store its SHA-256 (`token_hash`); `csrf` is the token every form of the session sends."""

    token_hash: str
    user: ConsoleUser
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    login: str
    account_id: AccountId | None
    action: str
    subject: str
