"""Receipts pushed per second, and query latency over a large store, in one run.

Run from the repository root:

    .venv/bin/python bench/push.py [--items 100000] [--records 1000000] [--queries 500]
                                   [--database-url postgresql+asyncpg://...]

1. Push: writes `--items` SmsReport items to the push outbox (bulk, one account whose
   receipt URL is a receiver on loopback, in a separate process so it does not share the
   event loop), then runs the push stage (`webhooks/pusher.py`, batches of 100, signed) and
   times how long until the receiver has taken every item: items per second, end to end
   (claim, render, sign, POST, answer, delete).
2. Queries: fills the store with `--records` messages (bulk SQL inserts: 30 China days,
   100,000 numbers, random statuses) and their statistics counters, then times
   `QuerySendDetails` (a number on a day, and a number on a day with its BizId) and
   `QuerySendStatistics` (30 days) through the action handlers the RPC endpoint calls, and
   the native statistics query grouped by carrier: p50 and p99 over `--queries` calls each.
   HTTP and signing are left out; the store query and the answer's assembly are in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from yizhan.api.aliyun.actions import ACTIONS, ActionContext
from yizhan.app import build
from yizhan.backends.local import LocalBus
from yizhan.domain.carriers import carrier_label
from yizhan.domain.errors import Lang
from yizhan.domain.ids import first_id_at
from yizhan.domain.ports import SystemClock
from yizhan.domain.push import SMS_REPORT
from yizhan.domain.timezone import china_today
from yizhan.runtime.addresses import PushNetworks
from yizhan.settings import Settings
from yizhan.storage import reports
from yizhan.storage.data_folder import KeySource
from yizhan.storage.sealing import new_key
from yizhan.storage.sql import hot_sql
from yizhan.storage.store import SqlStore
from yizhan.webhooks.pusher import PushConfig, PushStage

RECEIVER = """
import asyncio, sys
from tests.webhooks.receiver import Receiver
async def main():
    r = await Receiver(keep=False).start()
    print(r.url, flush=True)
    while True:
        await asyncio.sleep(0.05)
        print(r.items_taken, flush=True)
asyncio.run(main())
"""


def start_receiver() -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[1])


async def bench_push(store: SqlStore, items: int) -> None:
    clock = SystemClock()
    receiver = start_receiver()
    assert receiver.stdout is not None
    url = receiver.stdout.readline().strip()
    try:
        account = await store.create_account("bench-push", clock.now())
        await store.set_push_endpoints(account.id, clock.now(), receipt_url=url)
        sql = hot_sql(store.is_postgres)
        now = clock.now()
        for start in range(0, items, 10_000):
            chunk = [(account.id, SMS_REPORT, 10**12 + i, _report(i, now))
                     for i in range(start, min(start + 10_000, items))]
            await store._transaction(lambda conn, c=chunk: reports.enqueue(conn, sql, c, now))
        stage = PushStage(store, clock, LocalBus(), PushConfig(
            batch_delay=0, poll_seconds=0.05, networks=PushNetworks(["127.0.0.0/8"])))
        began = time.perf_counter()
        await stage.start()
        taken = 0
        while taken < items:
            line = await asyncio.to_thread(receiver.stdout.readline)
            taken = int(line)
        elapsed = time.perf_counter() - began
        await stage.stop()
        print(f"push: {items} receipts to a loopback receiver in {elapsed:.2f} s = "
              f"{items / elapsed:,.0f} receipts/s (batches of 100, signed; "
              f"{'PostgreSQL' if store.is_postgres else 'SQLite'})")
    finally:
        receiver.kill()


def _report(i: int, now: datetime) -> dict[str, Any]:
    return {"phone_number": f"138{i % 10**8:08d}", "send_time": "2026-11-25 12:00:00",
            "report_time": "2026-11-25 12:00:03", "success": True, "err_code": "DELIVERED",
            "sms_size": "1", "biz_id": f"{10**12 + i}^0", "out_id": "", "sign_name": "驿站",
            "template_code": "SMS_100000001", "message_id": str(10**12 + i),
            "status": "success", "idempotency_key": f"{10**12 + i}-success"}


STATUSES = ["success"] * 90 + ["failed"] * 6 + ["unknown"] * 2 + ["waiting"] * 2


async def fill(store: SqlStore, records: int, account_id: int, today: datetime) -> list[Any]:
    """Bulk-insert `records` messages over 30 days and their counters; returns samples
    (phone, day, biz id) to query."""
    sql = hot_sql(store.is_postgres)
    rng = random.Random(1)
    phones = [f"+86{rng.choice(['138', '186', '189'])}{n:08d}" for n in range(100_000)]
    insert = sql.place(
        "INSERT INTO messages (id, biz_id, account_id, phone, sign_name, template_code, "
        "template_type, content, segments, status, error_code, reason, out_id, dispatch_state, "
        "channel, remote_id, created_at, submitted_at, receipt_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', 'done', 'sim', ?, ?, ?, ?)")
    start = today - timedelta(days=29)
    step = (today - start) / records  # up to now: 30 China days including today
    samples: list[Any] = []
    counters: dict[tuple[Any, ...], list[int]] = {}
    chunk = 20_000
    for base in range(0, records, chunk):
        rows = []
        for i in range(base, min(base + chunk, records)):
            at = start + step * i
            mid = first_id_at(at) + (i & 0x3FFFFF)
            status = STATUSES[i % 100]
            phone = phones[rng.randrange(len(phones))]
            ts = sql.ts(at)
            rows.append((mid, f"{mid}^0", account_id, phone, "驿站", "SMS_100000001",
                         "verification", "【驿站】您的验证码为1234", 1, status,
                         "DELIVERED" if status == "success" else "UNDELIV", f"{i:x}", ts, ts,
                         ts))
            key = ((at + timedelta(hours=8)).strftime("%Y%m%d"), carrier_label(phone))
            row = counters.setdefault(key, [0] * 6)
            row[0] += 1
            row[1 + ["success", "failed", "unknown", "waiting"].index(status)] += 1
            row[5] += status == "success"
            if i % 997 == 0:
                samples.append((phone, at, f"{mid}^0"))
        await store._transaction(lambda conn, r=rows: conn.exec_driver_sql(insert, r))
    upsert = sql.place(
        "INSERT INTO stats_daily VALUES (?, ?, '驿站', 'SMS_100000001', 'verification', ?, "
        "?, ?, ?, ?, ?, ?)")
    await store._transaction(lambda conn: conn.exec_driver_sql(
        upsert, [(account_id, day, carrier, *c) for (day, carrier), c in counters.items()]))
    return samples


async def bench_queries(store: SqlStore, records: int, queries: int) -> None:
    clock = SystemClock()
    account = await store.create_account("bench-records", clock.now())
    began = time.perf_counter()
    samples = await fill(store, records, account.id, clock.now())
    print(f"filled {records:,} records in {time.perf_counter() - began:.0f} s")
    services = (await build(Settings(data_dir=Path(tempfile.mkdtemp())), store=store,
                            clock=clock)).api.services
    rng = random.Random(2)
    today = china_today(clock.now())

    async def details(with_biz: bool) -> None:
        phone, at, biz = rng.choice(samples)
        params = {"PhoneNumber": phone, "SendDate": china_today(at).strftime("%Y%m%d"),
                  "PageSize": "10", "CurrentPage": "1", **({"BizId": biz} if with_biz else {})}
        answer = await ACTIONS["QuerySendDetails"](
            ActionContext(account, params, Lang.EN, services))
        assert isinstance(answer, dict) and answer["TotalCount"] >= 1, answer

    async def query_statistics() -> None:
        params = {"IsGlobe": "1", "StartDate": (today - timedelta(days=29)).strftime("%Y%m%d"),
                  "EndDate": today.strftime("%Y%m%d"), "PageIndex": "1", "PageSize": "50"}
        answer = await ACTIONS["QuerySendStatistics"](
            ActionContext(account, params, Lang.EN, services))
        assert isinstance(answer, dict) and answer["Data"]["TotalSize"] >= 29, answer

    async def by_carrier() -> None:
        rows = await store.statistics(account.id, today - timedelta(days=29), today,
                                      group_by=["carrier"])
        assert sum(r.sent for r in rows) == records

    for name, call in (("QuerySendDetails (number + day)", lambda: details(False)),
                       ("QuerySendDetails (number + day + BizId)", lambda: details(True)),
                       ("QuerySendStatistics (30 days)", query_statistics),
                       ("statistics by carrier (30 days)", by_carrier)):
        times = []
        for _ in range(queries):
            t0 = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{name}: p50 {statistics.median(times):.2f} ms, "
              f"p99 {times[int(len(times) * 0.99) - 1]:.2f} ms over {queries} calls "
              f"({records:,} records)")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        store = SqlStore.open(url, master=KeySource(given=new_key()))
        await store.migrate()
        try:
            await bench_push(store, args.items)
            await bench_queries(store, args.records, args.queries)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--database-url", default=os.environ.get("YIZHAN_BENCH_DATABASE_URL"))
    asyncio.run(main(parser.parse_args()))
    print(datetime.now(UTC).isoformat(timespec="seconds"))
