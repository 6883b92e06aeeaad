"""What the store keeps about one message besides its record: the rows a diagnosis reads
(`diagnosis/`), as the store hands them over in one read.

The record itself is a `Message` (its route, policy trail, codes and times); these are the
other tables' rows about it: its account, signature and template (with their audited changes)
and the signature's carrier registrations; the blacklist, opt-out and whitelist entries of
its number; every receipt the carriers sent for it, the push items still waiting to reach
the tenant, the dead letters of its dispatch or its push, and its dispatch outbox row while
it is still on its way. A delivered push item is deleted (docs/push.md), so "no item and no
dead letter" after a final status means delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yizhan.domain.model import (
    Account,
    BlacklistEntry,
    OptOut,
    Package,
    ReviewDecision,
    Signature,
    Template,
)
from yizhan.domain.registration import SubPortRegistration


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    """One receipt a channel reported for the message (table `receipts`)."""

    channel: str
    code: str
    """The carrier's code as the channel read it (`stat`)."""
    status: str
    error_code: str
    raw: str
    done_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PushRow:
    """A push item not yet delivered to the tenant (table `push_items`)."""

    topic: str
    attempts: int
    created_at: datetime
    available_at: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A dead letter about the message: its dispatch or its push given up."""

    id: int
    stage: str
    error: str
    created_at: datetime
    replayed_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """The message's dispatch item while it is queued: attempts so far and the last error."""

    attempts: int
    available_at: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class MessageEvidence:
    account: Account | None = None
    packages: tuple[Package, ...] = ()
    """Read only for a message refused for its balance."""
    signature: Signature | None = None
    signature_history: tuple[ReviewDecision, ...] = ()
    """Its audited reviews, deletion, resubmissions (`review_decisions`), oldest first."""
    template: Template | None = None
    template_history: tuple[ReviewDecision, ...] = ()
    registrations: tuple[SubPortRegistration, ...] = ()
    blacklist: tuple[BlacklistEntry, ...] = ()
    """The number's current entries on the platform blacklist."""
    opt_outs: tuple[OptOut, ...] = ()
    """The number's opt-out of this signature's promotions (read for promotions only)."""
    whitelisted_since: datetime | None = None
    receipt_url: str = ""
    """Where the account's receipts go: a URL, `queue`, or "" (none)."""
    receipts: tuple[ReceiptRow, ...] = ()
    pushes: tuple[PushRow, ...] = ()
    dead_letters: tuple[DeadLetterRow, ...] = ()
    outbox: tuple[OutboxRow, ...] = ()
