"""The SQL store: one implementation of the `Store` port for SQLite and PostgreSQL.

Catalogue (accounts, keys, signatures, templates) lives in `catalogue.py`, the message path
(acceptance, outbox, submits, receipts, dead letters) in `messages.py`; this module wires the
engine and the shared helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from yizhan.storage import migrate
from yizhan.storage.catalogue import CatalogueMixin
from yizhan.storage.engine import WRITE_OPTION, create_engine
from yizhan.storage.messages import MessagesMixin
from yizhan.storage.nonces import NoncesMixin
from yizhan.storage.stats import StatsMixin


class SqlStore(CatalogueMixin, MessagesMixin, NoncesMixin, StatsMixin):
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self.is_postgres = engine.dialect.name == "postgresql"
        # SQLite has one writer at a time. Writers of this process queue here, in order,
        # instead of in SQLite's busy handler, which sleeps in growing steps (up to 100 ms)
        # and so turns a short wait for the lock into a long one. Other processes (the CLI)
        # still meet the busy handler.
        self._write_lock: asyncio.Lock | None = None if self.is_postgres else asyncio.Lock()

    @classmethod
    def open(cls, url: str, *, schema: str | None = None) -> SqlStore:
        return cls(create_engine(url, schema=schema))

    async def migrate(self) -> None:
        await migrate.upgrade(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self._writer.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn


__all__ = ["Connection", "SqlStore"]
