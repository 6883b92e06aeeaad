"""The store's sealed secrets: unlock at start, seal plaintext rows, rotate the master key
(issue 14 point 2, docs/security.md).

`unlock` runs after the migrations: it loads the master key against the store's check value
(`data_folder.KeySource`), writes the check value on a store that has none, and seals the
plaintext secrets an older version left. `rotate_master_key` re-seals every secret and the
check value under a new key in one transaction, then replaces the key file.

An update in place leaves the old bytes behind in SQLite (free space of the page, old WAL
frames), so the writes that replace a plaintext or an old sealed value run with
`PRAGMA secure_delete` (freed space is zeroed) and are followed by a checkpoint that empties
the WAL. On PostgreSQL the old row versions stay until VACUUM reclaims them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from yizhan.storage.data_folder import CHECK_ROW, CHECK_TEXT, KeySource
from yizhan.storage.sealing import Sealer, is_sealed
from yizhan.storage.tables import access_keys, master_key_check, push_endpoints

# The sealed columns: (table, key column); a value's row label is "<table>:<key>".
SEALED = ((access_keys, "id"), (push_endpoints, "account_id"))


def row_label(table: str, key: object) -> str:
    return f"{table}:{key}"


class SealedMixin:
    engine: AsyncEngine
    is_postgres: bool
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _master: KeySource
    _sealer: Sealer | None = None

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            raise RuntimeError("the store is locked: migrate() loads the master key")
        return self._sealer

    async def unlock(self) -> int:
        """Load the master key (raises `MasterKeyError` when it is missing or wrong) and
        seal plaintext secrets; returns how many were sealed."""
        async with self._write() as conn:
            if self.is_postgres:  # processes starting together: one writes the check value
                await conn.exec_driver_sql("LOCK TABLE master_key_check IN EXCLUSIVE MODE")
            check = await conn.scalar(select(master_key_check.c.value))
            sealer = self._master.load(check)
            if check is None:
                await conn.execute(insert(master_key_check).values(
                    id=1, value=sealer.seal(CHECK_TEXT, CHECK_ROW), created_at=datetime.now(UTC)))
            sealed = await self._scrubbing(conn, lambda sync: _reseal(sync, None, sealer))
        self._sealer = sealer
        if sealed:
            await self._checkpoint()
        return sealed

    async def rotate_master_key(self, key: bytes) -> int:
        """Re-seal every secret under `key` in one transaction, then make it the key (the
        key file is replaced; a key given by setting the operator changes). Returns how
        many secrets were re-sealed."""
        old, new = self.sealer, Sealer(key)
        staged = self._master.replace(key)
        try:
            async with self._write() as conn:
                count = await self._scrubbing(conn, lambda sync: _reseal(sync, old, new))
        except BaseException:
            if staged is not None:
                staged.unlink(missing_ok=True)
            raise
        self._master.commit(staged)
        self._sealer = new
        await self._checkpoint()
        return count

    async def _scrubbing(self, conn: AsyncConnection, work: Callable[[Connection], int]) -> int:
        """Run `work` with SQLite's secure_delete on, so replaced values leave no bytes."""
        if self.is_postgres:
            return await conn.run_sync(work)
        await conn.exec_driver_sql("PRAGMA secure_delete = ON")
        try:
            return await conn.run_sync(work)
        finally:
            await conn.exec_driver_sql("PRAGMA secure_delete = OFF")

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it, so no old page stays."""
        database = self.engine.url.database
        if self.is_postgres or not database or database == ":memory:":
            return

        def checkpoint() -> None:
            conn = sqlite3.connect(database, timeout=30, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                conn.close()

        await asyncio.to_thread(checkpoint)


def _reseal(conn: Connection, old: Sealer | None, new: Sealer) -> int:
    """Seal every secret under `new`: with `old` None only the plaintext ones (unlock),
    else all of them, opened with `old` (rotation, which also re-seals the check value)."""
    count = 0
    for table, key in SEALED:
        column = table.c[key]
        for row_key, stored in conn.execute(select(column, table.c.secret)).all():
            if old is None and is_sealed(stored):
                continue
            label = row_label(table.name, row_key)
            plain = old.open(stored, label) if old is not None else stored
            conn.execute(update(table).where(column == row_key)
                         .values(secret=new.seal(plain, label)))
            count += 1
    if old is not None:
        conn.execute(update(master_key_check).values(value=new.seal(CHECK_TEXT, CHECK_ROW)))
    return count
