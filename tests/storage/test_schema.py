"""The migrations build exactly the tables of `storage/tables.py` (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from yizhan.domain.model import (
    BizId,
    Message,
    MessageId,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.storage.messages import targets_query
from yizhan.storage.records import SWEEP
from yizhan.storage.sql import dollar_placeholders, hot_sql
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import metadata


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_and_tables_agree(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []


def _plan(conn: Connection, statement: str, params: tuple[Any, ...]) -> str:
    """The database's plan for `statement` (`?` placeholders), as one text."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # an empty table: force it
        rows = conn.exec_driver_sql("EXPLAIN " + dollar_placeholders(statement), params)
    else:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    return "\n".join(str(row[-1]) for row in rows)


async def test_receipts_and_the_sweeper_use_the_partial_indexes(store: SqlStore) -> None:
    """The indexes of submitted messages leave unsubmitted ones out (nothing to write when a
    message is accepted), and the queries that need them still use them."""
    sql = hot_sql(store.is_postgres)
    statement, params = targets_query(sql, "cmcc", ["r1", "r2"])
    if store.is_postgres:
        statement = statement.replace("$1", "?").replace("$2", "?")
    cutoff = sql.ts(datetime(2026, 1, 1, tzinfo=UTC))
    async with store.engine.begin() as conn:
        assert "ix_messages_channel_remote" in await conn.run_sync(_plan, statement, params)
        assert "ix_messages_waiting_submitted" in await conn.run_sync(
            _plan, SWEEP, (cutoff, 10))


async def test_the_records_of_a_period_are_a_range_of_an_index_read_in_order(
        store: SqlStore) -> None:
    """The console's records (an account's period, newest first): one range of
    `ix_messages_account_created`, and on SQLite in the page's order, no sort of the period
    (PostgreSQL's plan over 1,000,000 records, an incremental sort of each instant's
    messages by id: docs/benchmarks.md; over an empty table it sorts the nothing it finds)."""
    sql = hot_sql(store.is_postgres)
    statement = ("SELECT id FROM messages WHERE account_id = ? AND created_at >= ? "
                 "AND created_at < ? ORDER BY created_at DESC, id DESC LIMIT 50 OFFSET 950")
    period = (1, sql.ts(datetime(2026, 1, 1, tzinfo=UTC)), sql.ts(datetime(2026, 1, 2,
                                                                           tzinfo=UTC)))
    async with store.engine.begin() as conn:
        plan = await conn.run_sync(_plan, statement, period)
    assert "ix_messages_account_created" in plan
    assert "TEMP B-TREE" not in plan, plan


async def test_accepted_messages_enter_the_submitted_indexes_only_once_submitted(
        store: SqlStore) -> None:
    if store.is_postgres:
        return  # the index entries are counted through SQLite's INDEXED BY
    account = await store.create_account("acme", now=datetime.now(UTC))
    at = datetime.now(UTC)
    message = Message.queued(id=MessageId(1), biz_id=BizId("1^0"), account_id=account.id,
                             phone=PhoneNumber("+8613900000001"), sign_name="s",
                             template_code=TemplateCode("SMS_1"),
                             template_type=TemplateType.NOTIFICATION, content="hi", segments=1,
                             out_id="", created_at=at)
    await store.accept([message])
    counts = (
        "SELECT count(*) FROM messages INDEXED BY ix_messages_channel_remote "
        "WHERE remote_id <> '' AND channel = 'cmcc'",
        "SELECT count(*) FROM messages INDEXED BY ix_messages_waiting_submitted "
        "WHERE status = 'waiting' AND submitted_at < '9999-12-31 00:00:00.000000'",
    )
    async with store.engine.connect() as conn:
        assert [(await conn.exec_driver_sql(q)).scalar() for q in counts] == [0, 0]
        await conn.exec_driver_sql(
            "UPDATE messages SET channel = 'cmcc', remote_id = 'r1', submitted_at = "
            "'2026-11-26 01:00:00.000000' WHERE id = 1")
        assert [(await conn.exec_driver_sql(q)).scalar() for q in counts] == [1, 1]
