"""The message path in the SQL store: acceptance, the dispatch outbox, submit outcomes,
receipts, uplinks and dead letters.

Rules implemented here (docs/architecture.md, "Decisions"):
- a message and its outbox row are committed in one transaction (`accept`);
- a message is marked `submitting` in the same transaction that claims its outbox row, so a
  message found `submitting` by a later claim was cut off mid-submit: it becomes status
  unknown with the reason recorded and is never submitted again;
- except that a dispatcher starting after a crash first puts back on the outbox the claims
  its submit journal shows never left the process (`requeue_unsent`; dispatch/journal.py):
  the conservative rule above then covers only submits that may have reached the carrier;
- an outbox row leaves the table only when its item is finished, or moves to dead letters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
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
    OptOut,
    PhoneNumber,
    SignatureNonce,
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
    Unsent,
)
from yizhan.domain.priority import DispatchPriority
from yizhan.storage import billing, reports
from yizhan.storage.lists import _add_opt_outs
from yizhan.storage.reports import Transition, subject_of
from yizhan.storage.tables import (
    dead_letters,
    messages,
    outbox,
    push_items,
    receipts,
)

DISPATCH = "dispatch"
INTERRUPTED = ("the process stopped while this message was being submitted; it may or may "
               "not have reached the carrier, so it is not submitted again")
_CHUNK = 500
R = TypeVar("R")


_STATUSES = {s.value: s for s in MessageStatus}
_STATES = {s.value: s for s in DispatchState}
_TYPES = {t.value: t for t in TemplateType}
_VALUES: dict[Any, str] = {e: e.value for kind in (MessageStatus, DispatchState, TemplateType)
                           for e in kind}
"""Plain strings of the enums, bound as parameters (a dict lookup costs less than `.value`)."""
_CLAIM_COLUMNS = ("m.id, m.biz_id, m.account_id, m.phone, m.sign_name, m.template_code, "
                  "m.template_type, m.content, m.segments, m.status, m.error_code, m.out_id, "
                  "m.created_at, m.dispatch_state, m.channel, m.remote_id, m.submitted_at, "
                  "m.receipt_at, m.reason, m.part_price, m.charge, m.package_parts, "
                  "m.charged_at")
"""The columns of `messages` in the order of `Message`'s fields (see `_claimed_message`)."""


def _claimed_message(r: Sequence[Any], read_ts: Callable[[Any], datetime]) -> Message:
    """A message from a claim row (outbox id and attempts first, then `_CLAIM_COLUMNS`).

    This runs once per dispatched message: positional fields and dict lookups instead of
    enum calls, times read with the dialect's `read_ts`."""
    return Message(r[2], r[3], r[4], r[5], r[6], r[7], _TYPES[r[8]], r[9], r[10],
                   _STATUSES[r[11]], r[12], r[13], read_ts(r[14]), _STATES[r[15]], r[16],
                   r[17], r[18] and read_ts(r[18]), r[19] and read_ts(r[19]), r[20], r[21],
                   r[22], r[23], r[24] and read_ts(r[24]))


class _HotSql:
    """The statements run for every message (acceptance, claim, submit outcome, receipt) as
    driver SQL with plain tuples, executed with `exec_driver_sql`.

    SQLAlchemy's compiled statements process every parameter of every row in Python (bind
    processors, type decorators), which at thousands of messages per second costs more than
    SQLite's own work. Here the statements are written once with `?` placeholders and turned
    into the driver's style (`?` for sqlite3, `$1..$n` for asyncpg); times are bound as the
    driver wants them: on SQLite the exact text SQLAlchemy's DATETIME stores (naive UTC,
    `YYYY-MM-DD HH:MM:SS.ffffff`, so comparisons with rows written by compiled statements
    stay right), on PostgreSQL a naive UTC datetime (the columns are WITHOUT TIME ZONE).
    """

    def __init__(self, postgres: bool) -> None:
        self.ts: Callable[[datetime], Any] = _naive_utc if postgres else _sqlite_text
        self.read_ts: Callable[[Any], datetime] = _aware if postgres else _sqlite_time
        place = _dollar_placeholders if postgres else str
        # Claims: one statement finds the due items with their messages (LEFT JOIN: an item
        # whose message is gone is finished), in dispatch order (rank time, then id:
        # `ix_outbox_topic_rank`; domain/priority.py); PostgreSQL locks the items, skipping
        # those that another worker holds.
        self.due = place(
            f"SELECT o.id, o.attempts, {_CLAIM_COLUMNS}, o.available_at, o.rank_at "
            "FROM outbox o LEFT JOIN messages m ON m.id = o.message_id "
            "WHERE o.topic = ? AND o.available_at <= ? "
            "AND (o.claimed_until IS NULL OR o.claimed_until < ?) "
            "ORDER BY o.rank_at, o.id LIMIT ?"
            + (" FOR UPDATE OF o SKIP LOCKED" if postgres else ""))
        self.interrupted = place(
            "UPDATE messages SET status = ?, dispatch_state = ?, reason = ? WHERE id = ?")
        self.finished = place("DELETE FROM outbox WHERE id = ?")
        self.lease = place("UPDATE outbox SET claimed_until = ? WHERE id = ?")
        self.submitting = place("UPDATE messages SET dispatch_state = ? WHERE id = ?")
        self.insert_message = (
            "INSERT INTO messages (id, biz_id, account_id, phone, sign_name, template_code, "
            "template_type, content, segments, status, error_code, reason, out_id, "
            "dispatch_state, channel, remote_id, created_at, part_price, policy_trail)",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', ?, ?, ?)")
        self.insert_outbox = (
            "INSERT INTO outbox (topic, message_id, attempts, available_at, last_error, "
            "rank_at)", "(?, ?, 0, ?, '', ?)")
        self.submitted = place(
            "UPDATE messages SET dispatch_state = ?, channel = ?, remote_id = ?, "
            "submitted_at = ?, route = ? WHERE id = ?")
        self.insert_receipt = place(
            "INSERT INTO receipts (message_id, channel, remote_id, code, status, error_code, "
            "raw, done_at, received_at, phone, submitted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        self.apply_receipt = place(
            "UPDATE messages SET status = ?, error_code = ?, receipt_at = ?, "
            # An unbilled receipt adds 0 and leaves charged_at as it is (an international
            # message was billed at submit).
            "dispatch_state = ?, charge = charge + ?, package_parts = package_parts + ?, "
            "charged_at = COALESCE(?, charged_at) WHERE id = ? AND status = ?")
        self.bill = place(
            "UPDATE messages SET charge = ?, package_parts = ?, charged_at = ? WHERE id = ?")
        self._postgres = postgres
        self.place: Callable[[str], str] = place
        self.lock = " FOR UPDATE" if postgres else ""

    def targets(self, channel: str, remote_ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        """Statement and parameters finding the messages of some remote ids of a channel,
        with what applying a receipt and billing need (`Target`). On PostgreSQL the rows are
        locked, in id order: a second stage applying a duplicate of the same receipt waits,
        then sees the message no longer waiting, so it is never billed twice."""
        # `remote_id <> ''` lets both databases use the partial index of submitted messages.
        head = ("SELECT id, remote_id, status, account_id, phone, segments, part_price, "
                "sign_name, template_code, template_type, biz_id, out_id, created_at, "
                "channel FROM messages WHERE remote_id <> '' AND channel = ")
        if self._postgres:
            return (head + "$1 AND remote_id = ANY($2) ORDER BY id FOR UPDATE",
                    (channel, list(remote_ids)))
        marks = ", ".join("?" * len(remote_ids))
        return head + f"? AND remote_id IN ({marks})", (channel, *remote_ids)


@cache
def _hot_sql(postgres: bool) -> _HotSql:
    return _HotSql(postgres)


def insert_rows(conn: Connection, postgres: bool, head: str, row: str,
                rows: Sequence[tuple[Any, ...]]) -> None:
    """`head VALUES row` for each of `rows` (`?` placeholders).

    PostgreSQL: one executemany, which asyncpg sends as one pipeline. SQLite: many rows per
    statement, in chunks of 64, 16, 4 and 1 rows, so a handful of statement shapes, each
    prepared once. The sqlite3 module lets go of the GIL while it steps a statement and
    needs it back afterwards; with a row per step, the writer thread waited for the event
    loop's thread at every row (a 1000-row commit took 15 ms alone and up to 250 ms while
    the loop was busy on the other core; docs/architecture.md).
    """
    if not rows:
        return
    if postgres:
        conn.exec_driver_sql(_values(head, row, 1, postgres=True), list(rows))
        return
    # The driver's own cursor, inside the transaction the connection began: SQLAlchemy's
    # `exec_driver_sql` adds ~4 µs per statement, and there are a dozen per commit.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        start, total = 0, len(rows)
        for size in _ROW_CHUNKS:
            while total - start >= size:
                cursor.execute(_values(head, row, size),
                               tuple(chain.from_iterable(rows[start:start + size])))
                start += size
    finally:
        cursor.close()


_ROW_CHUNKS = (64, 16, 4, 1)


@cache
def _values(head: str, row: str, count: int, postgres: bool = False) -> str:
    sql = f"{head} VALUES {', '.join([row] * count)}"
    return _dollar_placeholders(sql) if postgres else sql


def _sqlite_text(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _dollar_placeholders(sql: str) -> str:
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


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
        reason=row.reason, part_price=row.part_price, charge=row.charge,
        package_parts=row.package_parts, charged_at=row.charged_at, route=row.route,
        policy_trail=row.policy_trail)


def _dead_letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(row.id, row.stage, row.payload, row.error, row.created_at, row.replayed_at)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _claim(conn: Connection, sql: _HotSql, now: datetime, limit: int,
           until: datetime) -> tuple[list[Claim], list[MessageId]]:
    """The claim transaction of `MessagesMixin.claim_dispatch`."""
    at = sql.ts(now)
    items = conn.exec_driver_sql(sql.due, (DISPATCH, at, at, limit)).all()
    claims: list[Claim] = []
    interrupted: list[MessageId] = []
    changes: list[Transition] = []
    finished: list[tuple[int]] = []
    for item in items:
        state = item[15]
        if state == DispatchState.QUEUED.value:
            offset = sql.read_ts(item[-1]) - sql.read_ts(item[-2])  # rank_at - available_at
            claims.append(Claim(item[0], item[1], _claimed_message(item, sql.read_ts),
                                offset))
            continue
        if state == DispatchState.SUBMITTING.value:
            interrupted.append(item[2])
            m = _claimed_message(item, sql.read_ts)
            if not m.status.final:
                changes.append(Transition(subject_of(m), m.status.value,
                                          MessageStatus.UNKNOWN.value, "", now))
        finished.append((item[0],))  # message gone or already past submitting
    if interrupted:
        conn.exec_driver_sql(sql.interrupted, [
            (MessageStatus.UNKNOWN.value, DispatchState.DONE.value, INTERRUPTED, message_id)
            for message_id in interrupted])
        reports.record(conn, sql, changes, now)
    if finished:
        conn.exec_driver_sql(sql.finished, finished)
    if claims:
        lease = sql.ts(until)
        conn.exec_driver_sql(sql.lease, [(lease, c.outbox_id) for c in claims])
        conn.exec_driver_sql(sql.submitting, [(DispatchState.SUBMITTING.value, c.message.id)
                                              for c in claims])
    return claims, interrupted


def _requeue(conn: Connection, unsent: Sequence[Unsent]) -> list[MessageId]:
    """The transaction of `MessagesMixin.requeue_unsent`."""
    requeued: list[MessageId] = []
    for u in unsent:
        # The outbox row first: on PostgreSQL that locks it, so a dispatcher resolving it as
        # interrupted (its lease expired) either went first, and the row is gone, or skips it.
        # Same attempts: the row is still the journaled claim, not a later one.
        lease = conn.execute(update(outbox).where(
            outbox.c.id == u.outbox_id, outbox.c.message_id == u.message_id,
            outbox.c.attempts == u.attempts).values(claimed_until=None))
        if not lease.rowcount:
            continue
        state = conn.execute(update(messages).where(
            messages.c.id == u.message_id,
            messages.c.dispatch_state == DispatchState.SUBMITTING,
        ).values(dispatch_state=DispatchState.QUEUED))
        if state.rowcount:
            requeued.append(MessageId(u.message_id))
    return requeued


def _page(conn: Connection, conditions: Sequence[Any], order: Sequence[Any], offset: int,
          limit: int) -> tuple[int, list[Message]]:
    """The messages matching `conditions` in `order`, one page, with their total."""
    total = int(conn.scalar(select(func.count()).select_from(messages).where(*conditions))
                or 0)
    rows = conn.execute(select(messages).where(*conditions).order_by(*order).offset(offset)
                        .limit(limit)).all() if total else []
    return total, [_message(r) for r in rows]


def _match_late(conn: Connection, limit: int, now: datetime) -> int:
    """The transaction of `MessagesMixin.match_late_receipts`."""
    # Receipts given up as matching nothing (storage/unmatched.py) are not read again.
    pending = conn.execute(select(receipts).where(receipts.c.message_id.is_(None),
                                                  receipts.c.unmatched_at.is_(None))
                           .order_by(receipts.c.id).limit(limit)).all()
    if not pending:
        return 0
    sql = _hot_sql(conn.dialect.name == "postgresql")
    targets = _find_targets(conn, pending)
    matched = [(r, targets[(r.channel, r.remote_id)]) for r in pending
               if (r.channel, r.remote_id) in targets]
    if matched:
        conn.execute(update(receipts).where(receipts.c.id == bindparam("b_rid"))
                     .values(message_id=bindparam("b_id")),
                     [{"b_rid": r.id, "b_id": t.id} for r, t in matched])
        _settle(conn, sql, [(_STATUSES[r.status], r.error_code, sql.ts(r.done_at), t,
                             r.done_at) for r, t in matched], now)
    return len(matched)


def _bill_at_submit(conn: Connection, sql: _HotSql, sent: Sequence[Message],
                    now: datetime) -> None:
    """Bill international messages the channel accepted, in the transaction recording the
    acceptance; a message already billed (an outcome recorded twice) is skipped."""
    query = select(messages.c.id).where(messages.c.id.in_([m.id for m in sent]),
                                        messages.c.charged_at.is_(None)).order_by(messages.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    unbilled = set(conn.execute(query).scalars())
    bills = billing.allocate(conn, [billing.Billable(m.id, m.account_id, m.segments,
                                                     m.part_price)
                                    for m in sent if m.id in unbilled], now)
    if bills:
        at = sql.ts(now)
        conn.exec_driver_sql(sql.bill, [(b.charge, b.package_parts, at, message_id)
                                        for message_id, b in bills.items()])


class Target(NamedTuple):
    """A message a receipt is for, as `_HotSql.targets` reads it: what applying the receipt
    and billing need, and the report subject of its status change (so that no second read
    of the same rows is needed)."""

    id: int
    remote_id: str
    status: str
    account_id: int
    phone: str
    segments: int
    part_price: int
    sign_name: str
    template_code: str
    template_type: str
    biz_id: str
    out_id: str
    created_at: Any
    """As the driver returns it (`_HotSql.read_ts` reads it)."""
    channel: str

    def subject(self, read_ts: Callable[[Any], datetime]) -> reports.Subject:
        return reports.Subject(self.id, self.account_id, self.phone, self.sign_name,
                               self.template_code, self.template_type, self.segments,
                               self.biz_id, self.out_id, read_ts(self.created_at),
                               self.channel)


def _settle(conn: Connection, sql: _HotSql,
            items: Sequence[tuple[MessageStatus, str, Any, Target, datetime]],
            now: datetime, settles: MessageStatus = MessageStatus.WAITING) -> None:
    """Apply receipts (status, error code, done-at as the driver wants it, target, done-at)
    to the messages still waiting (or in the status `settles`), the first receipt of each
    message winning; bill the successful domestic ones in the same statement
    (storage/billing.py) and record the status changes for push and statistics
    (storage/reports.py)."""
    seen: set[int] = set()
    applied: list[list[Any]] = []
    billable: list[billing.Billable] = []
    changes: list[Transition] = []
    for status, error_code, done_at, target, when in items:
        if target.status != settles.value or target.id in seen:
            continue
        seen.add(target.id)
        changes.append(Transition(target.subject(sql.read_ts), target.status, status.value,
                                  error_code, when))
        applied.append([status.value, error_code, done_at, DispatchState.DONE.value, 0, 0,
                        None, target.id, settles.value])
        if status is MessageStatus.SUCCESS and target.phone.startswith(billing.DOMESTIC_PREFIX):
            billable.append(billing.Billable(target.id, target.account_id, target.segments,
                                             target.part_price))
    bills = billing.allocate(conn, billable, now)
    if bills:
        charged_at = sql.ts(now)
        for row in applied:
            bill = bills.get(row[7])
            if bill is not None:
                row[4:7] = bill.charge, bill.package_parts, charged_at
    if applied:
        conn.exec_driver_sql(sql.apply_receipt, [tuple(row) for row in applied])
    reports.record(conn, sql, changes, now)


def _find_targets(conn: Connection, items: Sequence[Any]) -> dict[tuple[str, str], Target]:
    """Messages by (channel, remote id) of receipts (anything with those attributes)."""
    sql = _hot_sql(conn.dialect.name == "postgresql")
    by_channel: dict[str, list[str]] = {}
    for item in items:
        by_channel.setdefault(item.channel, []).append(item.remote_id)
    found: dict[tuple[str, str], Target] = {}
    for channel, remote_ids in by_channel.items():
        for chunk in _chunks(remote_ids):
            rows = conn.exec_driver_sql(*sql.targets(channel, chunk))
            found.update({(channel, row[1]): Target(*row) for row in rows})
    return found


class MessagesMixin:
    is_postgres: bool
    # NoncesMixin's: nonces committed with the messages of the request they signed.
    _nonce_purge_due: Callable[[datetime], bool]
    _remember: Callable[[Connection, list[tuple[str, str]], datetime, bool],
                        set[tuple[str, str]]]

    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    dispatch_priority = DispatchPriority()
    """The dispatch order of accepted messages (`app.py` sets it from the settings)."""

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _urgent_transaction(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    async def _read_in_thread(self, work: Callable[..., R], *args: Any) -> R:
        raise NotImplementedError  # SqlStore's

    # Acceptance

    async def accept(self, batch: Sequence[Message | SignatureNonce],
                     also: Callable[[Connection], None] | None = None) -> list[bool | None]:
        """Commit messages and their dispatch outbox rows together (one transaction);
        `also` writes more in the same transaction (the frequency counters).

        The batch may carry signature nonces (`SignatureNonce`), recorded in the same
        transaction: the result for a nonce is whether it was new, and the messages of a
        request whose nonce is a replay are not written. Messages answer None.
        """
        if not batch and also is None:
            return []
        nonces = [item for item in batch if isinstance(item, SignatureNonce)]
        if nonces:
            now = max(m.created_at for m in batch if isinstance(m, Message))
            fresh = await self._urgent_transaction(self._accept_with_nonces, batch, nonces,
                                                   now, self._nonce_purge_due(now), also)
            return [item in fresh if isinstance(item, SignatureNonce) else None
                    for item in batch]
        await self._urgent_transaction(self._accept_rows, batch, also)
        return [None] * len(batch)

    def _accept_with_nonces(self, conn: Connection, batch: Sequence[Message | SignatureNonce],
                            nonces: list[SignatureNonce], now: datetime, purge: bool,
                            also: Callable[[Connection], None] | None) -> set[SignatureNonce]:
        pairs = [(n.access_key_id, n.nonce) for n in nonces]
        new_pairs = self._remember(conn, list(dict.fromkeys(pairs)), now, purge)
        fresh: set[SignatureNonce] = set()
        for item in nonces:  # a pair twice in one batch: only the first is new
            pair = (item.access_key_id, item.nonce)
            if pair in new_pairs:
                new_pairs.discard(pair)
                fresh.add(item)
        replayed = {n.biz_id for n in nonces if n not in fresh}
        self._accept_rows(conn, [m for m in batch if isinstance(m, Message)
                                 and m.biz_id not in replayed], also)
        return fresh

    def _accept_rows(self, conn: Connection, batch: Sequence[Message | SignatureNonce],
                     also: Callable[[Connection], None] | None = None) -> None:
        sql = _hot_sql(self.is_postgres)
        accepted = [m for m in batch if isinstance(m, Message)]
        # Requests of one commit share few instants: convert each once.
        times = {at: sql.ts(at) for at in {m.created_at for m in accepted}}
        queued_state = DispatchState.QUEUED
        rows = [(m.id, m.biz_id, m.account_id, m.phone, m.sign_name, m.template_code,
                 _VALUES[m.template_type], m.content, m.segments, _VALUES[m.status],
                 m.error_code, m.reason, m.out_id, _VALUES[m.dispatch_state],
                 times[m.created_at], m.part_price, m.policy_trail) for m in accepted]
        queued = [(DISPATCH, m.id, times[m.created_at], sql.ts(m.created_at + offset))
                  for m, offset in self._rank_offsets(accepted)
                  if m.dispatch_state is queued_state]
        insert_rows(conn, self.is_postgres, *sql.insert_message, rows)
        insert_rows(conn, self.is_postgres, *sql.insert_outbox, queued)
        reports.record_accepted(conn, sql, accepted)
        if also is not None:
            also(conn)

    def _rank_offsets(self, accepted: Sequence[Message]) -> list[tuple[Message, timedelta]]:
        """Each message with its rank offset (domain/priority.py). A request's messages are
        always committed together, so its size is the count of its BizId in the batch."""
        sizes = Counter(m.biz_id for m in accepted)
        offsets: dict[tuple[TemplateType, int], timedelta] = {}
        ranked = []
        for m in accepted:
            key = (m.template_type, sizes[m.biz_id])
            offset = offsets.get(key)
            if offset is None:
                offset = offsets[key] = self.dispatch_priority.offset(*key)
            ranked.append((m, offset))
        return ranked

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

    async def biz_page(self, account_id: AccountId, biz_id: str, offset: int,
                       limit: int) -> tuple[int, list[Message]]:
        """One page of the messages of a send request, in number order, with their total:
        only the page is read (`ix_messages_biz_id`), however large the request."""
        conditions = (messages.c.biz_id == biz_id, messages.c.account_id == account_id)
        return await self._read_in_thread(
            _page, conditions, (messages.c.id,), offset, limit)

    async def query_messages(self, account_id: AccountId | None, phone: str | None,
                             start: datetime, end: datetime, offset: int = 0,
                             limit: int = 50, biz_id: str | None = None,
                             ) -> tuple[int, list[Message]]:
        """Records created in [start, end), newest first, with the total before paging;
        only those of one send request with `biz_id`."""
        conditions = [messages.c.created_at >= start, messages.c.created_at < end]
        if account_id is not None:
            conditions.append(messages.c.account_id == account_id)
        if phone is not None:
            conditions.append(messages.c.phone == phone)
        if biz_id is not None:
            conditions.append(messages.c.biz_id == biz_id)
        return await self._read_in_thread(
            _page, conditions, (messages.c.created_at.desc(), messages.c.id.desc()), offset,
            limit)

    # Dispatch

    async def pending_dispatch(self) -> int:
        async with self._read() as conn:
            count = await conn.scalar(select(func.count()).select_from(outbox)
                                      .where(outbox.c.topic == DISPATCH))
        return int(count or 0)

    async def outbox_progress(self) -> tuple[int, int]:
        """(items waiting for dispatch, the highest outbox id ever given): backpressure
        reads the delivery rate from how both move (policy/backpressure.py)."""
        async with self._read() as conn:
            waiting = await conn.scalar(select(func.count()).select_from(outbox)
                                        .where(outbox.c.topic == DISPATCH))
            last = await conn.scalar(select(func.max(outbox.c.id)))
        return int(waiting or 0), int(last or 0)

    async def release_claims(self) -> None:
        """Forget every lease: only for a process that is the sole dispatcher (embedded)."""
        async with self._write() as conn:
            await conn.execute(update(outbox).values(claimed_until=None))

    async def requeue_unsent(self, unsent: Sequence[Unsent]) -> list[MessageId]:
        """Put claims of a crashed round that never left the process back on the outbox
        (queued, lease released), each only while its outbox row is still that claim and
        its message `submitting`; returns the ids of the messages requeued."""
        if not unsent:
            return []
        return await self._transaction(_requeue, list(unsent))

    async def claim_dispatch(self, now: datetime, limit: int,
                             lease: timedelta) -> tuple[list[Claim], list[MessageId]]:
        """Claim up to `limit` due outbox items and mark their messages `submitting`.

        Returns the claims and the ids of interrupted messages resolved to unknown.
        """
        return await self._transaction(_claim, _hot_sql(self.is_postgres), now, limit,
                                       now + lease)

    async def finish_submits(self, outcomes: Sequence[SubmitOutcome], now: datetime) -> None:
        accepted: list[tuple[Any, ...]] = []
        rejected, retry, dead, unknown = [], [], [], []
        sql = _hot_sql(self.is_postgres)
        at = sql.ts(now)
        for o in outcomes:
            m, r = o.claim.message, o.result
            if isinstance(r, Accepted):
                accepted.append((DispatchState.SUBMITTED.value, o.channel, r.remote_id, at,
                                 o.route, m.id))
            elif isinstance(r, Rejected):
                rejected.append({"b_id": m.id, "b_channel": o.channel, "b_code": r.code,
                                 "b_reason": r.reason, "b_route": o.route})
            elif isinstance(r, Ambiguous):
                unknown.append({"b_id": m.id, "b_channel": o.channel, "b_reason": r.reason,
                                "b_route": o.route})
            elif isinstance(r, Retryable) and not o.dead:
                due = now + timedelta(seconds=r.after)  # keeping its class's offset
                retry.append({"b_outbox": o.claim.outbox_id, "b_attempts": o.claim.attempts + 1,
                              "b_at": due, "b_rank": due + o.claim.rank_offset,
                              "b_error": o.route or r.reason, "b_id": m.id})
            else:
                dead.append(o)
        done = [o.claim.outbox_id for o in outcomes if not isinstance(o.result, Retryable)
                or o.dead]
        abroad = [o.claim.message for o in outcomes if isinstance(o.result, Accepted)
                  and not o.claim.message.phone.startswith(billing.DOMESTIC_PREFIX)]
        changes = [Transition(subject_of(o.claim.message), o.claim.message.status.value,
                              (MessageStatus.FAILED if isinstance(o.result, Rejected)
                               else MessageStatus.UNKNOWN).value,
                              getattr(o.result, "code", ""), now)
                   for o in outcomes if isinstance(o.result, Rejected | Ambiguous)
                   and not o.claim.message.status.final]

        def transaction(conn: Connection) -> None:
            if accepted:
                conn.exec_driver_sql(sql.submitted, accepted)
            if abroad:
                _bill_at_submit(conn, sql, abroad, now)
            if rejected:
                conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                             .values(dispatch_state=DispatchState.DONE,
                                     status=MessageStatus.FAILED, channel=bindparam("b_channel"),
                                     error_code=bindparam("b_code"),
                                     reason=bindparam("b_reason"), submitted_at=now,
                                     receipt_at=now, route=bindparam("b_route")), rejected)
            if unknown:
                conn.execute(update(messages).where(messages.c.id == bindparam("b_id"))
                             .values(dispatch_state=DispatchState.DONE,
                                     status=MessageStatus.UNKNOWN, channel=bindparam("b_channel"),
                                     reason=bindparam("b_reason"), submitted_at=now,
                                     route=bindparam("b_route")), unknown)
            if retry:
                conn.execute(update(outbox).where(outbox.c.id == bindparam("b_outbox"))
                             .values(attempts=bindparam("b_attempts"),
                                     available_at=bindparam("b_at"),
                                     rank_at=bindparam("b_rank"), claimed_until=None,
                                     last_error=bindparam("b_error")), retry)
            requeue = [r["b_id"] for r in retry] + [o.claim.message.id for o in dead]
            if requeue:
                conn.execute(update(messages).where(messages.c.id.in_(requeue))
                             .values(dispatch_state=DispatchState.QUEUED))
            if dead:
                conn.execute(insert(dead_letters), [{
                    "stage": DISPATCH, "created_at": now,
                    "payload": {"topic": DISPATCH, "message_id": o.claim.message.id,
                                "attempts": o.claim.attempts + 1},
                    "error": getattr(o.result, "reason", "")} for o in dead])
            if done:
                conn.exec_driver_sql(sql.finished, [(outbox_id,) for outbox_id in done])
            reports.record(conn, sql, changes, now)

        await self._transaction(transaction)

    # Receipts and uplinks

    async def store_receipts(self, updates: Sequence[ReceiptUpdate], now: datetime) -> int:
        """Store receipts and apply them to their messages; returns how many matched.

        A receipt whose message is not known yet (it can overtake the submit's own commit)
        is stored unmatched and applied later by `match_late_receipts`.
        """
        sql = _hot_sql(self.is_postgres)
        received = sql.ts(now)
        def transaction(conn: Connection) -> int:
            targets = _find_targets(conn, [u.receipt for u in updates])
            rows: list[tuple[Any, ...]] = []
            matched: list[tuple[MessageStatus, str, Any, Target, datetime]] = []
            times: dict[datetime | None, Any] = {None: None}
            for u in updates:
                r = u.receipt
                target = targets.get((r.channel, r.remote_id))
                done_at = times.get(r.done_at)
                if done_at is None:  # a channel's batch of receipts shares its instant
                    done_at = times[r.done_at] = sql.ts(r.done_at)
                submitted_at = times.get(r.submitted_at)
                if submitted_at is None and r.submitted_at is not None:  # and a few minutes
                    submitted_at = times[r.submitted_at] = sql.ts(r.submitted_at)
                rows.append((target and target.id, r.channel, r.remote_id, r.code,
                             u.status.value, u.error_code, r.raw, done_at, received, r.phone,
                             submitted_at))
                if target is not None:
                    matched.append((u.status, u.error_code, done_at, target, r.done_at))
            conn.exec_driver_sql(sql.insert_receipt, rows)
            _settle(conn, sql, matched, now)
            return len(matched)

        return await self._transaction(transaction)

    async def match_late_receipts(self, limit: int = 1000, now: datetime | None = None) -> int:
        """Apply receipts stored before their message's submit was (billing at `now`)."""
        return await self._transaction(_match_late, limit, now or datetime.now(UTC))

    async def store_uplinks(self, items: Sequence[Uplink], now: datetime | None = None,
                            opt_outs: Sequence[bool] = ()) -> None:
        """Store uplinks, each attributed to an account and signature, with their SmsUp push
        items; `opt_outs[i]` says uplink i asks to stop promotions (`R`): its number goes on
        that signature's opt-out list in the same transaction (docs/channels.md)."""
        sql = _hot_sql(self.is_postgres)

        def transaction(conn: Connection) -> None:
            owners = reports.uplink_owners(conn, sql, items)
            stops: list[OptOut] = []
            for n, u in enumerate(items):
                owner = reports.store_uplink(conn, sql, owners.get(n), u,
                                             now or u.received_at)
                if owner is not None and n < len(opt_outs) and opt_outs[n]:
                    stops.append(OptOut(AccountId(owner.account_id), owner.sign_name,
                                        PhoneNumber(owner.phone),
                                        f"uplink {u.content.strip()!r} ({owner.how})",
                                        u.received_at))
            if stops:
                _add_opt_outs(conn, stops)

        await self._transaction(transaction)

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
            if payload["topic"] == "push":  # a push item: back on the push outbox, afresh
                item = payload["item"]
                await conn.execute(insert(push_items).values(
                    account_id=item["account_id"], topic=item["topic"],
                    message_id=item["message_id"], payload=item["payload"], attempts=0,
                    created_at=now, available_at=now, last_error=""))
            else:
                await conn.execute(insert(outbox).values(
                    topic=payload["topic"], message_id=payload["message_id"], attempts=0,
                    available_at=now, rank_at=now, last_error=""))
            await conn.execute(update(dead_letters).where(dead_letters.c.id == letter_id)
                               .values(replayed_at=now))
        return _dead_letter(row)
