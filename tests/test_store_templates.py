"""The tests' stores (`tests/store_templates.py`): migrated once per run, then copied
(SQLite) or emptied and handed out again (PostgreSQL); each test still starts from the
schema the migrations made, with no row of an earlier test."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.conftest import POSTGRES_URL, TEST_MASTER, ManualClock, opened_store
from tests.storage.test_store import make_messages
from tests.store_templates import PostgresSchemas, dsn
from yizhan.storage import migrate
from yizhan.storage.store import SqlStore


def head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


async def where(store: SqlStore) -> str:
    """The SQLite file or the PostgreSQL schema `store` works on."""
    if not store.is_postgres:
        return str(store.engine.url.database)
    async with store.engine.connect() as conn:
        return str(await conn.scalar(text("SELECT current_schema()")))


async def test_each_store_starts_as_the_migrations_left_it(database: str, tmp_path: Path,
                                                         clock: ManualClock) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with opened_store(database, tmp_path / "a") as first:
        made = await make_messages(first, clock, 3)  # an account, messages, their outbox rows
        account = await first.account_by_name("acme")
        used = await where(first)
    async with opened_store(database, tmp_path / "b") as second:
        if database == "postgresql":
            assert await where(second) == used  # the same schema, handed out again
        assert await migrate.current(second.engine) == head()
        assert await second.list_accounts() == []
        assert await second.pending_dispatch() == 0
        assert await second.messages_by_biz(made[0].account_id, made[0].biz_id) == []
        again = await second.create_account("acme", clock.now())
        assert account is not None and again.id == account.id  # sequences start again
        await make_messages(second, clock, 3)  # the master key was loaded: secrets seal


async def test_a_schema_that_cannot_be_emptied_is_not_handed_out_again(
        clock: ManualClock) -> None:
    schemas = PostgresSchemas(POSTGRES_URL, lock_timeout="100ms")
    schema = await schemas.take()
    store = SqlStore.open(POSTGRES_URL, schema=schema, master=TEST_MASTER)
    await store.unlock()
    await make_messages(store, clock, 1)
    await store.close()
    holder = await asyncpg.connect(dsn(POSTGRES_URL),
                                   server_settings={"search_path": schema})
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE accounts IN SHARE MODE")  # a test left it open
            await schemas.give_back(schema)
            other = await schemas.take()
            assert other != schema
        await schemas.give_back(other)
        assert await schemas.take() == other
    finally:
        await holder.close()
        await schemas.drop_all()
    admin = await asyncpg.connect(dsn(POSTGRES_URL))
    try:
        left = await admin.fetch("SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)",
                                 [schema, other])
    finally:
        await admin.close()
    assert left == []
