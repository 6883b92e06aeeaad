"""What the console works with: the API's services (`ApiServices`: the same store
protocols, diagnosis and codes the API uses) and the store's parts only the console needs,
declared here so that the console imports no `storage/`: its people and sessions,
AccessKeys, an account's packages, the accounts list of the operator, the filtered records,
and the number lists (promotion opt-outs, the platform blacklist), and an account's uploaded
documents; for the operator's pages, accounts (`AccountsStore`), review queues
(`policy.review.ReviewStore`), dead letters, unmatched receipts, the platform's keywords and
blacklist, and the channels this process runs (`ChannelBoard`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yizhan.api.services import ApiServices
from yizhan.dispatch.channel_file import ChannelPlan
from yizhan.dispatch.router import Router
from yizhan.domain.model import (
    AccessKey,
    Account,
    AccountEvent,
    AccountId,
    AccountStatus,
    BlacklistEntry,
    DeadLetter,
    KeyStatus,
    Message,
    MessageStatus,
    OptOut,
    Package,
)
from yizhan.domain.people import AuditEntry, ConsoleSession, ConsoleUser, Role
from yizhan.domain.ports import UnmatchedReceipt
from yizhan.policy.review import ReviewStore


class StoredDocument(Protocol):
    """An uploaded document as the store records it (`compliance/documents.py`)."""

    @property
    def key(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def uploaded_at(self) -> datetime: ...


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


class OperationsStore(Protocol):
    """What the operator's pages of dead letters, unmatched receipts and the platform's
    lists read and change (the CLI's `deadletters`, `receipts unmatched`, `keywords` and
    `blacklist` call the same)."""

    async def list_dead_letters(self, include_replayed: bool = False,
                                limit: int | None = None) -> list[DeadLetter]: ...
    async def dead_letter(self, letter_id: int) -> DeadLetter | None: ...
    async def replay_dead_letter(self, letter_id: int, now: datetime) -> DeadLetter | None: ...
    async def unmatched_receipts(self, channel: str | None = None,
                                 limit: int = 50) -> list[UnmatchedReceipt]: ...
    async def keywords(self, account_id: AccountId | None) -> tuple[str, ...]: ...
    async def add_keywords(self, account_id: AccountId | None, words: Iterable[str],
                           now: datetime) -> list[str]: ...
    async def remove_keywords(self, account_id: AccountId | None,
                              words: Iterable[str]) -> int: ...
    async def add_blacklisted(self, items: Sequence[BlacklistEntry]) -> None: ...
    async def remove_blacklisted(self, phones: Sequence[str], now: datetime) -> int: ...


class AccountsStore(Protocol):
    """The operator's side of accounts (what `yizhan accounts` and `console-user` change)."""

    async def account(self, account_id: AccountId) -> Account | None: ...
    async def account_by_name(self, name: str) -> Account | None: ...
    async def create_account(self, name: str, now: datetime) -> Account: ...
    async def set_account_status(self, account_id: AccountId, status: AccountStatus,
                                 reason: str, actor: str, now: datetime) -> bool: ...
    async def account_events(self, account_id: AccountId | None = None
                             ) -> list[AccountEvent]: ...
    async def top_up(self, account_id: AccountId, amount: int, note: str,
                     now: datetime) -> int: ...
    async def set_part_price(self, account_id: AccountId, price: int | None) -> None: ...
    async def add_package(self, account_id: AccountId, parts: int, expires_at: datetime,
                          now: datetime) -> Package: ...
    async def console_users(self, account_id: AccountId | None = None
                            ) -> list[ConsoleUser]: ...
    async def create_console_user(self, login: str, password_hash: str, role: Role,
                                  account_id: AccountId | None,
                                  now: datetime) -> ConsoleUser: ...


class ConsoleStore(PeopleStore, OperationsStore, AccountsStore, ReviewStore, Protocol):
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
    async def opt_outs(self, account_id: AccountId, sign_name: str | None = None,
                       phone: str | None = None, limit: int = 1000) -> list[OptOut]: ...
    async def add_opt_outs(self, items: Sequence[OptOut]) -> int: ...
    async def blacklisted(self, phone: str | None = None,
                          limit: int = 1000) -> tuple[int, list[BlacklistEntry]]: ...
    async def account_documents(self, account_id: AccountId,
                                limit: int = 100) -> Sequence[StoredDocument]: ...
    async def document(self, account_id: AccountId, key: str) -> StoredDocument | None: ...


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The login's rate limit (docs/console.md "Access"): within `window_seconds`, at most
    `per_login` failed logins for one login name and `per_client` from one address; past
    either, logins are refused (even with the right password) until the window moves on."""

    window_seconds: float = 900.0
    per_login: int = 5
    per_client: int = 30


@dataclass(frozen=True, slots=True)
class ChannelBoard:
    """The channels this process runs, for the operator's channel page: their router, which
    keeps their live health (bound, window, breaker, the last minute's submits), the plan
    they came from (its kinds, addresses and routes; None: no channel file and the
    in-process simulator), and whether this process dispatches (role `api` does not: its
    channels are never started, and the health to see is the dispatch process's)."""

    router: Router
    plan: ChannelPlan | None
    dispatching: bool


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    api: ApiServices
    store: ConsoleStore
    session_seconds: float = 12 * 3600.0
    """How long a session lasts after its login."""
    limits: LoginLimits = LoginLimits()
    push_timeout: float = 5.0
    """How long a test push waits for the tenant's answer (`push_timeout_seconds`)."""
    channels: ChannelBoard | None = None
    """The channels of this process (None: the page says there are none to show)."""
    part_price: int = 0
    """The platform's price per part (thousandths of a yuan), for an account without its own."""
