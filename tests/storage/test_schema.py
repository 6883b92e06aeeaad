"""The migrations build exactly the tables of `storage/tables.py` (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from yizhan.storage.store import SqlStore
from yizhan.storage.tables import metadata


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_and_tables_agree(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
