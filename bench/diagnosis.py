"""A diagnosis of one message over a large store (issue 18: under 50 ms p99 with 1,000,000
records), against a plain fetch of the same record in the same run.

Run from the repository root:

    .venv/bin/python bench/diagnosis.py [--records 1000000] [--queries 1000]
                                        [--summaries 200]
                                        [--database-url postgresql+asyncpg://...]

Fills the store fast (bulk `executemany` inserts): `--records` messages over 30 China days
and 100,000 numbers, with their policy trails, one receipt for every final message, a
pending push item for one in fifty, 10,000 blacklisted numbers and 10,000 opt-outs. Then
times, for `--queries` random messages, the whole diagnosis (`Diagnoser.message`: the record,
its signature, template and their last change, the carrier registrations, the blacklist,
opt-out and whitelist entries of its number, its receipts, pushes and push settings, the
verdict) and the plain record fetch (`store.message`, what GET /v1/messages/{id} reads),
interleaved; prints p50 and p99 of each and the ratio of the medians. HTTP is left out.

Then times the diagnosis of the population (`Summarizer.summary`, what GET
/v1/diagnosis/summary answers) `--summaries` times for today and for the last 31 days: the
fill counts every record in `stats_daily` and every failure in `stats_codes_daily` as the
status changes would (failures spread over 40 carrier codes), through
`storage/reports.count_codes` for the codes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from yizhan.diagnosis.inquiry import Diagnoser
from yizhan.diagnosis.population import Scope, Summarizer
from yizhan.domain.carriers import carrier_label
from yizhan.domain.ids import first_id_at
from yizhan.domain.model import (
    AccountId,
    ReviewState,
    SignatureScenario,
    TemplateType,
)
from yizhan.domain.ports import SystemClock
from yizhan.domain.timezone import china_today
from yizhan.storage import reports
from yizhan.storage.data_folder import KeySource
from yizhan.storage.sealing import new_key
from yizhan.storage.sql import hot_sql
from yizhan.storage.store import SqlStore

STATUSES = ["success"] * 90 + ["failed"] * 6 + ["unknown"] * 2 + ["waiting"] * 2
PASSED = "1:" + "+" * 17
CHUNK = 20_000
FAILURE_CODES = ["UNDELIV", "EXPIRED", "MK:0115", "DB:0141", "IB:0008", "MB:1077",
                 *(f"MK:{n:04d}" for n in range(1, 35))]


async def fill(store: SqlStore, records: int, account_id: int, template: str,
               now: datetime) -> list[int]:
    """Bulk-insert the messages and the rows about them; returns every 97th message id."""
    sql = hot_sql(store.is_postgres)
    rng = random.Random(1)
    phones = [f"+86{rng.choice(['138', '186', '189'])}{n:08d}" for n in range(100_000)]
    message = sql.place(
        "INSERT INTO messages (id, biz_id, account_id, phone, sign_name, template_code, "
        "template_type, content, segments, status, error_code, reason, out_id, dispatch_state, "
        "channel, remote_id, created_at, submitted_at, receipt_at, route, policy_trail) VALUES "
        "(?, ?, ?, ?, '驿站', ?, 'verification', '【驿站】您的验证码为1234', 1, ?, ?, '', '', "
        "?, 'sim', ?, ?, ?, ?, 'route all: sim', ?)")
    receipt = sql.place(
        "INSERT INTO receipts (message_id, channel, remote_id, code, status, error_code, raw, "
        "done_at, received_at, phone) VALUES (?, 'sim', ?, ?, ?, ?, '', ?, ?, ?)")
    push = sql.place(
        "INSERT INTO push_items (account_id, topic, message_id, payload, attempts, created_at, "
        "available_at, last_error) VALUES (?, 'SmsReport', ?, '{}', 1, ?, ?, 'HTTP 503')")
    start = now - timedelta(days=29)
    step = (now - start) / records
    samples: list[int] = []
    counters: dict[tuple[str, str], list[int]] = {}
    for base in range(0, records, CHUNK):
        rows, receipts, pushes = [], [], []
        failures: list[tuple[datetime, int, str, str, str, str, str]] = []
        for i in range(base, min(base + CHUNK, records)):
            at = start + step * i
            mid = first_id_at(at) + (i & 0x3FFFFF)
            status = STATUSES[i % 100]
            code = {"success": "DELIVERED",
                    "failed": FAILURE_CODES[(i // 100) % len(FAILURE_CODES)]}.get(status, "")
            ts, phone = sql.ts(at), phones[rng.randrange(len(phones))]
            row = counters.setdefault((reports.china_day(at), carrier_label(phone)), [0] * 5)
            row[0] += 1
            row[["success", "failed", "unknown", "waiting"].index(status) + 1] += 1
            if status == "failed":
                failures.append((at, account_id, "驿站", template, phone, "sim", code))
            final = status != "waiting"
            rows.append((mid, f"{mid}^0", account_id, phone, template, status, code,
                         "done" if final else "submitted", f"{i:x}", ts, ts, ts if final else None,
                         PASSED))
            if status in ("success", "failed"):
                receipts.append((mid, f"{i:x}", "DELIVRD" if status == "success" else code,
                                 status, code, ts, ts, phone))
            if i % 50 == 0:
                pushes.append((account_id, mid, ts, ts))
            if i % 97 == 0:
                samples.append(mid)
        await store._transaction(lambda conn, r=rows, c=receipts, p=pushes, f=failures: (
            conn.exec_driver_sql(message, r), conn.exec_driver_sql(receipt, c),
            p and conn.exec_driver_sql(push, p), reports.count_codes(conn, sql, f)))
    listed = sql.place("INSERT INTO blacklist (phone, signatures, source, created_at, "
                       "version) VALUES (?, '[]', 'complaint', ?, 1)")
    opted = sql.place("INSERT INTO opt_outs (account_id, sign_name, phone, source, "
                      "created_at, version) VALUES (?, '驿站', ?, 'uplink R', ?, 1)")
    stats = sql.place(
        "INSERT INTO stats_daily (account_id, day, sign_name, template_code, template_type, "
        "carrier, sent, success, failed, unknown, waiting, billed_parts) VALUES "
        "(?, ?, '驿站', ?, 'verification', ?, ?, ?, ?, ?, ?, 0)")
    ts = sql.ts(now)
    await store._transaction(lambda conn: (
        conn.exec_driver_sql(listed, [(p, ts) for p in phones[::10]]),
        conn.exec_driver_sql(opted, [(account_id, p, ts) for p in phones[5::10]]),
        conn.exec_driver_sql(stats, [(account_id, day, template, carrier, *n)
                                     for (day, carrier), n in sorted(counters.items())])))
    return samples


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


async def bench(store: SqlStore, records: int, queries: int, summaries: int) -> None:
    clock = SystemClock()
    now = clock.now()
    account = await store.create_account("bench-diagnosis", now)
    await store.create_signature(account.id, "驿站", SignatureScenario.GENERAL,
                                 ReviewState.APPROVED, now)
    template = await store.create_template(account.id, "code", TemplateType.VERIFICATION,
                                           "您的验证码为${code}", ReviewState.APPROVED, now)
    began = time.perf_counter()
    samples = await fill(store, records, account.id, template.code, now)
    print(f"filled {records:,} records in {time.perf_counter() - began:.0f} s")
    inquiry = Diagnoser(store)
    owner = AccountId(account.id)
    rng = random.Random(2)
    plain: list[float] = []
    whole: list[float] = []
    for _ in range(queries):
        mid = rng.choice(samples)
        t0 = time.perf_counter()
        found: Any = await store.message(owner, mid)
        t1 = time.perf_counter()
        diagnosed = await inquiry.message(owner, mid)
        t2 = time.perf_counter()
        assert found is not None and diagnosed is not None
        plain.append((t1 - t0) * 1000)
        whole.append((t2 - t1) * 1000)
    (p50, p99), (f50, f99) = percentiles(whole), percentiles(plain)
    print(f"diagnosis of one message: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {queries} "
          f"({records:,} records)")
    print(f"plain record fetch:       p50 {f50:.2f} ms, p99 {f99:.2f} ms")
    print(f"ratio of the medians (diagnosis / fetch): {p50 / f50:.1f}")
    summarizer = Summarizer(store)
    today = china_today(now)
    for label, first in (("a day", today), ("31 days", today - timedelta(days=30))):
        times = []
        for _ in range(summaries):
            t0 = time.perf_counter()
            found = await summarizer.summary(Scope(owner, first, today))
            times.append((time.perf_counter() - t0) * 1000)
        assert found.total.sent > 0 and found.carriers[0].codes
        s50, s99 = percentiles(times)
        print(f"population summary, {label:<8}: p50 {s50:.2f} ms, p99 {s99:.2f} ms over "
              f"{summaries} ({found.total.sent:,} messages, {len(found.flags)} flag(s))")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        store = SqlStore.open(url, master=KeySource(given=new_key()))
        await store.migrate()
        try:
            await bench(store, args.records, args.queries, args.summaries)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--summaries", type=int, default=200)
    parser.add_argument("--database-url")
    asyncio.run(main(parser.parse_args()))
