"""What a diagnosis reads (`diagnosis/`): a message found by BizId and number or by number
and time, and the rows of the other tables about one message (`domain/evidence.py`), in one
read on one connection (one hop to the reader thread on SQLite: a dozen separate reads cost
ten times a record fetch, measured with bench/diagnosis.py).

Every lookup goes by an index: messages by `ix_messages_biz_id` and
`ix_messages_account_phone_created`; the account, signature, template, blacklist, opt-out,
whitelist and push settings by their keys; registrations by their (signature, channel)
key, the audited changes by `ix_review_decisions_kind_subject`; receipts and push items by their
`message_id` index; the outbox row only while the message is queued (the outbox holds only
unfinished items). Dead letters are an operator's short backlog without a message index:
they are read only where one can be about the message.
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
from yizhan.domain.model import (
    AccountId,
    DispatchState,
    Message,
    MessageStatus,
    ReviewDecision,
    ReviewState,
)
from yizhan.storage.billing import package_of_row
from yizhan.storage.catalogue import account_of_row, signature_of_row, template_of_row
from yizhan.storage.lists import blacklist_entry_of_row, opt_out_of_row
from yizhan.storage.registrations import registration_of_row
from yizhan.storage.sql import message_of_row
from yizhan.storage.tables import (
    accounts,
    blacklist,
    dead_letters,
    messages,
    opt_outs,
    outbox,
    packages,
    push_endpoints,
    push_items,
    rate_whitelist,
    receipts,
    review_decisions,
    signature_registrations,
    signatures,
    templates,
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

    async def message_evidence(self, message: Message) -> MessageEvidence:
        return await self._read_in_thread(_evidence, message)  # type: ignore[no-any-return]


def _all(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


def _evidence(conn: Connection, message: Message) -> MessageEvidence:
    account_id, phone, mid = message.account_id, message.phone, message.id
    account = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    signature = conn.execute(select(signatures).where(
        signatures.c.account_id == account_id, signatures.c.name == message.sign_name)).first()
    template = conn.execute(select(templates).where(
        templates.c.account_id == account_id,
        templates.c.code == message.template_code)).first()
    reg = signature_registrations
    registered = conn.execute(
        select(reg, signatures.c.name).join(signatures, signatures.c.id == reg.c.signature_id)
        .where(reg.c.signature_id == signature.id)
        .order_by(reg.c.isp, reg.c.channel)).all() if signature is not None else []
    listed = conn.execute(select(blacklist).where(
        blacklist.c.phone == phone, blacklist.c.removed_at.is_(None))).all()
    opted = conn.execute(select(opt_outs).where(
        opt_outs.c.account_id == account_id, opt_outs.c.sign_name == message.sign_name,
        opt_outs.c.phone == phone)).all() if message.template_type == "promotion" else []
    whitelisted = conn.execute(select(rate_whitelist.c.added_at).where(
        rate_whitelist.c.account_id == account_id, rate_whitelist.c.phone == phone)).first()
    receipt_url = conn.execute(select(push_endpoints.c.receipt_url).where(
        push_endpoints.c.account_id == account_id)).scalar()
    prepaid = conn.execute(select(packages).where(packages.c.account_id == account_id)
                           .order_by(packages.c.expires_at, packages.c.id)).all() \
        if message.error_code == "isv.AMOUNT_NOT_ENOUGH" else []
    found = conn.execute(select(receipts).where(receipts.c.message_id == mid)
                         .order_by(receipts.c.id)).all() if mid else []
    pushed = conn.execute(select(push_items).where(push_items.c.message_id == mid)
                          .order_by(push_items.c.id)).all() if mid else []
    queued = _queued(conn, message)
    return MessageEvidence(
        account=account_of_row(account) if account else None,
        packages=tuple(package_of_row(r) for r in prepaid),
        signature=signature_of_row(signature) if signature else None,
        signature_history=_history(conn, "signature", str(signature.id)) if signature else (),
        template=template_of_row(template) if template else None,
        template_history=_history(conn, "template", template.code) if template else (),
        registrations=tuple(registration_of_row(r) for r in registered),
        blacklist=tuple(blacklist_entry_of_row(r) for r in listed),
        opt_outs=tuple(opt_out_of_row(r) for r in opted),
        whitelisted_since=whitelisted[0] if whitelisted else None,
        receipt_url=receipt_url or "",
        receipts=tuple(ReceiptRow(r.channel, r.code, r.status, r.error_code, r.raw, r.done_at,
                                  r.received_at) for r in found),
        pushes=tuple(PushRow(r.topic, r.attempts, r.created_at, r.available_at, r.last_error)
                     for r in pushed),
        dead_letters=_letters(conn, message, bool(queued or pushed)), outbox=queued)


def _history(conn: Connection, kind: str, subject: str) -> tuple[ReviewDecision, ...]:
    """Every audited review, deletion, resubmission of the item, oldest first
    (`ix_review_decisions_kind_subject`): its state at any moment since (docs/diagnosis.md
    "At the moment of the send")."""
    d = review_decisions.c
    return tuple(ReviewDecision(r.kind, r.subject, AccountId(r.account_id), r.actor,
                                ReviewState(r.state), r.reason, r.at, r.action)
                 for r in conn.execute(select(review_decisions).where(
                     d.kind == kind, d.subject == subject).order_by(d.id)).all())


def _queued(conn: Connection, message: Message) -> tuple[OutboxRow, ...]:
    """Its dispatch item, while it is queued (the outbox holds only unfinished items)."""
    if message.dispatch_state not in (DispatchState.QUEUED, DispatchState.SUBMITTING):
        return ()
    return tuple(OutboxRow(r.attempts, r.available_at, r.last_error)
                 for r in conn.execute(select(outbox).where(
                     outbox.c.message_id == message.id)).all())


def _letters(conn: Connection, message: Message, in_flight: bool) -> tuple[DeadLetterRow, ...]:
    """The dead letters about the message: read only where one can be (its dispatch given
    up: queued with no outbox item; its push given up: final with no push item)."""
    if not message.id or in_flight or not (message.dispatch_state is DispatchState.QUEUED
                                           or message.status is not MessageStatus.WAITING):
        return ()
    return tuple(
        DeadLetterRow(r.id, r.stage, r.error, r.created_at, r.replayed_at)
        for r in conn.execute(select(dead_letters).order_by(dead_letters.c.id)).all()
        if isinstance(r.payload, dict) and r.payload.get("message_id") == message.id)


__all__ = ["TrailsMixin"]
