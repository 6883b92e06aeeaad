"""What the console works with: the API's services (`ApiServices`: the same store
protocols, diagnosis and codes the API uses) and the store's parts only the console needs,
declared here so that the console imports no `storage/`: its people and sessions,
AccessKeys, an account's packages, the accounts list of the operator, and the filtered records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yizhan.api.services import ApiServices
from yizhan.domain.model import (
    AccessKey,
    Account,
    AccountId,
    KeyStatus,
    Message,
    MessageStatus,
    Package,
)
from yizhan.domain.people import AuditEntry, ConsoleSession, ConsoleUser


class PeopleStore(Protocol):
    async def console_user(self, login: str) -> ConsoleUser | None: ...
    async def set_console_password(self, login: str, password_hash: str) -> bool: ...
    async def open_console_session(self, token_hash: str, user_id: int, csrf: str,
                                   now: datetime, expires_at: datetime) -> None: ...
    async def console_session(self, token_hash: str,
                              now: datetime) -> ConsoleSession | None: ...
    async def close_console_session(self, token_hash: str) -> None: ...
    async def login_failures(self, login: str, client: str,
                             since: datetime) -> tuple[int, int]: ...
    async def add_login_failure(self, login: str, client: str, now: datetime,
                                forget_before: datetime) -> None: ...
    async def clear_login_failures(self, login: str) -> None: ...
    async def audit_console(self, user: ConsoleUser, account_id: AccountId | None,
                            action: str, subject: str, now: datetime) -> None: ...
    async def console_audit(self, account_id: AccountId | None = None,
                            limit: int = 100) -> list[AuditEntry]: ...


class ConsoleStore(PeopleStore, Protocol):
    async def access_key(self, key_id: str) -> AccessKey | None: ...
    async def list_access_keys(self, account_id: AccountId | None = None) -> list[AccessKey]: ...
    async def create_access_key(self, account_id: AccountId, now: datetime) -> AccessKey: ...
    async def set_access_key_status(self, key_id: str, status: KeyStatus) -> bool: ...
    async def packages(self, account_id: AccountId) -> list[Package]: ...
    async def list_accounts(self) -> list[Account]: ...
    async def query_messages(self, account_id: AccountId | None, phone: str | None,
                             start: datetime, end: datetime, offset: int = 0,
                             limit: int = 50, biz_id: str | None = None, *,
                             status: MessageStatus | None = None,
                             sign_name: str | None = None, template_code: str | None = None,
                             task_id: int | None = None, count_limit: int | None = None,
                             ) -> tuple[int, list[Message]]: ...


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The login's rate limit (docs/console.md "Access"): within `window_seconds`, at most
    `per_login` failed logins for one login name and `per_client` from one address; past
    either, logins are refused (even with the right password) until the window moves on."""

    window_seconds: float = 900.0
    per_login: int = 5
    per_client: int = 30


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    api: ApiServices
    store: ConsoleStore
    session_seconds: float = 12 * 3600.0
    """How long a session lasts after its login."""
    limits: LoginLimits = LoginLimits()
