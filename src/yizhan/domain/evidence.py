"""What the store keeps of one message's way out and back, besides its record: the rows a
diagnosis reads (`diagnosis/`), as the store hands them over.

The record itself is a `Message` (its route, policy trail, codes and times); these are the
other tables' rows about it: every receipt the carriers sent for it, the push items still
waiting to reach the tenant, the dead letters of its dispatch or its push, and its dispatch
outbox row while it is still on its way. A delivered push item is deleted
(docs/push.md), so "no item and no dead letter" after a final status means delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    receipts: tuple[ReceiptRow, ...] = ()
    pushes: tuple[PushRow, ...] = ()
    dead_letters: tuple[DeadLetterRow, ...] = ()
    outbox: tuple[OutboxRow, ...] = ()
