"""The message path in the SQL store: acceptance, the dispatch outbox, submit outcomes,
receipts, uplinks and dead letters.

Rules implemented here (ARCHITECTURE.md, "Decisions already taken"):
- a message and its outbox row are committed in one transaction (`accept`);
- a message is marked `submitting` in the same transaction that claims its outbox row, so a
  message found `submitting` by a later claim was cut off mid-submit: it becomes status
  unknown with the reason recorded and is never submitted again;
- an outbox row leaves the table only when its item is finished, or moves to dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.events import Uplink
from yizhan.domain.model import (
    AccountId,
    BizId,
    DeadLetter,
    DispatchState,
    Message,
    MessageId,
    MessageStatus,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    Claim,
    ReceiptUpdate,
    Rejected,
    Retryable,
    SubmitOutcome,
)
from yizhan.storage.tables import dead_letters, messages, outbox, receipts, uplinks

DISPATCH = "dispatch"
INTERRUPTED = ("the process stopped while this message was being submitted; it may or may "
               "not have reached the carrier, so it is not submitted again")
_CHUNK = 500


def _message(row: Row[Any]) -> Message:
    return Message(
        id=MessageId(row.id), biz_id=BizId(row.biz_id), account_id=AccountId(row.account_id),
        phone=PhoneNumber(row.phone), sign_name=row.sign_name,
        template_code=TemplateCode(row.template_code),
        template_type=TemplateType(row.template_type), content=row.content,
        segments=row.segments, status=MessageStatus(row.status), error_code=row.error_code,
        out_id=row.out_id, created_at=row.created_at,
        dispatch_state=DispatchState(row.dispatch_state), channel=row.channel,
        remote_id=row.remote_id, submitted_at=row.submitted_at, receipt_at=row.receipt_at,
        reason=row.reason)


def _dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(row.id, row.stage, row.payload, row.error, row.created_at, row.replayed_at)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class MessagesMixin:
    is_postgres: bool

    def _write(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
    def _read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    # Acceptance

    async def accept(self, batch: Sequence[Message]) -> None:
        """Commit messages and their dispatch outbox rows together (one transaction)."""
        if not batch:
            return
        rows = [{
            "id": m.id, "biz_id": m.biz_id, "account_id": m.account_id, "phone": m.phone,
            "sign_name": m.sign_name, "template_code": m.template_code,
            "template_type": m.template_type, "content": m.content, "segments": m.segments,
            "status": m.status, "error_code": m.error_code, "reason": m.reason,
            "out_id": m.out_id, "dispatch_state": m.dispatch_state, "channel": "",
            "remote_id": "", "created_at": m.created_at,
        } for m in batch]
        queued = [{"topic": DISPATCH, "message_id": m.id, "attempts": 0,
                   "available_at": m.created_at, "last_error": ""}
                  for m in batch if m.dispatch_state is DispatchState.QUEUED]
        async with self._write() as conn:
            await conn.execute(insert(messages), rows)
            if queued:
                await conn.execute(insert(outbox), queued)

    # Queries

    async def message(self, account_id: AccountId, message_id: int) -> Message | None:
        async with self._read() as conn:
            row = (await conn.execute(select(messages).where(
                messages.c.id == message_id, messages.c.account_id == account_id))).first()
        return _message(row) if row else None

    async def messages_by_biz(self, account_id: AccountId, biz_id: str) -> list[Message]:
        async with self._read() as conn:
            rows = (await conn.execute(select(messages).where(
                messages.c.biz_id == biz_id, messages.c.account_id == account_id)
                .order_by(messages.c.id))).all()
        return [_message(r) for r in rows]

    async def query_messages(self, account_id: AccountId | None, phone: str | None,
                             start: datetime, end: datetime, offset: int = 0,
                             limit: int = 50) -> tuple[int, list[Message]]:
        """Records created in [start, end), newest first, with the total before paging."""
        conditions = [messages.c.created_at >= start, messages.c.created_at < end]
        if account_id is not None:
            conditions.append(messages.c.account_id == account_id)
        if phone is not None:
            conditions.append(messages.c.phone == phone)
        async with self._read() as conn:
            total = await conn.scalar(select(func.count()).select_from(messages)
                                      .where(*conditions))
            rows = (await conn.execute(select(messages).where(*conditions)
                                       .order_by(messages.c.created_at.desc(),
                                                 messages.c.id.desc())
                                       .offset(offset).limit(limit))).all()
        return int(total or 0), [_message(r) for r in rows]

    # Dispatch

    async def pending_dispatch(self) -> int:
        async with self._read() as conn:
            count = await conn.scalar(select(func.count()).select_from(outbox)
                                      .where(outbox.c.topic == DISPATCH))
        return int(count or 0)

    async def release_claims(self) -> None:
        """Forget every lease: only for a process that is the sole dispatcher (embedded)."""
        async with self._write() as conn:
            await conn.execute(update(outbox).values(claimed_until=None))

    async def claim_dispatch(self, now: datetime, limit: int,
                             lease: timedelta) -> tuple[list[Claim], list[MessageId]]:
        """Claim up to `limit` due outbox items and mark their messages `submitting`.

        Returns the claims and the ids of interrupted messages resolved to unknown.
        """
        query = (select(outbox.c.id, outbox.c.message_id, outbox.c.attempts)
                 .where(outbox.c.topic == DISPATCH, outbox.c.available_at <= now,
                        or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now))
                 .order_by(outbox.c.id).limit(limit))
        if self.is_postgres:
            query = query.with_for_update(skip_locked=True)
        async with self._write() as conn:
            items = (await conn.execute(query)).all()
            if not items:
                return [], []
            found = {row.id: _message(row) for row in (await conn.execute(
                select(messages).where(messages.c.id.in_([i.message_id for i in items])))).all()}
            claims: list[Claim] = []
            interrupted: list[MessageId] = []
            finished: list[int] = []
            for item in items:
                message = found.get(item.message_id)
                if message is None or message.dispatch_state is DispatchState.QUEUED:
                    if message is not None:
                        claims.append(Claim(item.id, item.attempts, message))
                        continue
                elif message.dispatch_state is DispatchState.SUBMITTING:
                    interrupted.append(message.id)
                finished.append(item.id)
            if interrupted:
                await conn.execute(update(messages).where(messages.c.id.in_(interrupted)).values(
                    status=MessageStatus.UNKNOWN, dispatch_state=DispatchState.DONE,
                    reason=INTERRUPTED))
            if finished:
                await conn.execute(delete(outbox).where(outbox.c.id.in_(finished)))
            if claims:
                await conn.execute(update(outbox)
                                   .where(outbox.c.id.in_([c.outbox_id for c in claims]))
                                   .values(claimed_until=now + lease))
                await conn.execute(update(messages)
                                   .where(messages.c.id.in_([c.message.id for c in claims]))
                                   .values(dispatch_state=DispatchState.SUBMITTING))
        return claims, interrupted

    async def finish_submits(self, outcomes: Sequence[SubmitOutcome], now: datetime) -> None:
        accepted, rejected, retry, dead, unknown = [], [], [], [], []
        for o in outcomes:
            m, r = o.claim.message, o.result
            if isinstance(r, Accepted):
                accepted.append({"b_id": m.id, "b_channel": o.channel, "b_remote": r.remote_id})
            elif isinstance(r, Rejected):
                rejected.append({"b_id": m.id, "b_channel": o.channel, "b_code": r.code,
                                 "b_reason": r.reason})
            elif isinstance(r, Ambiguous):
                unknown.append({"b_id": m.id, "b_channel": o.channel, "b_reason": r.reason})
            elif isinstance(r, Retryable) and not o.dead:
                retry.append({"b_outbox": o.claim.outbox_id, "b_attempts": o.claim.attempts + 1,
                              "b_at": now + timedelta(seconds=r.after), "b_error": r.reason,
                              "b_id": m.id})
            else:
                dead.append(o)
        done = [o.claim.outbox_id for o in outcomes if not isinstance(o.result, Retryable)
                or o.dead]
        async with self._write() as conn:
            if accepted:
                await conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                                   .values(dispatch_state=DispatchState.SUBMITTED,
                                           channel=bindparam("b_channel"),
                                           remote_id=bindparam("b_remote"), submitted_at=now),
                                   accepted)
            if rejected:
                await conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                                   .values(dispatch_state=DispatchState.DONE,
                                           status=MessageStatus.FAILED,
                                           channel=bindparam("b_channel"),
                                           error_code=bindparam("b_code"),
                                           reason=bindparam("b_reason"), submitted_at=now,
                                           receipt_at=now),
                                   rejected)
            if unknown:
                await conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                                   .values(dispatch_state=DispatchState.DONE,
                                           status=MessageStatus.UNKNOWN,
                                           channel=bindparam("b_channel"),
                                           reason=bindparam("b_reason"), submitted_at=now),
                                   unknown)
            if retry:
                await conn.execute(update(outbox).where(outbox.c.id == bindparam("b_outbox"))
                                   .values(attempts=bindparam("b_attempts"),
                                           available_at=bindparam("b_at"), claimed_until=None,
                                           last_error=bindparam("b_error")), retry)
            requeue = [r["b_id"] for r in retry] + [o.claim.message.id for o in dead]
            if requeue:
                await conn.execute(update(messages).where(messages.c.id.in_(requeue))
                                   .values(dispatch_state=DispatchState.QUEUED))
            if dead:
                await conn.execute(insert(dead_letters), [{
                    "stage": DISPATCH, "created_at": now,
                    "payload": {"topic": DISPATCH, "message_id": o.claim.message.id,
                                "attempts": o.claim.attempts + 1},
                    "error": getattr(o.result, "reason", "")} for o in dead])
            if done:
                await conn.execute(delete(outbox).where(outbox.c.id.in_(done)))

    # Receipts and uplinks

    async def store_receipts(self, updates: Sequence[ReceiptUpdate], now: datetime) -> int:
        """Store receipts and apply them to their messages; returns how many matched.

        A receipt whose message is not known yet (it can overtake the submit's own commit)
        is stored unmatched and applied later by `match_late_receipts`.
        """
        async with self._write() as conn:
            targets = await self._find_targets(conn, [u.receipt for u in updates])
            rows, applied = [], []
            for u in updates:
                r = u.receipt
                target = targets.get((r.channel, r.remote_id))
                rows.append({"message_id": target, "channel": r.channel,
                             "remote_id": r.remote_id, "code": r.code, "status": u.status,
                             "error_code": u.error_code, "raw": r.raw, "done_at": r.done_at,
                             "received_at": now})
                if target is not None:
                    applied.append({"b_id": target, "b_status": u.status,
                                    "b_code": u.error_code, "b_at": r.done_at})
            await conn.execute(insert(receipts), rows)
            await self._apply_receipts(conn, applied)
        return len(applied)

    async def match_late_receipts(self, limit: int = 1000) -> int:
        async with self._write() as conn:
            pending = (await conn.execute(select(receipts).where(
                receipts.c.message_id.is_(None)).order_by(receipts.c.id).limit(limit))).all()
            if not pending:
                return 0
            targets = await self._find_targets(conn, pending)
            matched = [(r, targets[(r.channel, r.remote_id)]) for r in pending
                       if (r.channel, r.remote_id) in targets]
            if matched:
                await conn.execute(update(receipts).where(receipts.c.id == bindparam("b_rid"))
                                   .values(message_id=bindparam("b_id")),
                                   [{"b_rid": r.id, "b_id": m} for r, m in matched])
                await self._apply_receipts(conn, [
                    {"b_id": m, "b_status": r.status, "b_code": r.error_code, "b_at": r.done_at}
                    for r, m in matched])
        return len(matched)

    async def _find_targets(self, conn: AsyncConnection,
                            items: Sequence[Any]) -> dict[tuple[str, str], int]:
        by_channel: dict[str, list[str]] = {}
        for item in items:
            by_channel.setdefault(item.channel, []).append(item.remote_id)
        found: dict[tuple[str, str], int] = {}
        for channel, remote_ids in by_channel.items():
            for chunk in _chunks(remote_ids):
                rows = (await conn.execute(select(messages.c.id, messages.c.remote_id).where(
                    messages.c.channel == channel, messages.c.remote_id.in_(chunk)))).all()
                found.update({(channel, row.remote_id): row.id for row in rows})
        return found

    async def _apply_receipts(self, conn: AsyncConnection, applied: list[dict[str, Any]]) -> None:
        """Only a message still waiting takes a receipt's status: the first final one wins."""
        if applied:
            await conn.execute(update(messages).where(
                messages.c.id == bindparam("b_id"),
                messages.c.status == MessageStatus.WAITING).values(
                status=bindparam("b_status"), error_code=bindparam("b_code"),
                receipt_at=bindparam("b_at"), dispatch_state=DispatchState.DONE), applied)

    async def store_uplinks(self, items: Sequence[Uplink]) -> None:
        async with self._write() as conn:
            await conn.execute(insert(uplinks), [{
                "account_id": None, "channel": u.channel, "phone": u.phone,
                "dest_code": u.dest_code, "content": u.content, "received_at": u.received_at}
                for u in items])

    # Dead letters

    async def list_dead_letters(self, include_replayed: bool = False) -> list[DeadLetter]:
        query = select(dead_letters).order_by(dead_letters.c.id)
        if not include_replayed:
            query = query.where(dead_letters.c.replayed_at.is_(None))
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [_dead_letter(r) for r in rows]

    async def dead_letter(self, letter_id: int) -> DeadLetter | None:
        async with self._read() as conn:
            row = (await conn.execute(select(dead_letters).where(
                dead_letters.c.id == letter_id))).first()
        return _dead_letter(row) if row else None

    async def replay_dead_letter(self, letter_id: int, now: datetime) -> DeadLetter | None:
        """Put a dead letter's item back on its stage's outbox; None if unknown or replayed."""
        async with self._write() as conn:
            row = (await conn.execute(select(dead_letters).where(
                dead_letters.c.id == letter_id, dead_letters.c.replayed_at.is_(None)))).first()
            if row is None:
                return None
            payload = row.payload
            await conn.execute(insert(outbox).values(
                topic=payload["topic"], message_id=payload["message_id"], attempts=0,
                available_at=now, last_error=""))
            await conn.execute(update(dead_letters).where(dead_letters.c.id == letter_id)
                               .values(replayed_at=now))
        return _dead_letter(row)
