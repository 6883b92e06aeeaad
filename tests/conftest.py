"""Shared fixtures: a real store per test (SQLite file and a PostgreSQL schema), a manual
clock, and a running Yizhan (API on a loopback port, stages, simulator) for end-to-end tests.

PostgreSQL is required: set YIZHAN_TEST_DATABASES=sqlite to run without it locally; CI runs
both, and a PostgreSQL that cannot be reached fails the tests loudly.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.store_templates import PostgresSchemas, SqliteTemplate
from yizhan.app import Yizhan, bind, build, serve
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.dispatch.channels.simulator import SimulatorChannel
from yizhan.domain.ports import Clock, SystemClock
from yizhan.settings import Settings
from yizhan.storage.data_folder import KeySource
from yizhan.storage.store import SqlStore

POSTGRES_URL = os.environ.get("YIZHAN_TEST_POSTGRES_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
DATABASES = [d.strip() for d in os.environ.get("YIZHAN_TEST_DATABASES",
                                               "sqlite,postgresql").split(",") if d.strip()]


TEST_MASTER = KeySource(given=bytes(range(32)))
"""The master key of the tests' stores (tests of the key file open their own)."""
TEST_MASTER_ENV = {"YIZHAN_MASTER_KEY": base64.b64encode(bytes(range(32))).decode()}
"""The same key for a command run on a test's store (`--database-url`)."""


class ManualClock:
    """A `Clock` that moves only when the test says so: `advance` moves the wall and the
    monotonic time together and wakes the code sleeping on it (`sleep`) whose time came.
    `sleepers` waits (on an event, with a timeout) until code sleeps on the clock, so that a
    test advances it only once the code waits for it.

    Sleeps of at most `instant` seconds (default 10 ms: the pacing waits of group commit,
    `runtime/batching.py`) end after one turn of the event loop without moving the clock, so
    that tests of other things need not drive them; `ManualClock(instant=0)` drives every
    sleep (the batcher's own tests)."""

    def __init__(self, now: datetime | None = None, *, instant: float = 0.01) -> None:
        self._now = now or datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
        self.instant = instant
        self._monotonic = 1000.0
        self._sleeping: list[tuple[float, asyncio.Future[None]]] = []
        self._asleep: asyncio.Event | None = None

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        if seconds <= self.instant:  # like a zero-second asyncio sleep: one turn
            asyncio.get_running_loop().call_soon(_wake, future)
            return await future
        self._sleeping.append((self._monotonic + seconds, future))
        if self._asleep is not None:
            self._asleep.set()
        try:
            await future
        finally:
            self._sleeping = [s for s in self._sleeping if s[1] is not future]

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self._now += step
        self._monotonic += step.total_seconds()
        for due, future in self._sleeping:
            if due <= self._monotonic:
                _wake(future)

    async def sleepers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Return once at least `count` tasks sleep on this clock (fail after `timeout`)."""
        async def enough() -> None:
            while sum(not f.done() for _, f in self._sleeping) < count:
                self._asleep = asyncio.Event()
                await self._asleep.wait()

        await asyncio.wait_for(enough(), timeout)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests (`@pytest.mark.long`) first: in a parallel run (`./run-tests`, pytest-xdist)
    one that started last would run on alone after the others had finished."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


# --- The tests' stores: migrated once per run and database, copied or emptied per test
# (tests/store_templates.py; docs/contributing.md, "The tests' stores").

SQLITE_TEMPLATE = SqliteTemplate()
POSTGRES_SCHEMAS = PostgresSchemas(POSTGRES_URL)


def pytest_sessionfinish(session: pytest.Session) -> None:
    SQLITE_TEMPLATE.remove()
    asyncio.run(POSTGRES_SCHEMAS.drop_all())


@asynccontextmanager
async def opened_store(database: str, tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A migrated store of its own: a SQLite file (the same again when the test opens one
    on the same folder twice), or a PostgreSQL schema, as the migrations left it (a copy of
    the run's migrated template; `tests/store_templates.py`). What `SqlStore.migrate` does
    beyond the migrations (load the master key) is done here."""
    if database == "sqlite":
        path = tmp_path / "store.db"
        reopened = path.exists()  # a test's second store on its folder: the same store
        if not reopened:
            await SQLITE_TEMPLATE.copy_to(path)
        opened = SqlStore.open(f"sqlite+aiosqlite:///{path}", master=TEST_MASTER)
        await (opened.migrate() if reopened else opened.unlock())
        yield opened
        await opened.close()
        return
    schema = await POSTGRES_SCHEMAS.take()
    opened = SqlStore.open(POSTGRES_URL, schema=schema, master=TEST_MASTER)
    try:
        await opened.unlock()
        yield opened
    finally:
        await opened.close()
        await POSTGRES_SCHEMAS.give_back(schema)


@pytest.fixture
async def store(database: str, tmp_path: Path) -> AsyncIterator[SqlStore]:
    async with opened_store(database, tmp_path) as opened:
        yield opened


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {result!r}")
        await asyncio.sleep(0.02)


def fast_settings(tmp_path: Path, **more: Any) -> Settings:
    return Settings(data_dir=tmp_path, simulator_delay_seconds=0.01, dispatch_poll_seconds=0.05,
                    receipt_match_seconds=0.1, **more)


@dataclass
class Running:
    yz: Yizhan
    demo: Demo
    client: httpx.AsyncClient
    simulator: SimulatorChannel
    base_url: str

    @property
    def verification(self) -> str:
        return next(t.code for t in self.demo.templates.values() if t.type == "verification")


@pytest.fixture
def running_clock() -> Clock:
    """The clock of `running`; a test module overrides this fixture to run at another time."""
    return SystemClock()


@pytest.fixture
async def running(store: SqlStore, tmp_path: Path, running_clock: Clock) -> AsyncIterator[Running]:
    async with start_running(store, tmp_path, running_clock) as started:
        yield started


CLIENT_TLS = httpx.create_ssl_context()
"""One TLS context for every test's HTTP client (each made its own, loading the CA bundle:
25 ms of CPU per `running`)."""


@asynccontextmanager
async def start_running(store: SqlStore, tmp_path: Path, clock: Clock, *,
                        embedded: bool = False, **settings: Any) -> AsyncIterator[Running]:
    """A running Yizhan on `clock` (tests of time rules pass a `ManualClock`). By default
    its one channel is an in-process `SimulatorChannel`; `embedded=True` runs what `yizhan
    serve` runs without a channel file (the SMPP simulator, one SMPP channel per carrier),
    or the channel file given in `settings`."""
    simulator = SimulatorChannel(clock)
    simulator.script.default = type(simulator.script.default)(delay=0.01)
    yz = await build(fast_settings(tmp_path, **settings), store=store, clock=clock,
                     channels=None if embedded else [simulator])
    demo = await ensure_demo(store, clock.now(), yz.plan)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    ready, stop = asyncio.Event(), asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    task = asyncio.create_task(serve(yz, sock, on_ready, stop))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, auth=(demo.key.id, demo.key.secret),
                                     timeout=10, verify=CLIENT_TLS) as client:
            yield Running(yz, demo, client, simulator, base_url)
    finally:
        # Also when the test failed: no stage outlives the test into the next one's store
        # (a PostgreSQL schema is emptied and handed out again; tests/store_templates.py).
        stop.set()
        await asyncio.wait_for(task, 20)
