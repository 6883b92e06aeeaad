"""N API and M dispatch processes on PostgreSQL + Redis (issue 20 point 4; docs/deployment.md
"N API and M dispatch processes"): real `yizhan serve --role api|dispatch` processes, bound
over SMPP to `yizhan simulator` in its own process, which logs every submit_sm and bind.

- Two API and two dispatch processes under load, one dispatcher killed with SIGKILL and
  replaced: every answered message reaches a final status, none reaches the carrier twice
  (no overlapping claims), the dead one's claims that never left are sent by the others,
  and only messages that may have reached the carrier are unknown.
- A rolling restart of every process, one at a time, under load: the same.
- A channel's bind limit (`max_binds`) held across three dispatchers: the carrier never
  sees more binds than it allows, and a dispatcher waiting for a bind takes the slot of one
  that died.

The processes run on the real clock: every wait is bounded.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import DATABASES, TEST_MASTER_ENV
from tests.contract.conftest import REDIS_URL
from tests.test_process_lease import shared_database  # noqa: F401 (a fixture)
from tests.test_restart import ServeProcess, SimulatorProcess, _lines, _poll, _quiet, _submits

pytestmark = [pytest.mark.long, pytest.mark.timeout(300),
              pytest.mark.parametrize("database", ["postgresql"]),
              pytest.mark.skipif("postgresql" not in DATABASES,
                                 reason="the multi-process tests run on PostgreSQL")]

SYSTEM_ID = "yizhan"


class Dispatcher:
    """`yizhan serve --role dispatch`; its output is kept (the takeover's warning)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yizhan", "serve", "--role", "dispatch"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "dispatch process running" in line:
                break
        else:
            raise AssertionError("the dispatcher exited: " + "".join(self.output))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(30) == 0, "".join(self.output)


class Cluster:
    """The store, Redis, the simulator's channel file and the processes of one test."""

    def __init__(self, database_url: str, tmp_path: Path, simulator: SimulatorProcess,
                 max_binds: int = 0, per_second: int = 1000) -> None:
        channels = tmp_path / "channels.toml"
        channels.write_text(f'[[channel]]\nname = "carrier"\nkind = "smpp"\n'
                            f'host = "127.0.0.1"\nport = {simulator.port}\n'
                            f'system_id = "{SYSTEM_ID}"\nmax_per_second = {per_second}\n'
                            + (f"max_binds = {max_binds}\n" if max_binds else ""))
        self.url = database_url
        self.tmp = tmp_path
        self.env = {**os.environ, **TEST_MASTER_ENV, "YIZHAN_DATABASE_URL": database_url,
                    "YIZHAN_RATE_BACKEND": "redis", "YIZHAN_REDIS_URL": REDIS_URL,
                    "YIZHAN_REDIS_PREFIX": f"yizhan-test:{uuid.uuid4().hex}:",
                    "YIZHAN_CHANNELS_FILE": str(channels), "YIZHAN_LOG_LEVEL": "WARNING",
                    "YIZHAN_FREQUENCY_CONTROL": "false", "YIZHAN_DISPATCH_LEASE_SECONDS": "10",
                    # One machine: the dispatchers share a data folder (their journals).
                    "YIZHAN_DATA_DIR": str(tmp_path / "dispatch")}
        self.info = json.loads(subprocess.run(
            [sys.executable, "-m", "yizhan", "demo", "--json"], env=self.env,
            capture_output=True, text=True, check=True).stdout)
        self._apis = itertools.count()
        self.dispatchers: list[Dispatcher] = []

    def api(self) -> ServeProcess:
        """A new `--role api` process with a data folder of its own (another machine)."""
        folder = self.tmp / f"api-{next(self._apis)}"
        return ServeProcess({**self.env, "YIZHAN_ROLE": "api",
                             "YIZHAN_DATA_DIR": str(folder)}).__enter__()

    def dispatcher(self) -> Dispatcher:
        self.dispatchers.append(Dispatcher(self.env))
        return self.dispatchers[-1]

    def stop(self, apis: list[ServeProcess]) -> None:
        """Stop `apis` and every dispatcher still running, cleanly."""
        for process in apis:
            process.__exit__()
        for dispatcher in self.dispatchers:
            dispatcher.stop()

    def rows(self, query: str) -> list[tuple[object, ...]]:
        async def read() -> list[tuple[object, ...]]:
            engine = create_async_engine(self.url)
            try:
                async with engine.connect() as conn:
                    return [tuple(r) for r in (await conn.execute(text(query))).all()]
            finally:
                await engine.dispose()
        return asyncio.run(read())

    def messages(self) -> dict[str, str]:
        """Number -> status of every stored message (each has a number of its own)."""
        return {str(phone)[-11:]: str(status)
                for phone, status in self.rows("SELECT phone, status FROM messages")}


class Load:
    """Senders posting 20-number requests, each with its own code, to whichever API
    process is up (`urls`), with at most `BACKLOG` messages ahead of the carrier. Every
    message has a number of its own: the number tells it apart in the store and in the
    simulator's log."""

    BACKLOG = 600
    NUMBERS = 20

    def __init__(self, cluster: Cluster, log: Path, urls: list[str]) -> None:
        info = cluster.info
        self.auth = (info["access_key_id"], info["access_key_secret"])
        self.body = {"sign_name": info["sign_name"],
                     "template_code": info["templates"]["verification"]}
        self.log = log
        self.urls = urls
        self.answered: set[str] = set()
        self.errors: list[str] = []
        self._numbers = itertools.count(1)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(2)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)

    def wait_submits(self, more: int) -> None:
        goal = _lines(self.log) + more
        _poll(lambda: _lines(self.log) >= goal, 60)

    def _send(self) -> None:
        client = httpx.Client(auth=self.auth, timeout=10)
        for n in self._numbers:
            if self._stop.is_set():
                break
            _poll(lambda: self._stop.is_set()
                  or len(self.answered) - _lines(self.log) < self.BACKLOG, 60)
            code = f"{n:06d}"
            numbers = [f"139{n:04d}{i:04d}" for i in range(self.NUMBERS)]
            for url in list(self.urls):  # the first that answers; one restarting is skipped
                try:
                    answer = client.post(f"{url}/v1/messages", json={
                        **self.body, "template_param": {"code": code},
                        "phone_numbers": numbers})
                except httpx.TransportError:
                    continue
                if answer.status_code != 200:
                    self.errors.append(answer.text)
                    break
                self.answered |= set(numbers)
                break
        client.close()


def _settled(cluster: Cluster) -> dict[str, str] | None:
    found = cluster.messages()
    return None if any(s == "waiting" for s in found.values()) else found


def _check_delivery(cluster: Cluster, load: Load, log: Path) -> dict[str, str]:
    """Every answered message reached a final status; none reached the carrier twice; a
    message that never reached it is not `success`; few are unknown, each one that may
    have left (at most one write's worth per killed dispatcher did not reach the log)."""
    assert not load.errors, load.errors[:3]
    final = _poll(lambda: _settled(cluster), 90)
    assert load.answered <= final.keys()  # every answered message is stored
    reached = Counter(number for number, _ in _submits(_quiet(log)))
    assert max(reached.values()) == 1, [k for k, n in reached.items() if n > 1][:5]
    assert len(reached) == len({k for k in reached if k in final})
    never = {k: s for k, s in final.items() if k not in reached}
    assert all(s == "unknown" for s in never.values()), Counter(never.values())
    assert len(never) <= 100 * sum(d.process.returncode == -signal.SIGKILL
                                   for d in cluster.dispatchers)
    assert Counter(final.values())["failed"] == 0
    return final


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimulatorProcess]:
    with SimulatorProcess(tmp_path / "submits.jsonl") as process:
        yield process


def test_two_api_and_two_dispatch_processes_lose_nothing_when_a_dispatcher_is_killed(
        shared_database: str, tmp_path: Path, simulator: SimulatorProcess) -> None:  # noqa: F811
    # Each dispatcher's channel takes 100 submits a second, so a round of claims (up to 256)
    # waits for its turn while a backlog waits: the kill finds claims that never left.
    cluster = Cluster(shared_database, tmp_path, simulator, per_second=100)
    apis = [cluster.api(), cluster.api()]
    first, second = cluster.dispatcher(), cluster.dispatcher()
    try:
        with Load(cluster, simulator.log, [a.url for a in apis]) as load:
            load.wait_submits(800)  # both dispatchers claim and send meanwhile
            first.kill()
            unsent = _orphaned_claims(tmp_path / "dispatch")
            load.wait_submits(300)  # the other goes on alone
            cluster.dispatcher()
            load.wait_submits(300)
        assert load.answered
        final = _check_delivery(cluster, load, simulator.log)
        # Unknown: at most the rounds the dead one had under way (its worker's and its
        # express worker's), the messages of which may have reached the carrier.
        assert Counter(final.values())["unknown"] <= 256 + 64
        # The dead one's claims that never left were taken over by the other at once (its
        # journal, which no process held any more), not after the claims' lease, and sent.
        assert unsent, "the kill cut no round with claims still to send"
        numbers = {str(phone)[-11:] for (phone,) in cluster.rows(
            f"SELECT phone FROM messages WHERE id IN ({','.join(map(str, unsent))})")}
        assert {final[n] for n in numbers} == {"success"}
        assert "claimed by a dispatcher that died" in "".join(second.output), second.output
    finally:
        cluster.stop(apis)


def test_a_rolling_restart_of_every_process_under_load_loses_nothing(
        shared_database: str, tmp_path: Path, simulator: SimulatorProcess) -> None:  # noqa: F811
    cluster = Cluster(shared_database, tmp_path, simulator)
    apis = [cluster.api(), cluster.api()]
    urls = [a.url for a in apis]
    dispatchers = [cluster.dispatcher(), cluster.dispatcher()]
    try:
        with Load(cluster, simulator.log, urls) as load:
            load.wait_submits(300)
            for i in range(2):  # each API in turn: stopped, then started again
                apis[i].__exit__()
                apis[i] = cluster.api()
                urls[i] = apis[i].url
                load.wait_submits(150)
            for i in range(2):  # each dispatcher in turn
                dispatchers[i].stop()
                load.wait_submits(150)  # the other sends meanwhile
                dispatchers[i] = cluster.dispatcher()
                load.wait_submits(150)
        final = _check_delivery(cluster, load, simulator.log)
        # Clean stops: every round was recorded, so nothing is unknown.
        assert set(final.values()) == {"success"}, Counter(final.values())
    finally:
        cluster.stop(apis)


def test_a_channels_bind_limit_holds_across_dispatchers(
        shared_database: str, tmp_path: Path) -> None:  # noqa: F811
    binds = tmp_path / "binds.jsonl"
    with SimulatorProcess(tmp_path / "submits.jsonl", "--max-binds", "2",
                          "--bind-log", str(binds)) as simulator:
        cluster = Cluster(shared_database, tmp_path, simulator, max_binds=2)
        trio = [cluster.dispatcher() for _ in range(3)]
        api = cluster.api()
        try:
            _poll(lambda: _bound(binds) == 2, 20)
            holders = _slot_pids(cluster)
            assert len(holders) == 2 and holders <= {d.process.pid for d in trio}
            [waiting] = [d for d in trio if d.process.pid not in holders]
            # Messages go out through the two bound dispatchers; the third claims none.
            with Load(cluster, simulator.log, [api.url]) as load:
                load.wait_submits(400)
                dead = next(d for d in trio if d.process.pid in holders)
                dead.kill()
                # The waiting one takes the dead one's slot (its pid is gone) and binds.
                _poll(lambda: waiting.process.pid in _slot_pids(cluster), 20)
                _poll(lambda: _bound(binds) == 2, 20)
                load.wait_submits(400)
            _check_delivery(cluster, load, simulator.log)
            # A clean stop unbinds and gives the slot back.
            waiting.stop()
            assert waiting.process.pid not in _slot_pids(cluster)
            events = [json.loads(line) for line in binds.read_text().splitlines()]
            assert not [e for e in events if e["event"] == "refused"]
            assert max(e["binds"] for e in events) == 2
            assert sum(e["event"] == "bind" for e in events) == 3
        finally:
            cluster.stop([api])


def _orphaned_claims(folder: Path) -> set[int]:
    """The messages a dispatcher killed just now had claimed and not yet handed to the
    carrier: the last round of each journal in `folder` that no live process holds locked
    (read at once, before another dispatcher recovers it)."""
    unsent: set[int] = set()
    for path in folder.glob("dispatch*.journal"):
        with path.open("rb") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live dispatcher's
                continue
            last = file.read().rsplit(b"\ne\n", 1)[-1].splitlines()
            fcntl.flock(file, fcntl.LOCK_UN)
        claimed = {int(line.split()[1]) for line in last if line.startswith(b"c ")}
        unsent |= claimed - {int(line.split()[1]) for line in last if line.startswith(b"s ")}
    return unsent


def _bound(binds: Path) -> int:
    """The binds the simulator holds now, from its log."""
    lines = binds.read_text().splitlines() if binds.exists() else []
    return int(json.loads(lines[-1])["binds"]) if lines else 0


def _slot_pids(cluster: Cluster) -> set[int]:
    return {int(pid) for (pid,) in cluster.rows(  # type: ignore[call-overload]
        "SELECT pid FROM process_leases WHERE name LIKE 'bind carrier %'")}
