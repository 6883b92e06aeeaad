"""Migrated stores for the tests, made by migrating once per test run (and per pytest-xdist
worker) and per database, then copied or reset for each test (`tests/conftest.py`,
`opened_store`; docs/contributing.md, "The tests' stores").

- SQLite: the first store of a run migrates a template file to head (Alembic, the real
  migrations); every store is a copy of that file.
- PostgreSQL: a pool of schemas, each migrated to head once. A test takes a schema from the
  pool; when it is done the schema is emptied (every table's rows deleted, the rows the
  migrations wrote put back, the sequences set back) and returned to the pool. A schema that
  cannot be emptied is left out of the pool. The schemas are dropped when the run ends.

Migrating to head once per run picks up new migrations by itself. Tests of the migrations
themselves (upgrades from older revisions) open their own store and run them for real.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url

from yizhan.storage import migrate
from yizhan.storage.engine import create_engine


def dsn(url: str) -> str:
    """The asyncpg address of a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class SqliteTemplate:
    """A SQLite file migrated to head, made on first use; stores are copies of it."""

    def __init__(self) -> None:
        self._folder: Path | None = None

    async def copy_to(self, target: Path) -> None:
        if self._folder is None:
            folder = Path(tempfile.mkdtemp(prefix="yizhan-test-template-"))
            engine = create_engine(f"sqlite+aiosqlite:///{folder / 'store.db'}")
            try:
                await migrate.upgrade(engine)
            finally:
                await engine.dispose()  # the last connection closed: the WAL is merged
            self._folder = folder
        shutil.copyfile(self._folder / "store.db", target)

    def remove(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


@dataclass(frozen=True)
class _Reset:
    """How to bring a migrated schema back to what the migrations left."""

    empty: str  # one script: delete every table's rows (children first), set sequences back
    seeds: tuple[tuple[str, list[tuple[Any, ...]]], ...]  # (INSERT statement, rows)


class PostgresSchemas:
    """A pool of PostgreSQL schemas migrated to head, emptied between tests."""

    def __init__(self, url: str, lock_timeout: str = "5s") -> None:
        self._lock_timeout = lock_timeout
        self._dsn = dsn(url)
        self._url = url
        self._free: list[str] = []
        self._all: set[str] = set()
        self._reset: _Reset | None = None

    async def take(self) -> str:
        """A schema migrated to head, with nothing but what the migrations wrote."""
        if self._free:
            return self._free.pop()
        schema = f"t_{uuid.uuid4().hex[:16]}"
        connection = await asyncpg.connect(self._dsn)
        try:
            await connection.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await connection.close()
        self._all.add(schema)
        engine = create_engine(self._url, schema=schema, pool_size=1)
        try:
            await migrate.upgrade(engine)
            if self._reset is None:
                async with engine.connect() as conn:
                    self._reset = await _reset_of(conn, schema)
        finally:
            await engine.dispose()
        return schema

    async def give_back(self, schema: str) -> None:
        """Empty `schema` and return it to the pool. One that cannot be emptied (a connection
        the test left open holds a lock, say) is left out of the pool, to be dropped with the
        others when the run ends."""
        assert self._reset is not None
        connection = await asyncpg.connect(self._dsn, server_settings={
            "search_path": schema, "lock_timeout": self._lock_timeout})
        try:
            async with connection.transaction():
                await connection.execute(self._reset.empty)
                for insert, rows in self._reset.seeds:
                    await connection.executemany(insert, rows)
        except asyncpg.PostgresError:
            return
        finally:
            await connection.close()
        self._free.append(schema)

    async def drop_all(self) -> None:
        """Drop every schema of the pool (at the end of the run)."""
        if not self._all:
            return
        connection = await asyncpg.connect(self._dsn, server_settings={
            "lock_timeout": self._lock_timeout})
        try:
            for schema in sorted(self._all):
                try:
                    await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                except asyncpg.PostgresError:
                    pass  # still locked: left behind, as a killed run leaves its schemas
        finally:
            await connection.close()
        self._all.clear()
        self._free.clear()


async def _reset_of(conn: Any, schema: str) -> _Reset:
    """Read, from a schema just migrated, which rows and sequence values the migrations
    left and in which order tables can be emptied (children before their parents)."""

    def tables(sync: Connection) -> list[str]:
        ordered = inspect(sync).get_sorted_table_and_fkc_names(schema)
        return [name for name, _ in reversed(ordered) if name is not None]

    names = await conn.run_sync(tables)
    seeds = []
    for name in names:
        result = await conn.execute(text(f'SELECT * FROM "{schema}"."{name}"'))
        rows = [tuple(row) for row in result]
        if rows:
            columns = ", ".join(f'"{c}"' for c in result.keys())
            marks = ", ".join(f"${n + 1}" for n in range(len(result.keys())))
            seeds.append((f'INSERT INTO "{name}" ({columns}) VALUES ({marks})', rows))
    sequences = (await conn.execute(text(
        "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = :schema"),
        {"schema": schema})).all()
    script = [f'DELETE FROM "{name}"' for name in names]
    script += [f"ALTER SEQUENCE \"{name}\" RESTART" if last is None else
               f"SELECT setval('\"{name}\"', {int(last)})"
               for name, last in sequences]
    return _Reset(";\n".join(script), tuple(seeds))
