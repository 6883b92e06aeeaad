"""The lease of the one process that keeps the embedded frequency counters (issue 15 point
4): a second accepting process with rate_backend = "sql" on the same store is refused,
whatever its data folder; an expired lease, or one whose holder died on this machine, is
taken over; a clean stop releases it; with rate_backend = "redis" several processes serve."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import (
    POSTGRES_URL,
    TEST_MASTER,
    TEST_MASTER_ENV,
    ManualClock,
    fast_settings,
)
from tests.contract.conftest import REDIS_URL
from tests.test_restart import ServeProcess
from yizhan import app as app_module
from yizhan.app import Yizhan, build, serve
from yizhan.runtime.process_lease import (
    SHARED,
    LeaseRefused,
    ProcessLease,
    SharedCountersRefused,
)
from yizhan.storage.store import SqlStore


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_second_process_is_refused_naming_the_holder(store: SqlStore,
                                                             clock: ManualClock) -> None:
    first = ProcessLease(store, clock, "http://127.0.0.1:8080")
    await first.acquire()
    second = ProcessLease(store, clock, "http://127.0.0.1:9090")
    with pytest.raises(LeaseRefused) as refused:
        await second.acquire()
    message = str(refused.value)
    assert "\n" not in message
    assert f"pid {os.getpid()} on {first.me.host}, http://127.0.0.1:8080" in message
    assert 'rate_backend = "redis"' in message and "2026-11-25 04:00:30 UTC" in message
    assert refused.value.holder.holder == first.me.holder
    assert not second.held and await first.renew()


async def test_an_expired_lease_is_taken_over(store: SqlStore, clock: ManualClock) -> None:
    first = ProcessLease(store, clock)
    await first.acquire()
    clock.advance(seconds=20)
    assert await first.renew()  # good until 04:00:50
    second = ProcessLease(store, clock)
    clock.advance(seconds=29)
    with pytest.raises(LeaseRefused):
        await second.acquire()
    clock.advance(seconds=1)
    await second.acquire()
    assert second.held
    assert not await first.renew()  # it lost the lease: it must stop accepting
    await first.release()  # releases nothing of the new holder's
    with pytest.raises(LeaseRefused):
        await ProcessLease(store, clock).acquire()


async def test_a_holder_dead_on_this_machine_is_taken_over_at_once(
        store: SqlStore, clock: ManualClock) -> None:
    crashed = ProcessLease(store, clock)
    crashed.me = replace(crashed.me, pid=_dead_pid())
    await crashed.acquire()
    await ProcessLease(store, clock).acquire()
    elsewhere = ProcessLease(store, clock)  # the same dead pid on another machine: alive?
    elsewhere.me = replace(elsewhere.me, pid=_dead_pid(), node="other-host")
    clock.advance(seconds=31)
    await elsewhere.acquire()
    with pytest.raises(LeaseRefused):  # its pid cannot be checked from here: wait for expiry
        await ProcessLease(store, clock).acquire()


async def test_release_frees_the_lease(store: SqlStore, clock: ManualClock) -> None:
    first = ProcessLease(store, clock)
    await first.acquire()
    await first.release()
    await ProcessLease(store, clock).acquire()


async def _serving(yz: Yizhan, stop: asyncio.Event) -> asyncio.Task[None]:
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    task = asyncio.create_task(serve(yz, None, on_ready, stop))
    done, _ = await asyncio.wait({task, asyncio.create_task(ready.wait())}, timeout=10,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what stopped it
    assert ready.is_set()
    return task


async def _lease_rows(store: SqlStore) -> list[str]:
    """The holders of the counters' leases: `rate_counters`, or one `accepting ...` row per
    process sharing them in Redis (the send-task engine's lease is another row)."""
    async with store.engine.connect() as conn:
        return [r[0] for r in await conn.execute(text(
            "SELECT holder FROM process_leases WHERE name = 'rate_counters' "
            "OR name LIKE 'accepting %'"))]


async def test_serve_holds_the_lease_and_releases_it_on_a_clean_stop(
        store: SqlStore, database: str, tmp_path: Path) -> None:
    first = await build(fast_settings(tmp_path / "a"), store=store)
    stop = asyncio.Event()
    serving = await _serving(first, stop)
    try:
        assert first.lease is not None and await _lease_rows(store) == [first.lease.me.holder]
        second = await build(fast_settings(tmp_path / "b"), store=await _same(store, database,
                                                                              tmp_path))
        with pytest.raises(LeaseRefused):
            await serve(second, None, stop=asyncio.Event())
    finally:
        stop.set()
        await asyncio.wait_for(serving, 15)
    assert await _lease_rows(await _same(store, database, tmp_path, close=True)) == []


async def test_a_server_whose_lease_was_taken_over_stops(
        store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It could not renew in time (a store out of reach, a paused machine) and another
    process took the lease over: it stops rather than count beside the new holder."""
    monkeypatch.setattr(app_module, "RENEW_SECONDS", 0.01)
    yz = await build(fast_settings(tmp_path), store=store)
    serving = await _serving(yz, asyncio.Event())
    async with store.engine.begin() as conn:  # another process took the expired lease
        await conn.execute(text("UPDATE process_leases SET holder = 'another'"))
    await asyncio.wait_for(serving, 15)  # stopped by itself
    assert yz.lease is not None and not yz.lease.held


async def test_with_redis_counters_several_processes_serve(
        store: SqlStore, database: str, tmp_path: Path) -> None:
    redis_prefix = f"yizhan-test:{uuid.uuid4().hex}:"  # nothing is sent: no key is written
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = []
    try:
        for n, stop in enumerate(stops):
            settings = fast_settings(tmp_path / str(n), rate_backend="redis",
                                     redis_url=REDIS_URL, redis_prefix=redis_prefix)
            yz = await build(settings, store=store if n == 0 else await _same(
                store, database, tmp_path))
            assert yz.lease is not None and yz.lease.name.startswith(SHARED)
            tasks.append(await _serving(yz, stop))
        assert len(await _lease_rows(store)) == 2  # a row each, among those sharing Redis
        # One that would keep the counters in its memory is refused beside them.
        alone = await build(fast_settings(tmp_path / "sql"), store=await _same(
            store, database, tmp_path))
        with pytest.raises(SharedCountersRefused) as refused:
            await serve(alone, None, stop=asyncio.Event())
        assert 'set rate_backend = "redis" and the same redis_url on it too' \
            in str(refused.value)
        assert "accepts messages on this store with the frequency counters in Redis" \
            in str(refused.value)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*(asyncio.wait_for(t, 15) for t in tasks))
    assert await _lease_rows(store) == []  # every row given back at the clean stops


async def test_a_process_sharing_the_counters_in_redis_is_refused_beside_one_keeping_them(
        store: SqlStore, clock: ManualClock) -> None:
    keeper = ProcessLease(store, clock, "http://127.0.0.1:8080")  # rate_backend = "sql"
    await keeper.acquire()
    sharing = ProcessLease(store, clock, "http://127.0.0.1:9090", name=SHARED + "b")
    with pytest.raises(LeaseRefused) as refused:
        await sharing.acquire()
    assert "http://127.0.0.1:8080" in str(refused.value)
    assert await _lease_rows(store) == [keeper.me.holder]
    await keeper.release()
    await sharing.acquire()  # once it stopped
    with pytest.raises(SharedCountersRefused):
        await ProcessLease(store, clock).acquire()
    crashed = ProcessLease(store, clock, name=SHARED + "c")  # killed on this machine
    await sharing.release()
    crashed.me = replace(crashed.me, pid=_dead_pid())
    await crashed.acquire()
    after = ProcessLease(store, clock)
    await after.acquire()  # a dead sharer keeps no one out
    await after.release()
    await ProcessLease(store, clock, name=SHARED + "d").acquire()  # removes the dead one's row
    assert [name for name, _ in await store.lease_holders("")] == [SHARED + "d"]


async def _same(store: SqlStore, database: str, tmp_path: Path,
                close: bool = False) -> SqlStore:
    """Another store object on the database of `store` (what another process opens)."""
    if database == "sqlite":
        other = SqlStore.open(str(store.engine.url), master=TEST_MASTER)
    else:
        schema = await _schema_of(store)
        other = SqlStore.open(POSTGRES_URL, schema=schema, master=TEST_MASTER)
    await other.migrate()
    if close:
        await other.close()
    return other


async def _schema_of(store: SqlStore) -> str:
    async with store.engine.connect() as conn:
        return str((await conn.execute(text("SELECT current_schema()"))).scalar_one())


@pytest.fixture
def shared_database(database: str, tmp_path: Path) -> Iterator[str]:
    """A database URL two `yizhan serve` processes can share: a SQLite file outside either
    data folder, or a PostgreSQL database of its own."""
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        return
    name = f"t_lease_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_a_second_serve_on_the_same_store_is_refused_as_the_user_sees_it(
        shared_database: str, tmp_path: Path) -> None:
    """Two `yizhan serve` with their own data folders on one store: the second ends at once
    with one line naming the first and what to do."""
    env = {**os.environ, **TEST_MASTER_ENV, "YIZHAN_DATABASE_URL": shared_database,
           "YIZHAN_LOG_LEVEL": "WARNING"}
    with ServeProcess({**env, "YIZHAN_DATA_DIR": str(tmp_path / "a")}) as first:
        second = subprocess.run(
            [sys.executable, "-m", "yizhan", "serve", "--port", "0"],
            env={**env, "YIZHAN_DATA_DIR": str(tmp_path / "b")}, capture_output=True,
            text=True, timeout=60)
        assert second.returncode == 1, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith("error: another yizhan serve (pid "
                                   f"{first.process.pid} on ")
        assert first.url in lines[0] and 'rate_backend = "redis"' in lines[0]
        # `yizhan send` beside no server of its own folder would accept by itself: refused
        # too, as it would count apart from the server's counters.
        send = subprocess.run(
            [sys.executable, "-m", "yizhan", "send", "13800138000", "--account", "demo",
             "--sign", "驿站", "--template", "SMS_0", "--param", "code=1234"],
            env={**env, "YIZHAN_DATA_DIR": str(tmp_path / "b")}, capture_output=True,
            text=True, timeout=60)
        assert send.returncode == 1, send.stdout + send.stderr
        assert f"another yizhan serve (pid {first.process.pid} on " in send.stderr
        assert first.process.poll() is None  # the first serves on
