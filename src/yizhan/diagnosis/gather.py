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
)
from yizhan.domain.registration import SubPortRegistration
from yizhan.policy import rules
from yizhan.policy.trail import Step


class TrailStore(Protocol):
    """The store as a diagnosis reads it."""

    async def message(self, account_id: AccountId, message_id: int) -> Message | None: ...
    async def messages_of(self, account_id: AccountId, *, biz_id: str | None = None,
                          phone: str | None = None, start: datetime | None = None,
                          end: datetime | None = None, limit: int = ...) -> list[Message]: ...
    async def message_evidence(self, message: Message) -> MessageEvidence:
        """Every row about `message` (`domain/evidence.py`), in one read."""
        ...
    async def template(self, account_id: AccountId, code: str) -> Template | None: ...


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
    e = await store.message_evidence(message)
    code = message.error_code
    return Facts(
        message=message, steps=rules.read_trail(message.policy_trail), account=e.account,
        packages=e.packages, signature=e.signature, signature_changed_at=e.signature_changed_at,
        template=e.template, template_changed_at=e.template_changed_at,
        registrations=e.registrations, blacklist=e.blacklist, opt_outs=e.opt_outs,
        whitelisted_since=e.whitelisted_since,
        explanation=codes.explain(message.channel, code) if code else None,
        evidence=e, receipt_url=e.receipt_url)
