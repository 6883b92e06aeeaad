"""Several OS processes, each a whole intake on the same store and the same Redis, send to
one number at the same instant: frequency limits hold across processes (docs/domain.md: limits
must hold across all processes of a scaled-out deployment)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import TEST_MASTER, ManualClock
from tests.contract.conftest import REDIS_URL
from tests.contract.test_rate_counter import china
from yizhan.cli.demo import ensure_demo
from yizhan.storage.store import SqlStore

ROOT = Path(__file__).parents[2]
PROCESSES, EACH = 4, 30  # 120 notifications to one number; the limit is 50 a day


async def prepare(url: str, clock: ManualClock) -> None:
    store = SqlStore.open(url, master=TEST_MASTER)
    await store.migrate()
    await ensure_demo(store, clock.now())  # before the workers, so that they share it
    await store.close()


async def statuses(url: str) -> dict[str, int]:
    store = SqlStore.open(url, master=TEST_MASTER)
    async with store._read() as conn:
        rows = dict((await conn.execute(text(
            "SELECT status, count(*) FROM messages GROUP BY status"))).all())
    await store.close()
    return rows


@pytest.mark.long
def test_processes_sending_to_one_number_at_once_admit_exactly_the_limit(
        tmp_path: Path, redis_prefix: str, clock: ManualClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    asyncio.run(prepare(url, clock))
    workers = [subprocess.Popen(
        [sys.executable, "-m", "tests.contract.rate_worker", url, REDIS_URL, redis_prefix,
         str(china(25, 11)), str(EACH)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
        for _ in range(PROCESSES)]
    try:
        for worker in workers:  # every process is up before any sends
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr
        for worker in workers:  # go, all at once
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        admitted = []
        for worker in workers:
            out, err = worker.communicate(timeout=90)
            assert worker.returncode == 0, err
            admitted.append(int(out.split()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert sum(admitted) == 50, admitted
    # Refused one-number requests store nothing: exactly the admitted messages are there.
    assert asyncio.run(statuses(url)) == {"waiting": 50}
