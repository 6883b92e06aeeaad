"""What a diagnosis reads besides the catalogue and the lists (`diagnosis/`): a message found
by BizId and number or by number and time, and the rows of the other tables about one
message (`domain/evidence.py`), in one read.

Every lookup goes by an index: messages by `ix_messages_biz_id` and
`ix_messages_account_phone_created`, receipts and push items by their `message_id` index,
the outbox row only while the message is queued (its items are few: finished ones are
deleted). Dead letters are an operator's short backlog without a message index: they are
read only for a message whose dispatch was given up or whose push may have been.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from yizhan.domain.evidence import (
    DeadLetterRow,
    MessageEvidence,
    OutboxRow,
    PushRow,
    ReceiptRow,
)
from yizhan.domain.model import AccountId, DispatchState, Message, MessageStatus
from yizhan.storage.sql import message_of_row
from yizhan.storage.tables import (
    dead_letters,
    messages,
    outbox,
    push_items,
    rate_whitelist,
    receipts,
    review_decisions,
)

MAX_FOUND = 100
"""At most this many messages answer one search (a number's day rarely holds more)."""


class TrailsMixin:
    _read_in_thread: Callable[..., Any]

    async def messages_of(self, account_id: AccountId, *, biz_id: str | None = None,
                          phone: str | None = None, start: datetime | None = None,
                          end: datetime | None = None, limit: int = MAX_FOUND,
                          ) -> list[Message]:
        """The account's messages of a BizId (and number), or of a number in [start, end),
        oldest first."""
        where: list[Any] = [messages.c.account_id == account_id]
        if biz_id is not None:
            where.append(messages.c.biz_id == biz_id)
        if phone is not None:
            where.append(messages.c.phone == phone)
        if start is not None and end is not None:
            where += [messages.c.created_at >= start, messages.c.created_at < end]
        query = select(messages).where(*where).order_by(messages.c.created_at, messages.c.id)
        rows = await self._read_in_thread(_all, query.limit(limit))
        return [message_of_row(r) for r in rows]

    async def any_message(self, message_id: int) -> Message | None:
        """A message of any account, by id: the operator's diagnosis (`yizhan diagnose`)."""
        rows = await self._read_in_thread(_all, select(messages).where(
            messages.c.id == message_id))
        return message_of_row(rows[0]) if rows else None

    async def last_changed_at(self, kind: str, subject: str) -> datetime | None:
        """When a signature (kind "signature", subject its id) or a template ("template",
        its code) last changed state: a review, or its tenant's deletion or resubmission."""
        d = review_decisions.c
        rows = await self._read_in_thread(_all, select(d.at).where(
            d.kind == kind, d.subject == subject).order_by(d.id.desc()).limit(1))
        return rows[0][0] if rows else None

    async def whitelisted_since(self, account_id: AccountId, phone: str) -> datetime | None:
        """When the number joined the account's frequency whitelist; None: it is not on it."""
        rows = await self._read_in_thread(_all, select(rate_whitelist.c.added_at).where(
            rate_whitelist.c.account_id == account_id, rate_whitelist.c.phone == phone))
        return rows[0][0] if rows else None

    async def message_evidence(self, message: Message) -> MessageEvidence:
        return await self._read_in_thread(_evidence, message)  # type: ignore[no-any-return]


def _all(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


def _evidence(conn: Connection, message: Message) -> MessageEvidence:
    found = conn.execute(select(receipts).where(receipts.c.message_id == message.id)
                         .order_by(receipts.c.id)).all()
    pushed = conn.execute(select(push_items).where(push_items.c.message_id == message.id)
                          .order_by(push_items.c.id)).all()
    queued: tuple[OutboxRow, ...] = ()
    if message.dispatch_state in (DispatchState.QUEUED, DispatchState.SUBMITTING):
        queued = tuple(OutboxRow(r.attempts, r.available_at, r.last_error)
                       for r in conn.execute(select(outbox).where(
                           outbox.c.message_id == message.id)).all())
    letters: tuple[DeadLetterRow, ...] = ()
    if queued == () and (message.dispatch_state is DispatchState.QUEUED
                         or (message.status is not MessageStatus.WAITING and not pushed)):
        letters = tuple(
            DeadLetterRow(r.id, r.stage, r.error, r.created_at, r.replayed_at)
            for r in conn.execute(select(dead_letters).order_by(dead_letters.c.id)).all()
            if isinstance(r.payload, dict) and r.payload.get("message_id") == message.id)
    return MessageEvidence(
        tuple(ReceiptRow(r.channel, r.code, r.status, r.error_code, r.raw, r.done_at,
                         r.received_at) for r in found),
        tuple(PushRow(r.topic, r.attempts, r.created_at, r.available_at, r.last_error)
              for r in pushed),
        letters, queued)


__all__ = ["TrailsMixin"]
