"""The demo account a first start creates, so that a new user can send at once.

Creates (or finds) account `demo` with an AccessKey, a tenant admin `demo` of the web
console, the platform's first operator `admin` of the console, an approved `general`
signature and one approved template of each type: verification with `${code}`,
notification, and promotion carrying the opt-out text. The secret (and the console's
passwords) are returned only when they are created here.

The signature is registered (实名制报备, state 3) on every sub-port of the channel plan it is
given, so that the built-in channels, whose simulated carriers refuse unregistered
signatures, deliver the demo's messages at once (docs/compliance.md "Enforcement").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from yizhan.dispatch.channel_file import ChannelPlan
from yizhan.domain.model import (
    AccessKey,
    Account,
    AccountId,
    KeyStatus,
    ReviewState,
    Signature,
    SignatureScenario,
    Template,
    TemplateType,
)
from yizhan.domain.people import ConsoleUser, Role
from yizhan.domain.registration import RegistrationState, SubPort, SubPortRegistration
from yizhan.runtime import passwords

DEMO_ACCOUNT = "demo"
DEMO_LOGIN = "demo"
"""The demo account's tenant admin in the web console; its password is made at the first
start and shown then only (`yizhan console-user password demo` makes a new one)."""
DEMO_OPERATOR = "admin"
"""The first operator of the web console (accounts, reviews, channels): made with the demo
at the first start, its password shown then only, so that whoever ran `yizhan serve` can
reach the operator's pages too (`yizhan console-user password admin` makes a new one)."""
DEMO_SIGNATURE = "驿站"
DEMO_TEMPLATES: dict[TemplateType, tuple[str, str]] = {
    TemplateType.VERIFICATION: ("demo verification code",
                                "您的验证码为${code}，5分钟内有效，请勿泄露于他人。"),
    TemplateType.NOTIFICATION: ("demo notification", "您的订单${order}已发货，请注意查收。"),
    TemplateType.PROMOTION: ("demo promotion",
                             "驿站新用户专享：首月短信${discount}折，详情见官网。拒收请回复R"),
}


class SeedStore(Protocol):
    async def account_by_name(self, name: str) -> Account | None: ...
    async def create_account(self, name: str, now: datetime) -> Account: ...
    async def list_access_keys(self, account_id: AccountId | None = None) -> list[AccessKey]: ...
    async def create_access_key(self, account_id: AccountId, now: datetime) -> AccessKey: ...
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def create_signature(self, account_id: AccountId, name: str,
                               scenario: SignatureScenario, state: ReviewState,
                               now: datetime) -> Signature: ...
    async def list_templates(self, account_id: AccountId | None = None) -> list[Template]: ...
    async def create_template(self, account_id: AccountId, name: str, type_: TemplateType,
                              content: str, state: ReviewState, now: datetime) -> Template: ...
    async def sign_registrations(self, signature_id: int) -> list[SubPortRegistration]: ...
    async def file_sign_registrations(self, account_id: AccountId, signature_id: int,
                                      sub_ports: Sequence[SubPort],
                                      qualification_id: int | None, now: datetime,
                                      due: datetime) -> list[SubPortRegistration]: ...
    async def set_sign_registration(self, registration_id: int, state: RegistrationState,
                                    reasons: Sequence[str], now: datetime, *,
                                    detail: str = "", answered: bool = False,
                                    expect: Sequence[RegistrationState] = ()) -> bool: ...
    async def console_user(self, login: str) -> ConsoleUser | None: ...
    async def create_console_user(self, login: str, password_hash: str, role: Role,
                                  account_id: AccountId | None,
                                  now: datetime) -> ConsoleUser: ...


@dataclass(frozen=True)
class Demo:
    account: Account
    key: AccessKey
    secret_is_new: bool
    signature: Signature
    templates: dict[TemplateType, Template]
    created: bool
    console_login: str = DEMO_LOGIN
    console_password: str | None = None
    """Set when the console login was made by this start (shown once)."""
    operator_login: str = DEMO_OPERATOR
    operator_password: str | None = None
    """Set when the operator's login was made by this start (shown once)."""


async def ensure_demo(store: SeedStore, now: datetime, plan: ChannelPlan | None = None) -> Demo:
    account = await store.account_by_name(DEMO_ACCOUNT)
    created = account is None
    if account is None:
        account = await store.create_account(DEMO_ACCOUNT, now)
    keys = [k for k in await store.list_access_keys(account.id) if k.status is KeyStatus.ENABLED]
    key = keys[0] if keys else await store.create_access_key(account.id, now)
    signature = await store.signature(account.id, DEMO_SIGNATURE) or \
        await store.create_signature(account.id, DEMO_SIGNATURE, SignatureScenario.GENERAL,
                                     ReviewState.APPROVED, now)
    existing = {t.type: t for t in await store.list_templates(account.id)
                if t.state is ReviewState.APPROVED}
    templates = {}
    for type_, (name, content) in DEMO_TEMPLATES.items():
        templates[type_] = existing.get(type_) or await store.create_template(
            account.id, name, type_, content, ReviewState.APPROVED, now)
    if plan is not None:
        await register(store, signature, plan.sub_ports(str(signature.id)), now)
    return Demo(account, key, not keys, signature, templates, created,
                console_password=await _person(store, DEMO_LOGIN, Role.TENANT_ADMIN,
                                               account.id, now),
                operator_password=await _person(store, DEMO_OPERATOR, Role.OPERATOR, None,
                                                now))


async def _person(store: SeedStore, login: str, role: Role, account_id: AccountId | None,
                  now: datetime) -> str | None:
    """Make the console login `login` if it does not exist; its new password, or None."""
    if await store.console_user(login) is not None:
        return None
    password = passwords.new_password()
    await store.create_console_user(login, passwords.hash_password(password), role,
                                    account_id, now)
    return password


async def register(store: SeedStore, signature: Signature, sub_ports: Sequence[SubPort],
                   now: datetime) -> None:
    """Record `signature` as registered and verified on each of `sub_ports` where it is
    not yet (the demo's carriers are simulated: there is nobody to wait for)."""
    usable = {r.channel for r in await store.sign_registrations(signature.id)
              if r.state.usable}
    missing = [p for p in sub_ports if p.channel not in usable]
    if not missing:
        return
    for row in await store.file_sign_registrations(signature.account_id, signature.id,
                                                   missing, None, now, now):
        if row.channel in {p.channel for p in missing}:
            await store.set_sign_registration(row.id, RegistrationState.REGISTERED,
                                              ["DETECT_SUCCESS"], now, answered=True)
