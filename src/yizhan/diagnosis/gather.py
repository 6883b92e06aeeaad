"""Gather what the store knows of one message: its record, every policy rule's verdict, the
lists that concern its number, its signature's and template's state and carrier
registration, its route, submit attempts, receipts and pushes (docs/diagnosis.md "What a
diagnosis shows").

Consumes a `Message` and the store (the `TrailStore` protocol below, which `storage/`
implements); hands `Facts` to `verdicts.judge` and to the renderers. Every read goes by an
index (docs/diagnosis.md "Speed").

What cannot be reconstructed is said so rather than guessed: the frequency counters keep
only their current windows, so the count at the moment of a message is not known; the
policy trail and the refusal's reason name the limit that fired and when it frees. The
signature's and template's state are today's, with the time of their last change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from yizhan.domain.codes import CodeBook, CodeInfo
from yizhan.domain.evidence import MessageEvidence
from yizhan.domain.model import (
    Account,
    AccountId,
    BlacklistEntry,
    Message,
    OptOut,
    Package,
    Signature,
    Template,
    TemplateType,
)
from yizhan.domain.push import PushEndpoints
from yizhan.domain.registration import SubPortRegistration
from yizhan.policy import rules
from yizhan.policy.trail import Step


class TrailStore(Protocol):
    """The store as a diagnosis reads it."""

    async def message(self, account_id: AccountId, message_id: int) -> Message | None: ...
    async def messages_of(self, account_id: AccountId, *, biz_id: str | None = None,
                          phone: str | None = None, start: datetime | None = None,
                          end: datetime | None = None, limit: int = ...) -> list[Message]: ...
    async def message_evidence(self, message: Message) -> MessageEvidence: ...
    async def account(self, account_id: AccountId) -> Account | None: ...
    async def packages(self, account_id: AccountId) -> list[Package]: ...
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def template(self, account_id: AccountId, code: str) -> Template | None: ...
    async def last_changed_at(self, kind: str, subject: str) -> datetime | None: ...
    async def sign_registrations(self, signature_id: int) -> list[SubPortRegistration]: ...
    async def blacklisted(self, phone: str | None = None,
                          limit: int = ...) -> tuple[int, list[BlacklistEntry]]: ...
    async def opt_outs(self, account_id: AccountId, sign_name: str | None = None,
                       phone: str | None = None, limit: int = ...) -> list[OptOut]: ...
    async def whitelisted_since(self, account_id: AccountId, phone: str) -> datetime | None: ...
    async def push_endpoints(self, account_id: int) -> PushEndpoints | None: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything known of one message, as gathered."""

    message: Message
    steps: list[Step] | None
    """Every policy rule's verdict; None for a message stored before trails were kept."""
    account: Account | None = None
    packages: Sequence[Package] = ()
    signature: Signature | None = None
    signature_changed_at: datetime | None = None
    template: Template | None = None
    template_changed_at: datetime | None = None
    registrations: Sequence[SubPortRegistration] = ()
    """The signature's carrier registrations, every sub-port."""
    blacklist: Sequence[BlacklistEntry] = ()
    """The number's entries on the platform blacklist (current ones)."""
    opt_outs: Sequence[OptOut] = ()
    """The number's opt-outs of this signature's promotions."""
    whitelisted_since: datetime | None = None
    explanation: CodeInfo | None = None
    """The record's code, explained by the table of the channel that reported it."""
    evidence: MessageEvidence = field(default_factory=MessageEvidence)
    receipt_url: str = ""
    """Where the account's receipts go: a URL, `queue`, or "" (none)."""

    @property
    def channel_registrations(self) -> list[SubPortRegistration]:
        """The registrations on the channel that carried the message (all, if none did)."""
        on_channel = [r for r in self.registrations if r.channel == self.message.channel]
        return on_channel or list(self.registrations)

    @property
    def given_up_dispatch(self) -> bool:
        return any(d.stage == "dispatch" and d.replayed_at is None
                   for d in self.evidence.dead_letters)


async def gather(store: TrailStore, message: Message, codes: CodeBook) -> Facts:
    """The facts of `message` (already found, so already known to be the account's)."""
    account_id, phone = message.account_id, message.phone
    signature = await store.signature(account_id, message.sign_name)
    template = await store.template(account_id, message.template_code)
    registrations = (await store.sign_registrations(signature.id)
                     if signature is not None else [])
    _, listed = await store.blacklisted(phone, limit=10)
    opted = (await store.opt_outs(account_id, message.sign_name, phone, limit=10)
             if message.template_type is TemplateType.PROMOTION else [])
    endpoints = await store.push_endpoints(account_id)
    code = message.error_code
    return Facts(
        message=message, steps=rules.read_trail(message.policy_trail),
        account=await store.account(account_id),
        packages=await store.packages(account_id) if code == "isv.AMOUNT_NOT_ENOUGH" else (),
        signature=signature,
        signature_changed_at=(await store.last_changed_at("signature", str(signature.id))
                              if signature is not None else None),
        template=template,
        template_changed_at=(await store.last_changed_at("template", template.code)
                             if template is not None else None),
        registrations=registrations, blacklist=listed, opt_outs=opted,
        whitelisted_since=await store.whitelisted_since(account_id, phone),
        explanation=codes.explain(message.channel, code) if code else None,
        evidence=await store.message_evidence(message),
        receipt_url=endpoints.receipt_url if endpoints is not None else "")
