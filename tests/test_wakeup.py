"""Wake-ups between processes (issue 20 point 1; backends/wakeup.py): a message accepted by
an `--role api` process is claimed by a `--role dispatch` process at once, not at its poll,
on SQLite (Unix datagram sockets beside the database file) and on PostgreSQL (LISTEN/NOTIFY),
and a dispatcher whose LISTEN connection drops listens again."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_MASTER_ENV
from tests.test_process_lease import shared_database  # noqa: F401 (a fixture)
from tests.test_restart import ServeProcess, _poll
from yizhan.backends.wakeup import CrossBus, PostgresLink, SocketLink
from yizhan.storage.store import SqlStore

POLL = "60"
"""The dispatcher's poll in these tests: a message delivered within `BOUND` was woken
(its first round, at its start, is over before the test sends)."""
BOUND = 10.0


@pytest.fixture
def dispatcher(shared_database: str,  # noqa: F811
               tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, object]]]:
    """A `yizhan serve --role dispatch` on the store, polling every 60 s; yields the
    environment an API process on the same store runs with, and the demo account."""
    env = {**os.environ, **TEST_MASTER_ENV, "YIZHAN_DATA_DIR": str(tmp_path / "data"),
           "YIZHAN_DATABASE_URL": shared_database, "YIZHAN_DISPATCH_POLL_SECONDS": POLL,
           "YIZHAN_SIMULATOR_DELAY_SECONDS": "0.05", "YIZHAN_LOG_LEVEL": "INFO"}
    info = subprocess.run([sys.executable, "-m", "yizhan", "demo", "--json"], env=env,
                          capture_output=True, text=True, check=True).stdout
    process = subprocess.Popen([sys.executable, "-m", "yizhan", "serve", "--role",
                                "dispatch"], env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        assert any("dispatch process running" in line for line, _ in zip(
            process.stdout, range(20), strict=False))
        yield {**env, "YIZHAN_ROLE": "api"}, json.loads(info)
    finally:
        process.send_signal(15)
        assert process.wait(15) == 0


def _send_and_time(client: httpx.Client, info: dict[str, object],
                   phone: str = "13800138000") -> float:
    """Send one verification code to `phone`; the seconds until it is delivered."""
    templates = info["templates"]
    assert isinstance(templates, dict)
    started = time.monotonic()
    sent = client.post("/v1/messages", json={
        "phone_numbers": [phone], "sign_name": info["sign_name"],
        "template_code": templates["verification"], "template_param": {"code": "7"}}).json()
    _poll(lambda: [m for m in client.get("/v1/messages", params={
        "biz_id": sent["biz_id"]}).json()["messages"] if m["status"] == "success"], BOUND * 3)
    return time.monotonic() - started


def test_a_message_accepted_by_an_api_process_is_dispatched_by_another_at_once(
        dispatcher: tuple[dict[str, str], dict[str, object]], database: str) -> None:
    env, info = dispatcher
    # An operator's `yizhan send` without an API process wakes the dispatcher too.
    templates = info["templates"]
    assert isinstance(templates, dict)
    sent = subprocess.run([sys.executable, "-m", "yizhan", "send", "13800138009", "--account",
                           "demo", "--sign", str(info["sign_name"]), "--template",
                           templates["verification"], "--param", "code=1"],
                          env=env, capture_output=True, text=True, check=True).stdout
    committed = time.monotonic()  # when the command returns, its message is committed
    [message_id] = re.findall(r"│ (\d{15,}) │", sent)
    url = env["YIZHAN_DATABASE_URL"]
    assert _poll(lambda: asyncio.run(_status(url, int(message_id))) == "success", BOUND * 3)
    assert time.monotonic() - committed < BOUND
    with ServeProcess(env) as api, httpx.Client(
            base_url=api.url, auth=(str(info["access_key_id"]),
                                    str(info["access_key_secret"]))) as c:
        assert _send_and_time(c, info) < BOUND  # not the 60 s poll
        if database == "sqlite":
            folder = Path(env["YIZHAN_DATABASE_URL"].split("///", 1)[1] + "-wakeup")
            [sock] = folder.iterdir()  # the dispatcher's socket, private to the user
            assert stat.S_ISSOCK(sock.stat().st_mode)
            assert stat.S_IMODE(sock.stat().st_mode) == 0o600
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            return
        # PostgreSQL: the listener's connection is cut; it connects again and listens.
        # (Under load its LISTEN may not show yet in pg_stat_activity: wait until it does.)
        assert _poll(lambda: asyncio.run(_listeners(url)) or None, BOUND)
        old = asyncio.run(_listeners(url, terminate=True))
        assert len(old) == 1
        assert _poll(lambda: (asyncio.run(_listeners(url)) - old) or None, BOUND)
        assert _send_and_time(c, info, "13800138001") < BOUND


async def _status(url: str, message_id: int) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(text("SELECT status FROM messages WHERE id = :id"),
                                           {"id": message_id})).scalar_one())
    finally:
        await engine.dispose()


async def _listeners(url: str, terminate: bool = False) -> set[int]:
    """The backends listening for wake-ups on the database of `url` (terminated)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            pids = set((await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'yizhan wake-ups' AND query LIKE 'LISTEN%'")))
                .scalars())
            for pid in pids if terminate else ():
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await engine.dispose()
    return pids


async def _woken(bus: CrossBus, topic: str, within: float) -> bool:
    started = time.monotonic()
    await bus.wait(topic, within)
    return time.monotonic() - started < within


async def test_a_burst_of_notifies_costs_one_send_and_one_more_for_those_behind(
        tmp_path: Path) -> None:
    sent: list[tuple[str, ...]] = []

    class Counting(SocketLink):
        async def send(self, topics: object) -> None:
            sent.append(tuple(topics))  # type: ignore[call-overload]
            await asyncio.sleep(0.01)

    bus = CrossBus(Counting(tmp_path / "w"), ("dispatch",), sends=True, listens=False)
    await bus.start()
    try:
        for _ in range(100):  # one group commit's requests: one turn of the loop
            bus.notify("dispatch")
        bus.notify("push")  # not a crossing topic
        await asyncio.sleep(0)
        for _ in range(50):  # the next commit's, while the first send is in flight
            bus.notify("dispatch")
        await asyncio.sleep(0.05)
        assert sent == [("dispatch",), ("dispatch",)]
    finally:
        await bus.stop()


async def test_a_listener_on_sqlite_is_woken_by_another_bus_and_survives_its_file(
        tmp_path: Path) -> None:
    folder = tmp_path / ("deep" * 30)  # longer than an AF_UNIX address holds
    listener = CrossBus(SocketLink(folder), ("dispatch",), sends=False, listens=True)
    sender = CrossBus(SocketLink(folder), ("dispatch",), sends=True, listens=False)
    await listener.start()
    await sender.start()
    try:
        await _eventually(lambda: folder.exists() and any(folder.iterdir()))
        waiting = asyncio.ensure_future(_woken(listener, "dispatch", 5))
        await asyncio.sleep(0.01)
        sender.notify("dispatch")
        assert await waiting
    finally:
        await sender.stop()
        await listener.stop()
    assert not any(folder.iterdir())  # the socket file goes with its listener


async def test_postgres_wakeups_cross_connections_and_schemas(store: SqlStore) -> None:
    if not store.is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    listener = CrossBus(PostgresLink(store.engine), ("dispatch",), sends=False, listens=True)
    sender = CrossBus(PostgresLink(store.engine), ("dispatch",), sends=True, listens=False)
    await listener.start()
    await sender.start()
    try:
        for _ in range(100):  # until the listener has connected
            waiting = asyncio.ensure_future(_woken(listener, "dispatch", 0.2))
            await asyncio.sleep(0)
            sender.notify("dispatch")
            if await waiting:
                break
        else:
            raise AssertionError("the listener was never woken")
    finally:
        await sender.stop()
        await listener.stop()
    assert PostgresLink.channel("dispatch", "public") == "yizhan_dispatch"
    assert PostgresLink.channel("dispatch", "t_1") == "yizhan_dispatch_t_1"
    assert len(PostgresLink.channel("dispatch", "s" * 80)) <= 63


async def _eventually(check: object, within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
