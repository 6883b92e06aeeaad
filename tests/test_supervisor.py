"""Every core of one machine in one command (issue 20 point 3): `yizhan serve --workers N`
runs N API processes and one dispatch process under a supervisor (runtime/supervisor.py),
on SQLite and on PostgreSQL; a send through the API is delivered, a killed child is started
again, SIGTERM stops every process and loses no accepted message. The send-task engine runs
in one process of the store at a time (`SoleStage`): a second takes it over when the first
dies. Real processes over loopback, each wait bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_MASTER_ENV, ManualClock
from tests.contract.conftest import REDIS_URL
from tests.test_process_lease import (
    _dead_pid,
    shared_database,  # noqa: F401 (a fixture)
)
from tests.test_restart import ServeProcess, _poll
from yizhan.app import TASK_ENGINE
from yizhan.runtime.process_lease import RENEW_SECONDS, ProcessLease, SoleStage
from yizhan.runtime.supervisor import Child, StartFailed, Supervisor
from yizhan.storage.store import SqlStore

BOUND = 60.0
"""A process starts in a few seconds, but this box is shared and at times 20 s go by."""


def _children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except FileNotFoundError:
        return set()


def _role(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return args[args.index(b"--role") + 1].decode()
    except (FileNotFoundError, ValueError):  # gone meanwhile
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@dataclass
class Supervised:
    process: subprocess.Popen[str]
    url: str
    key: tuple[str, str]
    template: str
    """The demo account's verification template, as the banner shows it."""
    output: list[str]

    def roles(self) -> dict[int, str]:
        """The supervisor's living children and their roles (one killed, not yet waited
        for, is left out)."""
        return {pid: _role(pid) for pid in _children(self.process.pid) if _alive(pid)}


@pytest.fixture
def workers_env(shared_database: str, database: str,  # noqa: F811
                tmp_path: Path) -> dict[str, str]:
    """On SQLite one API process (the embedded counters allow one accepting process); on
    PostgreSQL two, sharing Redis counters."""
    env = {**os.environ, **TEST_MASTER_ENV, "YIZHAN_DATA_DIR": str(tmp_path / "data"),
           "YIZHAN_DATABASE_URL": shared_database, "YIZHAN_SIMULATOR_DELAY_SECONDS": "0.05",
           "YIZHAN_LOG_LEVEL": "INFO", "YIZHAN_WORKERS": "1"}
    if database != "sqlite":
        env |= {"YIZHAN_WORKERS": "2", "YIZHAN_RATE_BACKEND": "redis",
                "YIZHAN_REDIS_URL": REDIS_URL,
                "YIZHAN_REDIS_PREFIX": f"yizhan-test:{uuid.uuid4().hex}:"}
    return env


@pytest.fixture
def supervised(workers_env: dict[str, str]) -> Iterator[Supervised]:
    process = subprocess.Popen([sys.executable, "-m", "yizhan", "serve", "--port", "0"],
                               env=workers_env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output: list[str] = []
    url, key_id, secret, template = "", "", "", ""
    for line in process.stdout:
        output.append(line)
        if "API endpoint" in line:
            url = line.split()[2]
        elif "AccessKey id" in line:
            key_id = line.split()[2]
        elif "AccessKey secret" in line:
            secret = line.split()[2]
        elif "Template" in line and "(verification)" in line:
            template = line.split()[1]
        elif line.startswith("Send a message"):
            break
    else:
        raise AssertionError("yizhan serve --workers exited before it was ready:\n"
                             + "".join(output))
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        yield Supervised(process, url, (key_id, secret), template, output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _send(client: httpx.Client, template: str, phone: str) -> str:
    sent = client.post("/v1/messages", json={
        "phone_numbers": [phone], "sign_name": "驿站", "template_code": template,
        "template_param": {"code": "7"}})
    assert sent.status_code == 200, sent.text
    return str(sent.json()["biz_id"])


def _delivered(client: httpx.Client, biz_id: str) -> bool:
    found = client.get("/v1/messages", params={"biz_id": biz_id}).json()["messages"]
    return bool(found) and all(m["status"] == "success" for m in found)


@pytest.mark.long
def test_workers_deliver_restart_a_killed_child_and_stop_on_sigterm_losing_nothing(
        supervised: Supervised, workers_env: dict[str, str]) -> None:
    workers = int(workers_env["YIZHAN_WORKERS"])
    banner = "".join(supervised.output)
    assert banner.count("API endpoint") == 1  # the banner and the demo account, once
    assert f"{workers} API process" in banner and "and a dispatch process" in banner
    roles = _poll(lambda: (r := supervised.roles()) and len(r) == workers + 1 and r, BOUND)
    assert sorted(roles.values()) == ["api"] * workers + ["dispatch"]

    with httpx.Client(base_url=supervised.url, auth=supervised.key, timeout=10) as client:
        first = _send(client, supervised.template, "13800138000")
        _poll(lambda: _delivered(client, first), BOUND)

        # Each child killed is started again; meanwhile the others serve on.
        for victim_role in ("api", "dispatch"):
            victim = next(p for p, r in supervised.roles().items() if r == victim_role)
            os.kill(victim, signal.SIGKILL)
            _poll(lambda v=victim: not _alive(v), BOUND)  # type: ignore[misc]
            _poll(lambda v=victim: sorted(supervised.roles().values())  # type: ignore[misc]
                  == sorted(roles.values()) and v not in supervised.roles(), BOUND)
        again = _poll(lambda: _try_send(client, supervised.template, "13800138001"), BOUND)
        _poll(lambda: _delivered(client, again), BOUND)
        assert "exited with status -9: starting it again" in "".join(supervised.output)

        # SIGTERM while messages are being accepted: every answered one is kept.
        accepted = [_send(client, supervised.template, f"1380013{n:04d}") for n in range(40)]
        children = set(supervised.roles())
        supervised.process.send_signal(signal.SIGTERM)
        assert supervised.process.wait(BOUND) == 0
    assert not [p for p in children if _alive(p)]

    # Started again (one process), it delivers every message accepted before the stop.
    env = {**workers_env, "YIZHAN_WORKERS": "0", "YIZHAN_RATE_BACKEND": "sql"}
    with ServeProcess(env) as server, httpx.Client(base_url=server.url, auth=supervised.key,
                                                   timeout=10) as client:
        for biz_id in accepted:
            _poll(lambda b=biz_id: _delivered(client, b), BOUND)  # type: ignore[misc]


def _try_send(client: httpx.Client, template: str, phone: str) -> str | None:
    try:
        return _send(client, template, phone)
    except (httpx.HTTPError, AssertionError):  # the API process is still starting
        return None


def test_more_than_one_api_process_needs_shared_counters(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "yizhan", "serve", "--port", "0",
                           "--workers", "2"],
                          env={**os.environ, "YIZHAN_DATA_DIR": str(tmp_path / "d")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "--workers 1" in done.stderr and 'rate_backend = "redis"' in done.stderr


# The send-task engine: one process of the store at a time.


def test_the_task_engine_runs_in_one_api_process_and_another_takes_it_over(
        shared_database: str, tmp_path: Path) -> None:  # noqa: F811
    env = {**os.environ, **TEST_MASTER_ENV, "YIZHAN_DATA_DIR": str(tmp_path / "data"),
           "YIZHAN_DATABASE_URL": shared_database, "YIZHAN_LOG_LEVEL": "INFO",
           "YIZHAN_ROLE": "api", "YIZHAN_RATE_BACKEND": "redis", "YIZHAN_REDIS_URL": REDIS_URL,
           "YIZHAN_REDIS_PREFIX": f"yizhan-test:{uuid.uuid4().hex}:",
           "YIZHAN_TASK_IDLE_SECONDS": "0.2"}
    with ServeProcess(env) as first, ServeProcess(env) as second:
        pids = {first.process.pid, second.process.pid}
        holder = _poll(lambda: _engine_holder(shared_database), BOUND)
        assert holder in pids
        runner, other = (first, second) if holder == first.process.pid else (second, first)
        time.sleep(1.0)  # five of the other's tries: it stays out while the holder lives
        assert _engine_holder(shared_database) == runner.process.pid
        runner.kill()
        _poll(lambda: _engine_holder(shared_database) == other.process.pid, BOUND)


def _engine_holder(url: str) -> int | None:
    async def read() -> int | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(
                    "SELECT pid FROM process_leases WHERE name = :name"),
                    {"name": TASK_ENGINE})).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(read())


class Stage:
    def __init__(self) -> None:
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False


async def test_a_sole_stage_runs_in_one_holder_and_moves_when_it_dies(
        store: SqlStore, clock: ManualClock) -> None:
    stages = [Stage(), Stage()]
    leases = [ProcessLease(store, clock, name=TASK_ENGINE) for _ in stages]
    leases[0].me = replace(leases[0].me, pid=_dead_pid())  # its process will have died
    sole = [SoleStage(stage, lease, clock, "stage") for stage, lease in zip(stages, leases,
                                                                          strict=True)]
    await sole[0].step()
    assert stages[0].running
    await sole[1].step()  # the holder's pid is gone from this machine: taken over at once
    assert stages[1].running
    clock.advance(seconds=RENEW_SECONDS)
    await sole[0].step()  # the first (were it alive) cannot renew: it stops its stage
    assert [s.running for s in stages] == [False, True]
    await sole[1].stop()  # a clean stop releases the lease: free for the next at once
    assert not stages[1].running
    leases[0].me = replace(leases[0].me, pid=os.getpid())
    await sole[0].step()
    assert stages[0].running


async def test_a_live_holder_keeps_the_stage_until_its_lease_expires(
        store: SqlStore, clock: ManualClock) -> None:
    stages = [Stage(), Stage()]
    sole = [SoleStage(stage, ProcessLease(store, clock, name=TASK_ENGINE), clock, "stage")
            for stage in stages]
    await sole[0].step()
    for _ in range(3):  # renewed every RENEW_SECONDS: the other stays out
        clock.advance(seconds=RENEW_SECONDS)
        await sole[0].step()
        await sole[1].step()
    assert [s.running for s in stages] == [True, False]
    clock.advance(seconds=31)  # the holder stopped renewing (its machine is gone)
    await sole[1].step()
    assert [s.running for s in stages] == [True, True]
    await sole[0].step()
    assert [s.running for s in stages] == [False, True]


# The supervisor's own rules, on children that exit at once.

READY_THEN_EXIT = [sys.executable, "-c",
                   "import os, sys; os.write(int(sys.argv[1]), b'r'); sys.exit(3)", "{ready_fd}"]


def test_an_exiting_child_is_started_again_after_a_doubling_back_off() -> None:
    now = [0.0]
    child = Child("short", READY_THEN_EXIT)
    supervisor = Supervisor([child], clock=lambda: now[0])
    supervisor.start()
    assert child.process is not None
    delays = []
    for _ in range(4):
        first = child.process
        first.wait(BOUND)
        supervisor.watch_once()  # the exit is seen: the restart waits for its back-off
        assert child.restart_at is not None
        delays.append(child.restart_at - now[0])
        now[0] = child.restart_at - 0.01
        supervisor.watch_once()
        assert child.process is first  # not yet
        now[0] += 0.01
        supervisor.watch_once()
        assert child.process is not first and child.restarts == len(delays)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    now[0] += supervisor.stable_seconds  # it ran long enough: the back-off starts over
    child.process.wait(BOUND)
    supervisor.watch_once()
    assert child.restart_at == now[0] + 0.5
    supervisor.stop()


def test_a_child_that_exits_before_it_is_ready_ends_the_start() -> None:
    children = [Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"]),
                Child("broken", [sys.executable, "-c", "raise SystemExit(2)"])]
    supervisor = Supervisor(children)
    with pytest.raises(StartFailed, match="the broken process exited with status 2"):
        supervisor.start()
    sleeper = children[0].process
    assert sleeper is not None and sleeper.returncode is not None  # stopped, not left over
