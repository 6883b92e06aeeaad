"""The migrations build exactly the tables of `storage/tables.py` (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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
from yizhan.domain.ports import Accepted, SubmitOutcome
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
        assert "ix_messages_remote_channel" in await conn.run_sync(_plan, statement, params)
        assert "ix_messages_waiting_submitted" in await conn.run_sync(
            _plan, SWEEP, (cutoff, 10))


async def test_the_claim_and_the_receipt_lookup_take_their_own_way_in(store: SqlStore) -> None:
    """On tables without statistics (a PostgreSQL that never analyzed them), the claim walks
    the outbox in its dispatch order (not by a topic, reading every waiting item), a
    receipt's lookup
    descends the index by the carrier's message id (not by the channel alone, reading every
    submitted message of the channel) (docs/architecture.md "PostgreSQL under churn")."""
    sql = hot_sql(store.is_postgres)
    at = sql.ts(datetime(2026, 1, 1, tzinfo=UTC))
    lookup, params = targets_query(sql, "cmcc", ["r1", "r2"])
    claim = sql.due
    if store.is_postgres:  # `_plan` takes `?` placeholders
        lookup = lookup.replace("$1", "?").replace("$2", "?")
        claim = re.sub(r"\$\d", "?", claim)
    async with store.engine.begin() as conn:
        plan = await conn.run_sync(_plan, claim, (at, at, 256))
        # (On an empty table PostgreSQL may still sort the few rows it expects.)
        assert "Index Scan using ix_outbox_rank on outbox" in plan if store.is_postgres \
            else "SCAN o USING INDEX ix_outbox_rank" in plan and "TEMP B-TREE" not in plan, plan
        plan = await conn.run_sync(_plan, lookup, params)
        assert "ix_messages_remote_channel" in plan
        if store.is_postgres:
            assert re.search(r"Index Cond: .*remote_id", plan), plan
        else:
            assert "remote_id=?" in plan, plan


async def test_the_outbox_is_vacuumed_as_it_turns_over(store: SqlStore) -> None:
    """On PostgreSQL the store vacuums and analyzes the outbox after every so many items it
    finished, whether autovacuum runs or not: the deleted items leave the claim's index."""
    store.outbox_vacuum_rows = 5
    before = await _outbox_maintenance(store)
    now = datetime.now(UTC)
    account = await store.create_account("acme", now=now)
    await store.accept([Message.queued(
        id=MessageId(n), biz_id=BizId(f"1^{n}"), account_id=account.id,
        phone=PhoneNumber(f"+861390000000{n}"), sign_name="s",
        template_code=TemplateCode("SMS_1"), template_type=TemplateType.NOTIFICATION,
        content="hi", segments=1, out_id="", created_at=now) for n in range(1, 7)])
    claims, _ = await store.claim_dispatch(now, 10, timedelta(minutes=5))
    await store.finish_submits([SubmitOutcome(c, "cmcc", Accepted(f"r{c.message.id}"))
                                for c in claims], now)
    await store.outbox_vacuumed()
    assert await store.pending_dispatch() == 0
    if not store.is_postgres:
        return  # SQLite has no vacuum to run: a deleted row's space is free at once
    # (Which dead rows it could remove depends on the oldest transaction open on the server,
    # here any test's.)
    vacuums, analyzes = await _outbox_maintenance(store)
    assert (vacuums - before[0], analyzes - before[1]) == (1, 1)


async def _outbox_maintenance(store: SqlStore) -> tuple[int, int]:
    """The outbox's vacuums and analyzes so far (PostgreSQL; the tests' schemas are reused,
    so the counts start where the previous test left them)."""
    if not store.is_postgres:
        return 0, 0
    async with store.engine.connect() as conn:
        row = (await conn.exec_driver_sql(
            "SELECT vacuum_count, analyze_count FROM pg_stat_user_tables "
            "WHERE relid = 'outbox'::regclass")).one()
    return int(row[0]), int(row[1])


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
        "SELECT count(*) FROM messages INDEXED BY ix_messages_remote_channel "
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
