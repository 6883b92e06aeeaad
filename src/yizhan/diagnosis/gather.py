"""Gather what the store knows of one message: its record, every policy rule's verdict, the
lists that concern its number, its signature's and template's state and carrier
registration, its route, submit attempts, receipts and pushes (docs/diagnosis.md "What a
diagnosis shows").

Consumes a `Message` and the store (the `TrailStore` protocol below, which `storage/`
implements); hands `Facts` to `verdicts.judge` and to the renderers. Every read goes by an
index (docs/diagnosis.md "Speed").

What held at the moment of the message comes from `moment.py`: the frequency windows and
counts the policy trail kept (none for a trail stored before they were kept: "not
recorded"), the signature's and template's review state then (from the trail and their
audited changes) and their carrier registrations then, each beside today's. What cannot be
reconstructed is said so rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from yizhan.diagnosis.moment import (
    FrequencyThen,
    RegistrationThen,
    StateThen,
    frequency_then,
    registration_then,
    review_then,
)
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
from yizhan.policy import rules, trail
from yizhan.policy.frequency import read_record
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
    frequency: FrequencyThen | None = None
    """The frequency windows and counts at the send, as the trail kept them (None: not
    checked, or not recorded)."""
    signature_then: StateThen | None = None
    template_then: StateThen | None = None
    registrations_then: Sequence[RegistrationThen] = ()
    """`registrations`, each with its state at the send."""

    @property
    def channel_registrations(self) -> list[SubPortRegistration]:
        """The registrations on the channel that carried the message (all, if none did)."""
        on_channel = [r for r in self.registrations if r.channel == self.message.channel]
        return on_channel or list(self.registrations)

    @property
    def channel_registrations_then(self) -> list[RegistrationThen]:
        """`channel_registrations`, each with its state at the send."""
        chosen = {r.id for r in self.channel_registrations}
        return [r for r in self.registrations_then if r.row.id in chosen]

    @property
    def given_up_dispatch(self) -> bool:
        return any(d.stage == "dispatch" and d.replayed_at is None
                   for d in self.evidence.dead_letters)


async def gather(store: TrailStore, message: Message, codes: CodeBook) -> Facts:
    """The facts of `message` (already found, so already known to be the account's)."""
    e = await store.message_evidence(message)
    code = message.error_code
    steps = rules.read_trail(message.policy_trail)
    at = message.created_at
    return Facts(
        message=message, steps=steps, account=e.account, packages=e.packages,
        signature=e.signature,
        signature_changed_at=e.signature_history[-1].at if e.signature_history else None,
        template=e.template,
        template_changed_at=e.template_history[-1].at if e.template_history else None,
        registrations=e.registrations, blacklist=e.blacklist, opt_outs=e.opt_outs,
        whitelisted_since=e.whitelisted_since,
        explanation=codes.explain(message.channel, code) if code else None,
        evidence=e, receipt_url=e.receipt_url,
        frequency=frequency_then(read_record(trail.detail(message.policy_trail),
                                             message.template_type, message.phone), at),
        signature_then=None if e.signature is None else review_then(
            "signature.approved", steps, e.signature_history, e.signature.state, at),
        template_then=None if e.template is None else review_then(
            "template.approved", steps, e.template_history, e.template.state, at),
        registrations_then=tuple(registration_then(r, at) for r in e.registrations))
