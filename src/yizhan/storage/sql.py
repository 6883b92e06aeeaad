"""Shared SQL helpers of the store: the hot statements as driver SQL, the dialects' time and
placeholder forms, many-row inserts, and the mapping between `Message` and its row.

Every module of `storage/` that runs driver SQL takes its helpers from here (they were
private names of `messages.py` imported across modules). The column lists of `messages` are
derived from `Message`'s fields (`MESSAGE_COLUMNS`), so a field added to the record is read
and written without another list to keep in step (`tests/storage/test_sql.py` checks that
the fields and the table's columns agree).

A speed trick, measured and fenced here (docs/architecture.md, "Acceptance inserts many rows
per statement"): SQLAlchemy's compiled statements process every parameter of every row in
Python, which at thousands of messages per second costs more than SQLite's own work.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import (
    SET_AFTER_ACCEPTANCE,
    DispatchState,
    Message,
    MessageStatus,
    TemplateType,
)

CHUNK = 500
"""Ids per `IN (...)` list (`chunks`)."""

MESSAGE_COLUMNS: tuple[str, ...] = Message._fields
"""The columns of `messages` in the order of `Message`'s fields: reads take them all."""

VALUES: dict[Any, str] = {e: e.value for kind in (MessageStatus, DispatchState, TemplateType)
                          for e in kind}
"""Plain strings of the enums, bound as parameters (a dict lookup costs less than `.value`)."""
STATUSES = {s.value: s for s in MessageStatus}


def _field_kinds() -> tuple[tuple[tuple[int, dict[str, Any]], ...], tuple[int, ...]]:
    """Which fields of `Message` hold an enum (index, value -> member) and which a time
    (index), from its type hints."""
    hints = typing.get_type_hints(Message)
    enums: list[tuple[int, dict[str, Any]]] = []
    times: list[int] = []
    for index, name in enumerate(MESSAGE_COLUMNS):
        hint = hints[name]
        if isinstance(hint, type) and issubclass(hint, Enum):
            enums.append((index, {e.value: e for e in hint}))
        elif hint is datetime or datetime in typing.get_args(hint):
            times.append(index)
    return tuple(enums), tuple(times)


_ENUMS, _TIMES = _field_kinds()


def read_message(values: Sequence[Any], read_ts: Callable[[Any], datetime]) -> Message:
    """A message from driver values in the order of `MESSAGE_COLUMNS` (a claim row): enums
    by dict lookup, times read with the dialect's `read_ts`. Runs once per dispatched
    message."""
    v = list(values)
    for index, members in _ENUMS:
        v[index] = members[v[index]]
    for index in _TIMES:
        if v[index] is not None:
            v[index] = read_ts(v[index])
    return Message._make(v)


def message_of_row(row: Row[Any]) -> Message:
    """A message from a row of `select(messages)` (times already read by the column type)."""
    mapping = row._mapping
    v = [mapping[name] for name in MESSAGE_COLUMNS]
    for index, members in _ENUMS:
        v[index] = members[v[index]]
    return Message._make(v)


ACCEPT_COLUMNS = tuple(name for name in MESSAGE_COLUMNS if name not in SET_AFTER_ACCEPTANCE)
"""What acceptance writes of a new message: every field but those set later, which keep
their column defaults (fewer parameters: 8 more per row cost the 1000-number SendSms ~1 µs
of the SQLite writer per number)."""
_UNSET_WITHOUT_DEFAULT = ("channel", "remote_id")
"""Columns set later that are NOT NULL without a server default: written as ''."""
_PICK = itemgetter(*(MESSAGE_COLUMNS.index(name) for name in ACCEPT_COLUMNS))
_ACCEPT_ENUMS = tuple(ACCEPT_COLUMNS.index(MESSAGE_COLUMNS[i]) for i, _ in _ENUMS
                      if MESSAGE_COLUMNS[i] in ACCEPT_COLUMNS)
_ACCEPT_TIMES = tuple(ACCEPT_COLUMNS.index(MESSAGE_COLUMNS[i]) for i in _TIMES
                      if MESSAGE_COLUMNS[i] in ACCEPT_COLUMNS)


def message_row(m: Message, ts: Callable[[datetime], Any],
                times: dict[datetime, Any]) -> tuple[Any, ...]:
    """The driver values of a new message in the order of `ACCEPT_COLUMNS`, times made
    with the dialect's `ts`; `times` remembers them (the messages of a commit share few
    instants)."""
    v: list[Any] = list(_PICK(m))
    for index in _ACCEPT_ENUMS:
        v[index] = VALUES[v[index]]
    for index in _ACCEPT_TIMES:
        moment = v[index]
        if moment is not None:
            text = times.get(moment)
            if text is None:
                text = times[moment] = ts(moment)
            v[index] = text
    return tuple(v)


class Batch(NamedTuple):
    """A statement run for many rows at once (`run_batch`): `each`, with the dialect's
    placeholders, once per row (the driver's executemany); on PostgreSQL `whole`, one
    statement taking each column of the rows as an array (`unnest`)."""

    each: str
    whole: str | None = None


def run_batch(conn: Connection, batch: Batch, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run `batch` for `rows` (tuples in the order of its placeholders).

    On PostgreSQL one statement over arrays instead of asyncpg's executemany: that one is
    pipelined, but the server still plans and runs a statement per row, and with 256 or 512
    rows a commit those were most of its time (an update of one message ~140 µs on a busy
    box, measured with bench/pg_churn.py; docs/architecture.md "PostgreSQL under churn")."""
    if not rows:
        return
    if batch.whole is None:
        conn.exec_driver_sql(batch.each, list(rows))
    else:
        conn.exec_driver_sql(batch.whole, tuple(list(column) for column in zip(*rows, strict=True)))


def _unnest(head: str, columns: str, where: str) -> str:
    """`head FROM unnest($1::type[], ...) AS v(name, ...) WHERE where` for `columns`
    ("name type, ...")."""
    pairs = [c.split() for c in columns.split(", ")]
    arrays = ", ".join(f"${n}::{kind}[]" for n, (_, kind) in enumerate(pairs, 1))
    names = ", ".join(name for name, _ in pairs)
    return f"{head} FROM unnest({arrays}) AS v({names}) WHERE {where}"


class HotSql:
    """The statements run for every message (acceptance, claim, submit outcome, receipt) as
    driver SQL with plain tuples, executed with `exec_driver_sql`.

    Here the statements are written once with `?` placeholders and turned into the driver's
    style (`?` for sqlite3, `$1..$n` for asyncpg); times are bound as the driver wants them:
    on SQLite the exact text SQLAlchemy's DATETIME stores (naive UTC,
    `YYYY-MM-DD HH:MM:SS.ffffff`, so comparisons with rows written by compiled statements
    stay right), on PostgreSQL a naive UTC datetime (the columns are WITHOUT TIME ZONE).
    """

    CLAIM_MESSAGE = slice(2, 2 + len(MESSAGE_COLUMNS))
    """Where a row of `due` holds the message's columns (outbox id and attempts first,
    available_at and rank_at last)."""
    CLAIM_STATE = 2 + MESSAGE_COLUMNS.index("dispatch_state")

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.ts: Callable[[datetime], Any] = naive_utc if postgres else sqlite_text
        self.read_ts: Callable[[Any], datetime] = aware if postgres else sqlite_time
        place = dollar_placeholders if postgres else str
        self.place: Callable[[str], str] = place
        self.lock = " FOR UPDATE" if postgres else ""
        # Claims: one statement finds the due items with their messages (LEFT JOIN: an item
        # whose message is gone is finished), in dispatch order (rank time, then id:
        # `ix_outbox_rank`; domain/priority.py); PostgreSQL locks the items, skipping
        # those that another worker holds. Every outbox item is a dispatch item: no topic
        # condition, which a planner without statistics took as the way in (reading and
        # sorting every waiting item; docs/architecture.md "PostgreSQL under churn").
        columns = ", ".join(f"m.{name}" for name in MESSAGE_COLUMNS)
        # The express claim (dispatch/worker.py) takes only items whose rank time has come
        # (rank_at >= available_at, so they are due): a range of the same index, which holds
        # the waiting verification codes and little else.
        due = (f"SELECT o.id, o.attempts, {columns}, o.available_at, o.rank_at "
               "FROM outbox o LEFT JOIN messages m ON m.id = o.message_id "
               "WHERE o.{} <= ? "
               "AND (o.claimed_until IS NULL OR o.claimed_until < ?) "
               "ORDER BY o.rank_at, o.id LIMIT ?"
               + (" FOR UPDATE OF o SKIP LOCKED" if postgres else ""))
        self.due = place(due.format("available_at"))
        self.due_urgent = place(due.format("rank_at"))
        self.interrupted = place(
            "UPDATE messages SET status = ?, dispatch_state = ?, reason = ? WHERE id = ?")
        self.finished = Batch(place("DELETE FROM outbox WHERE id = ?"),
                              "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
                              if postgres else None)
        self.lease = Batch(place("UPDATE outbox SET claimed_until = ? WHERE id = ?"), _unnest(
            "UPDATE outbox o SET claimed_until = v.v_until", "v_until timestamp, v_id bigint",
            "o.id = v.v_id") if postgres else None)
        self.submitting = Batch(place("UPDATE messages SET dispatch_state = ? WHERE id = ?"),
                                _unnest("UPDATE messages m SET dispatch_state = v.v_state",
                                        "v_state text, v_id bigint", "m.id = v.v_id")
                                if postgres else None)
        self.insert_message = (
            f"INSERT INTO messages ({', '.join(ACCEPT_COLUMNS + _UNSET_WITHOUT_DEFAULT)})",
            "(" + ", ".join(["?"] * len(ACCEPT_COLUMNS)
                            + ["''"] * len(_UNSET_WITHOUT_DEFAULT)) + ")")
        self.insert_outbox = (
            "INSERT INTO outbox (topic, message_id, attempts, available_at, last_error, "
            "rank_at)", "(?, ?, 0, ?, '', ?)")
        self.submitted = Batch(place(
            "UPDATE messages SET dispatch_state = ?, channel = ?, remote_id = ?, "
            "submitted_at = ?, route = ? WHERE id = ?"), _unnest(
            "UPDATE messages m SET dispatch_state = v.v_state, channel = v.v_channel, "
            "remote_id = v.v_remote, submitted_at = v.v_at, route = v.v_route",
            "v_state text, v_channel text, v_remote text, v_at timestamp, v_route text, "
            "v_id bigint", "m.id = v.v_id") if postgres else None)
        self.insert_receipt = (
            "INSERT INTO receipts (message_id, channel, remote_id, code, status, error_code, "
            "raw, done_at, received_at, phone, submitted_at)",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        # An unbilled receipt adds 0 and leaves charged_at as it is (an international
        # message was billed at submit).
        self.apply_receipt = Batch(place(
            "UPDATE messages SET status = ?, error_code = ?, receipt_at = ?, "
            "dispatch_state = ?, charge = charge + ?, package_parts = package_parts + ?, "
            "charged_at = COALESCE(?, charged_at) WHERE id = ? AND status = ?"), _unnest(
            "UPDATE messages m SET status = v.v_status, error_code = v.v_code, "
            "receipt_at = v.v_at, dispatch_state = v.v_state, charge = m.charge + v.v_charge, "
            "package_parts = m.package_parts + v.v_parts, "
            "charged_at = COALESCE(v.v_charged, m.charged_at)",
            "v_status text, v_code text, v_at timestamp, v_state text, v_charge bigint, "
            "v_parts integer, v_charged timestamp, v_id bigint, v_settles text",
            "m.id = v.v_id AND m.status = v.v_settles") if postgres else None)
        self.bill = place(
            "UPDATE messages SET charge = ?, package_parts = ?, charged_at = ? WHERE id = ?")


@cache
def hot_sql(postgres: bool) -> HotSql:
    return HotSql(postgres)


def insert_rows(conn: Connection, postgres: bool, head: str, row: str,
                rows: Sequence[tuple[Any, ...]]) -> None:
    """`head VALUES row` for each of `rows` (`?` placeholders).

    Many rows per statement, in chunks of 64, 16, 4 and 1 rows, so a handful of statement
    shapes, each prepared once. SQLite: the sqlite3 module lets go of the GIL while it steps
    a statement and needs it back afterwards; with a row per step, the writer thread waited
    for the event loop's thread at every row (a 1000-row commit took 15 ms alone and up to
    250 ms while the loop was busy on the other core; docs/architecture.md). PostgreSQL:
    asyncpg's executemany is pipelined, but the server runs a statement per row (`run_batch`).
    """
    if not rows:
        return
    if postgres:
        start, total = 0, len(rows)
        for size in _ROW_CHUNKS:
            while total - start >= size:
                conn.exec_driver_sql(_values(head, row, size, postgres=True),
                                     tuple(chain.from_iterable(rows[start:start + size])))
                start += size
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
    return dollar_placeholders(sql) if postgres else sql


def sqlite_text(value: datetime) -> str:
    """A time as SQLite's DATETIME columns store it: naive UTC text."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def naive_utc(value: datetime) -> datetime:
    """A time as PostgreSQL's columns WITHOUT TIME ZONE take it."""
    return value.astimezone(UTC).replace(tzinfo=None)


def dollar_placeholders(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1..$n`."""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def dialect_insert(conn: Connection | AsyncConnection, table: Any) -> Any:
    """INSERT with ON CONFLICT support, in the connection's dialect."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
