"""Engine creation for the two supported databases.

SQLite runs in WAL mode with `synchronous=FULL`: an accepted message survives a power cut,
and group commit (see `runtime/batching.py`) spreads the fsync over many requests. PostgreSQL uses
asyncpg; `search_path` may be set per engine (tests give each test its own schema).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 16) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # A pool as large as the stages' concurrency: opening an aiosqlite connection costs a
        # thread and a file open, so connections are kept rather than churned.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=pool_size,
                                     max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size,
                               connect_args=connect_args)


def sqlite_writer_engine(engine: AsyncEngine, connections: int = 1) -> Engine | None:
    """A synchronous engine on the same SQLite file, for the hot write transactions, which
    run whole in one thread (see `SqlStore._transaction`), or (`connections` > 1) for the
    paged reads, each whole in one thread of a small pool (`SqlStore._read_in_thread`);
    None for an in-memory database, which a second engine would not share."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    # Its own threads use it; `check_same_thread=False` lets a connection move between them
    # and the store close it from another.
    sync = create_sync_engine(url.set(drivername="sqlite"), pool_size=connections,
                              max_overflow=0,
                              connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(sync, "connect", _sqlite_pragmas)
    event.listen(sync, "begin", _sqlite_begin)
    return sync


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Take over transaction control from the sqlite3 module (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                   "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    """Writers take SQLite's write lock at BEGIN, so they queue on busy_timeout instead of
    failing with "database is locked" when a read lock cannot be upgraded."""
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


WRITE_OPTION = "yizhan_write"
"""Execution option marking a connection that will write (see `SqlStore._write`)."""
