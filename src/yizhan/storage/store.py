"""The SQL store: one implementation of the `Store` port for SQLite and PostgreSQL.

Catalogue (accounts, keys, signatures, templates) lives in `catalogue.py`, the message path
(acceptance, outbox, submits, receipts, dead letters) in `messages.py`, money in
`billing.py`, the policy's number lists (test numbers, opt-outs, blacklist) in `lists.py`,
keywords and international registrations in `policy_lists.py`, push items in `push.py`,
retention and exports in `records.py`, the API call log in `calls.py`, the master key and
sealed secrets in `sealed.py`, the console's people in `people.py`;
this module wires the engine and the shared helpers.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from yizhan.storage import migrate
from yizhan.storage.billing import BillingMixin
from yizhan.storage.calls import CallsMixin
from yizhan.storage.catalogue import CatalogueMixin
from yizhan.storage.data_folder import KeySource
from yizhan.storage.documents import DocumentsMixin
from yizhan.storage.engine import WRITE_OPTION, create_engine, sqlite_writer_engine
from yizhan.storage.leases import LeasesMixin
from yizhan.storage.letters import LettersMixin
from yizhan.storage.lists import ListsMixin
from yizhan.storage.messages import MessagesMixin
from yizhan.storage.nonces import NoncesMixin
from yizhan.storage.people import PeopleMixin
from yizhan.storage.policy_lists import PolicyListsMixin
from yizhan.storage.push import PushMixin
from yizhan.storage.qualifications import QualificationsMixin
from yizhan.storage.records import RecordsMixin
from yizhan.storage.registrations import RegistrationsMixin
from yizhan.storage.sealed import SealedMixin
from yizhan.storage.stats import StatsMixin
from yizhan.storage.tasks import TasksMixin
from yizhan.storage.trails import TrailsMixin
from yizhan.storage.unmatched import UnmatchedMixin

R = TypeVar("R")
READ_THREADS = 2


class WriterFile:
    """The hot writers' turn at the SQLite file across processes: an exclusive `flock` on
    `<database>-writer` (mode 0600, beside the file), held from BEGIN IMMEDIATE to COMMIT.

    SQLite's own lock makes a writer that finds it taken sleep in growing steps (1, 2, 5,
    10 ... 100 ms) and try again: with an API process and a dispatch process writing without
    pause, each waited up to tens of milliseconds for a lock freed after one, and the two
    took turns at the file with both half idle (docs/benchmarks.md, "Every core of one
    machine"). A waiter on the flock is woken by the kernel the moment it is released. Used
    only in the store's writer thread; opened there at its first transaction. Processes that
    do not take it (the CLI, another program) still meet SQLite's busy handler, so nothing
    depends on every writer taking it. None: no file (PostgreSQL, in-memory SQLite)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> None:
        if self._path is None:
            return
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class Turn(IntEnum):
    """A writer's place in the queue for SQLite (`WriterTurns`), first to last."""

    URGENT = 0
    """Awaited by a caller or a verification code: acceptance with a caller, request
    nonces, the express worker's claim and outcomes."""
    FEED = 1
    """What keeps delivery going: a bulk round's claim, a send task's chunk."""
    PLAIN = 2
    """The rest: bulk submit outcomes, receipts, pushes, the call log."""


class WriterTurns:
    """Whose turn it is to write to SQLite in this process, by `Turn` and in arrival order
    within one. A delivery backlog keeps the writer busy with dispatch transactions; in
    plain arrival order each send request waited behind several of them (one-number sends
    were accepted at 51/s instead of 241/s), and beside a send task a verification code
    waited behind the task's 500-message commits and every bulk claim while they were
    urgent too (docs/architecture.md "Dispatch order"). Nothing starves: intake has at most
    one commit in flight, and it spaces its commits (`commit_min_interval_ms`), the task
    engine one chunk, and a dispatch worker claims again only after submitting and
    recording its round, so the others get the writer in between."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = tuple(deque() for _ in Turn)

    @asynccontextmanager
    async def turn(self, urgent: bool | Turn = False) -> AsyncIterator[None]:
        """Wait for the writer; `urgent`: True for `Turn.URGENT`, False for `Turn.PLAIN`."""
        if self._busy:
            queue = self._waiting[urgent if isinstance(urgent, Turn)
                                  else Turn.URGENT if urgent else Turn.PLAIN]
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue.append(handed)
            try:
                await handed
            except asyncio.CancelledError:
                if handed.done() and not handed.cancelled():  # the turn came: pass it on
                    self._next()
                elif handed in queue:  # (or `_next` skipped it already)
                    queue.remove(handed)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        for queue in self._waiting:
            while queue:
                handed = queue.popleft()
                if not handed.done():
                    handed.set_result(None)  # still busy: the turn is handed over
                    return
        self._busy = False


class SqlStore(CatalogueMixin, MessagesMixin, NoncesMixin, StatsMixin, BillingMixin, ListsMixin,
               PolicyListsMixin, PushMixin, RecordsMixin, SealedMixin, UnmatchedMixin,
               LeasesMixin, QualificationsMixin, LettersMixin, RegistrationsMixin,
               DocumentsMixin, TasksMixin, TrailsMixin, CallsMixin, PeopleMixin):
    def __init__(self, engine: AsyncEngine, master: KeySource) -> None:
        self.engine = engine
        self._master = master
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self.is_postgres = engine.dialect.name == "postgresql"
        # SQLite has one writer at a time. Writers of this process queue here instead of in
        # SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and so turns a
        # short wait for the lock into a long one; acceptance goes first (`WriterTurns`).
        # Other processes (the CLI) still meet the busy handler.
        self._write_lock: WriterTurns | None = None if self.is_postgres else WriterTurns()
        # The hot write transactions (acceptance, claims, submit outcomes, receipts) on SQLite
        # run whole in one thread of their own, over a synchronous connection: aiosqlite hops
        # to its thread and back for every step (cursor, execute, fetch, close, commit), and
        # on a busy core each hop costs more than the SQL itself.
        sync = None if self.is_postgres else sqlite_writer_engine(engine)
        self._sync_writer = sync.execution_options(**{WRITE_OPTION: True}) if sync else None
        # Between processes on one SQLite file (`serve --workers`, api + dispatch) the hot
        # writers queue on a lock file instead of SQLite's busy handler (`WriterFile`).
        self._writer_file = WriterFile(Path(f"{sync.url.database}-writer")
                                       if sync is not None else None)
        self._writer_thread = (ThreadPoolExecutor(1, thread_name_prefix="yizhan-sqlite-writer")
                               if self._sync_writer is not None else None)
        # The paged reads of the API (a BizId's page, a number's records) likewise run whole
        # in a thread: through aiosqlite each step of a read (begin, execute, fetch, count)
        # waited its turn on an event loop kept busy by delivery (p99 70-135 ms).
        self._sync_reader = (None if self._sync_writer is None
                             else sqlite_writer_engine(engine, READ_THREADS))
        self._reader_threads = (ThreadPoolExecutor(READ_THREADS,
                                                   thread_name_prefix="yizhan-sqlite-reader")
                                if self._sync_reader is not None else None)

    @classmethod
    def open(cls, url: str, *, master: KeySource, schema: str | None = None) -> SqlStore:
        """A store on `url` whose secrets are sealed under the key from `master`."""
        return cls(create_engine(url, schema=schema), master)

    async def migrate(self) -> None:
        """Upgrade the schema, then load the master key and seal plaintext secrets
        (`SealedMixin.unlock`): every start and every operator command does this."""
        await migrate.upgrade(self.engine)
        await self.unlock()

    async def close(self) -> None:
        """Close every connection. Harmless twice; a closed store still works (it reopens
        connections, and its transactions then go through the async engine)."""
        await self.outbox_vacuumed()
        thread, self._writer_thread = self._writer_thread, None
        if thread is not None and self._sync_writer is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._sync_writer.dispose)
            await asyncio.get_running_loop().run_in_executor(thread, self._writer_file.close)
            thread.shutdown()
        readers, self._reader_threads = self._reader_threads, None
        if readers is not None and self._sync_reader is not None:
            readers.shutdown()
            self._sync_reader.dispose()
        await self.engine.dispose()

    async def _transaction(self, work: Callable[..., R], *args: Any) -> R:
        """Run `work(conn, *args)` (synchronous SQLAlchemy) in one write transaction.

        SQLite: in the writer thread, one hop for the whole transaction, in turn with this
        process's other writers (`_write_lock`). PostgreSQL (or in-memory SQLite): on a
        connection of the async engine, through `run_sync`.
        """
        return await self._write_turn(Turn.PLAIN, work, *args)

    async def _feeding_transaction(self, work: Callable[..., R], *args: Any) -> R:
        """`_transaction` for what feeds delivery (a bulk claim, a send task's chunk): on
        SQLite after urgent writers, before outcomes, receipts and pushes."""
        return await self._write_turn(Turn.FEED, work, *args)

    async def _urgent_transaction(self, work: Callable[..., R], *args: Any) -> R:
        """`_transaction` for acceptance and request nonces, which a caller awaits: on
        SQLite it takes the writer before every waiting dispatch, receipt or push
        transaction."""
        return await self._write_turn(Turn.URGENT, work, *args)

    async def _write_turn(self, urgent: Turn, work: Callable[..., R], *args: Any) -> R:
        if self._writer_thread is None or self._write_lock is None:
            async with self._write() as conn:
                return await conn.run_sync(work, *args)
        async with self._write_lock.turn(urgent):
            return await asyncio.get_running_loop().run_in_executor(
                self._writer_thread, self._run_in_writer, work, args)

    def _run_in_writer(self, work: Callable[..., R], args: tuple[Any, ...]) -> R:
        assert self._sync_writer is not None
        window = self.nonce_window
        try:
            with self._writer_file, self._sync_writer.begin() as conn:
                result = work(conn, *args)
        except BaseException:
            if window is not None:  # its nonces were not recorded after all
                window.rolled_back()
            raise
        if window is not None:
            window.committed()
        return result

    async def _read_in_thread(self, work: Callable[..., R], *args: Any) -> R:
        """Run `work(conn, *args)` (synchronous SQLAlchemy) as one read: on SQLite whole in a
        reader thread (one hop), elsewhere through `run_sync`."""
        if self._reader_threads is None or self._sync_reader is None:
            async with self._read() as conn:
                return await conn.run_sync(work, *args)
        return await asyncio.get_running_loop().run_in_executor(
            self._reader_threads, self._run_read, work, args)

    def _run_read(self, work: Callable[..., R], args: tuple[Any, ...]) -> R:
        assert self._sync_reader is not None
        with self._sync_reader.connect() as conn:
            return work(conn, *args)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self._writer.begin() as conn:
                yield conn
            return
        async with self._write_lock.turn(), self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn


__all__ = ["Connection", "SqlStore"]
