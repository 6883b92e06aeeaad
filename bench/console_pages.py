"""The console's pages over a large store (issue 19: the records page under 200 ms p95 with
1,000,000 records, the overview under 300 ms p95), through real HTTP with a logged-in session.

Run from the repository root (under the bench lock):

    .venv/bin/python bench/console_pages.py [--records 1000000] [--others 300000]
                                            [--requests 60] [--explain]
                                            [--database-url postgresql+asyncpg://127.0.0.1:5432/test]

1. Fills a fresh store fast, through the store's own tables in bulk (`executemany` of the
   driver statements, 20,000 rows a transaction, as bench/diagnosis.py does; not through the
   API one by one): `--records` messages of one tenant over 30 China days (today and the 29
   before it, each day's share spread over the whole China day, so that the records page's
   default, today, holds a full day's ~33,000 records whatever the hour of the run), 100,000
   numbers, 4 signatures (80 / 15 / 4 / 1 %), 3 templates, statuses as a working account's
   (success 90 %, failed 6 %, unknown 4 %; a tenth of today's still waiting); `--others`
   messages of 4 other accounts over the same days; one send task whose 10,000 rows are
   messages of today; the daily statistics (`stats_daily`) the status changes would have
   counted; a tenant admin of the console. The SQLite store is a data folder as
   `yizhan serve` makes it; on PostgreSQL a schema of its own (`bench_console_pages`, dropped
   and made again), the master key given, its tables vacuumed and analysed after the fill
   (what autovacuum does after so many inserts).
2. Serves it as `yizhan serve` does (`app.build` + `app.serve`: uvicorn on a loopback port,
   the whole pipeline running, `tune_runtime`), in a child process of this script (so that a
   PostgreSQL schema can be named; the SQLite child is the same code on the data folder).
3. Logs in through the console's login form (httpx, cookies), then asks each page in turn,
   round after round (`--requests` rounds after 3 of warm-up), one request at a time, and
   prints each page's p50 / p95 / max and the whole table as `RESULT {json}`:
   the records of today with the default filters, of a number, a status, 7 days, a send
   task, a signature, page 20 of today; the overview; the statistics (7 days by day).
   Every answer must be 200 and hold what the page shows (its total or its table).

`--explain` prints the query plans (EXPLAIN QUERY PLAN / EXPLAIN) of the records queries
before serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from yizhan.domain.carriers import carrier_label
from yizhan.domain.ids import first_id_at
from yizhan.domain.model import AccountId, ReviewState, SignatureScenario, TemplateType
from yizhan.domain.people import Role
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.runtime import passwords
from yizhan.storage import reports
from yizhan.storage.data_folder import KeySource
from yizhan.storage.sealing import decode_key, encode_key, new_key
from yizhan.storage.sql import hot_sql
from yizhan.storage.store import SqlStore

SCHEMA = "bench_console_pages"
LOGIN, PASSWORD = "bench-admin", "bench console password"
SIGNATURES = ["驿站"] * 80 + ["云店"] * 15 + ["快递通知"] * 4 + ["银行"] * 1
RARE_SIGNATURE = "银行"
TEMPLATE_TYPES = {"code": TemplateType.VERIFICATION, "notice": TemplateType.NOTIFICATION,
                  "promo": TemplateType.PROMOTION}
DAYS = 30
TASK_ROWS = 10_000
CHUNK = 20_000
WARMUP = 3


@dataclass
class Filled:
    account_id: int
    phone: str
    """A number with records today (the number filter's)."""
    task_id: int


async def open_bench_store(url: str | None, folder: Path, key: bytes) -> SqlStore:
    if url is None:
        from yizhan.app import open_store
        from yizhan.settings import Settings
        return open_store(Settings(data_dir=folder))
    return SqlStore.open(url, schema=SCHEMA, master=KeySource(given=key))


async def fresh_schema(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    await engine.dispose()


async def vacuum(url: str) -> None:
    """What autovacuum does after a million inserts (the visibility map lets a count read
    the index alone, the statistics choose the plans), now rather than in a while."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT",
                                 connect_args={"server_settings": {"search_path": SCHEMA}})
    async with engine.connect() as conn:
        for table in ("messages", "send_task_rows", "send_tasks", "stats_daily"):
            await conn.execute(text(f"VACUUM ANALYZE {table}"))
    await engine.dispose()


async def fill(store: SqlStore, records: int, others: int) -> Filled:
    now = datetime.now(UTC)
    today = china_today(now)
    sql = hot_sql(store.is_postgres)
    owner = await store.create_account("bench-console", now)
    accounts = [owner.id] + [(await store.create_account(f"bench-other-{n}", now)).id
                             for n in range(4)]
    templates: dict[int, list[tuple[str, str]]] = {}
    for account_id in accounts:
        for sign in sorted(set(SIGNATURES)):
            await store.create_signature(AccountId(account_id), sign, SignatureScenario.GENERAL,
                                         ReviewState.APPROVED, now)
        templates[account_id] = []
        for name, kind in TEMPLATE_TYPES.items():
            made = await store.create_template(AccountId(account_id), name, kind,
                                               "您的验证码为${code}", ReviewState.APPROVED, now)
            templates[account_id].append((made.code, kind.value))
    await store.create_console_user(LOGIN, passwords.hash_password(PASSWORD),
                                    Role.TENANT_ADMIN, AccountId(owner.id), now)
    rng = random.Random(1)
    phones = [f"+86{rng.choice(['138', '186', '189', '133'])}{n:08d}" for n in range(100_000)]
    message = sql.place(
        "INSERT INTO messages (id, biz_id, account_id, phone, sign_name, template_code, "
        "template_type, content, segments, status, error_code, reason, out_id, dispatch_state, "
        "channel, remote_id, created_at, submitted_at, receipt_at, route, policy_trail) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, '', '', ?, 'sim', ?, ?, ?, ?, 'route all: sim', "
        "'1:+++++++++++++++++')")
    first_day = china_day_bounds(today - timedelta(days=DAYS - 1))[0]
    span = china_day_bounds(today)[1] - first_day
    total = records + others
    step = span / total
    counters: dict[tuple[int, str, str, str, str, str], list[int]] = {}
    today_start = china_day_bounds(today)[0]
    today_ids: list[int] = []
    phone_today = ""
    for base in range(0, total, CHUNK):
        rows = []
        for i in range(base, min(base + CHUNK, total)):
            at = first_day + step * i
            mid = first_id_at(at) + (i & 0x3FFFFF)
            # One message in (records + others) / others goes to another account.
            account_id = accounts[0] if (i * others) // total == ((i + 1) * others) // total \
                else accounts[1 + i % 4]
            phone = phones[rng.randrange(len(phones))]
            sign = SIGNATURES[rng.randrange(100)]
            code, kind = templates[account_id][i % 3]
            roll = rng.randrange(100)
            waiting = at >= today_start and roll < 10
            status = ("waiting" if waiting else "success" if roll < 90
                      else "failed" if roll < 96 else "unknown")
            error = {"success": "DELIVRD", "failed": "UNDELIV"}.get(status, "")
            ts = sql.ts(at)
            rows.append((mid, f"{mid}^0", account_id, phone, sign, code, kind,
                         f"【{sign}】您的验证码为{i % 10000:04d}", status, error,
                         "submitted" if waiting else "done", f"{i:x}", ts, ts,
                         None if waiting else ts))
            day = reports.china_day(at)
            row = counters.setdefault((account_id, day, sign, code, kind, carrier_label(phone)),
                                      [0] * 5)
            row[0] += 1
            row[["success", "failed", "unknown", "waiting"].index(status) + 1] += 1
            if account_id == owner.id and at >= today_start:
                if len(today_ids) < TASK_ROWS * 3:
                    today_ids.append(mid)
                phone_today = phone_today or phone
        await store._transaction(lambda conn, r=rows: conn.exec_driver_sql(message, r))
    stats = sql.place(
        "INSERT INTO stats_daily (account_id, day, sign_name, template_code, template_type, "
        "carrier, sent, success, failed, unknown, waiting, billed_parts) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)")
    await store._transaction(lambda conn: conn.exec_driver_sql(
        stats, [(*key, *n) for key, n in sorted(counters.items())]))
    task = sql.place(
        "INSERT INTO send_tasks (account_id, name, sign_name, template_code, template_type, "
        "state, file_name, total, rejected, duplicates, params, out_id, created_at, "
        "last_error) VALUES (?, 'bench', '驿站', ?, 'verification', 'done', 'bench.csv', ?, "
        "0, 0, '{}', '', ?, '')")
    await store._transaction(lambda conn: conn.exec_driver_sql(
        task, (owner.id, templates[owner.id][0][0], TASK_ROWS, sql.ts(now))))
    async with store._read() as conn:
        from sqlalchemy import text
        task_id = int((await conn.execute(text("SELECT max(id) FROM send_tasks"))).scalar_one())
    task_row = sql.place(
        "INSERT INTO send_task_rows (task_id, seq, line, phone, params, state, message_id) "
        "VALUES (?, ?, ?, ?, '{}', 'sent', ?)")
    await store._transaction(lambda conn: conn.exec_driver_sql(
        task_row, [(task_id, n, n + 1, phones[n], mid)
                   for n, mid in enumerate(today_ids[::3][:TASK_ROWS])]))
    return Filled(owner.id, phone_today, task_id)


def pages(filled: Filled) -> dict[str, str]:
    """The pages measured, by name: each a path with its query."""
    today = china_today(datetime.now(UTC))
    week = f"start={(today - timedelta(days=6)).isoformat()}&end={today.isoformat()}"
    return {
        "records today": "/console/records",
        "records number": f"/console/records?phone={filled.phone.removeprefix('+86')}",
        "records status": "/console/records?status=failed",
        "records 7 days": f"/console/records?{week}",
        "records task": f"/console/records?task={filled.task_id}",
        "records signature": f"/console/records?sign_name={RARE_SIGNATURE}",
        "records page 20": "/console/records?page=20",
        "overview": "/console/overview",
        "statistics": "/console/statistics",
    }


def login(client: httpx.Client) -> None:
    form = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text[:500]
    done = client.post("/console/login", data={"login": LOGIN, "password": PASSWORD,
                                               "csrf": csrf.group(1), "next": ""})
    assert done.status_code == 303, (done.status_code, done.text[:500])


def measure(url: str, paths: dict[str, str], rounds: int) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {name: [] for name in paths}
    with httpx.Client(base_url=url, timeout=60, follow_redirects=False) as client:
        login(client)
        for n in range(WARMUP + rounds):
            for name, path in paths.items():
                t0 = time.perf_counter()
                answer = client.get(path)
                took = (time.perf_counter() - t0) * 1000
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                assert 'id="total"' in answer.text or "<table" in answer.text, path
                if n >= WARMUP:
                    times[name].append(took)
        shown = {name: re.search(r'<span id="total">([^<]*)<', client.get(path).text)
                 for name, path in paths.items()}
    result = {}
    for name, taken in times.items():
        ordered = sorted(taken)
        result[name] = {"p50_ms": statistics.median(ordered),
                        "p95_ms": ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)],
                        "max_ms": ordered[-1]}
        found = shown[name]
        print(f"{name:<18} p50 {result[name]['p50_ms']:7.1f} ms  p95 "
              f"{result[name]['p95_ms']:7.1f} ms  max {result[name]['max_ms']:7.1f} ms"
              + (f"  ({found.group(1)})" if found else ""), flush=True)
    return result


def task_ids(store: SqlStore, task_id: int) -> Any:
    """The task filter as `storage/messages.py` `query_messages` writes it."""
    from sqlalchemy import any_, func, select

    from yizhan.storage.tables import messages, send_task_rows
    ids = select(send_task_rows.c.message_id).where(send_task_rows.c.task_id == task_id,
                                                    send_task_rows.c.message_id.is_not(None))
    return (messages.c.id == any_(func.array(ids.scalar_subquery())) if store.is_postgres
            else messages.c.id.in_(ids))


async def explain(store: SqlStore, filled: Filled) -> None:
    """The plans of the records page's queries (its total and page 20), as
    `storage/messages.py` `_page` makes them."""
    from sqlalchemy import func, select, text

    from yizhan.console.records import COUNT_LIMIT
    from yizhan.storage.tables import messages
    today = china_today(datetime.now(UTC))
    start, end = china_day_bounds(today)
    week = china_day_bounds(today - timedelta(days=6))[0]
    m = messages.c
    base = [m.account_id == filled.account_id, m.created_at < end]
    cases = {"today": [m.created_at >= start],
             "7 days": [m.created_at >= week],
             "status": [m.created_at >= start, m.status == "failed"],
             "task": [m.created_at >= start, task_ids(store, filled.task_id)]}
    prefix = "EXPLAIN " if store.is_postgres else "EXPLAIN QUERY PLAN "
    async with store._read() as conn:
        for name, more in cases.items():
            for kind, query in (
                    ("count", select(func.count()).select_from(
                        select(m.id).where(*base, *more).limit(COUNT_LIMIT + 1).subquery())),
                    ("page", select(messages).where(*base, *more).order_by(
                        m.created_at.desc(), m.id.desc()).offset(950).limit(50))):
                compiled = query.compile(conn.sync_connection,
                                         compile_kwargs={"literal_binds": True})
                plan = (await conn.execute(text(prefix + str(compiled)))).all()
                print(f"-- {name} {kind}:")
                for line in plan:
                    print("   ", line[-1])


def serve_child(args: argparse.Namespace) -> None:
    """The server: as `yizhan serve` runs (cli/serve.py), on the filled store."""
    from yizhan.app import bind, build
    from yizhan.app import serve as serve_app
    from yizhan.cli.common import run_loop
    from yizhan.cli.serve import tune_runtime
    from yizhan.runtime.logs import configure
    from yizhan.settings import Settings

    settings = Settings(data_dir=Path(args.child), database_url=args.database_url,
                        port=0, log_level="WARNING")
    configure(settings.log_level)
    sock = bind("127.0.0.1", 0)
    settings = settings.model_copy(update={"port": sock.getsockname()[1]})
    key = decode_key(os.environ["BENCH_MASTER_KEY"], "BENCH_MASTER_KEY")

    async def main() -> None:
        store = await open_bench_store(args.database_url, Path(args.child), key)
        yz = await build(settings, store=store)

        async def ready() -> None:
            tune_runtime()
            print(f"LISTENING http://127.0.0.1:{settings.port}", flush=True)

        await serve_app(yz, sock, ready)

    run_loop(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--others", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=60, help="measured rounds")
    parser.add_argument("--database-url")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve_child(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="yizhan-bench-console-"))
    key = new_key()
    try:
        async def prepare() -> Filled:
            if args.database_url:
                await fresh_schema(args.database_url)
            store = await open_bench_store(args.database_url, folder, key)
            try:
                await store.migrate()
                began = time.perf_counter()
                filled = await fill(store, args.records, args.others)
                if args.database_url:
                    await vacuum(args.database_url)
                print(f"filled {args.records:,} + {args.others:,} records in "
                      f"{time.perf_counter() - began:.0f} s", flush=True)
                if args.explain:
                    await explain(store, filled)
                return filled
            finally:
                await store.close()

        filled = asyncio.run(prepare())
        child = subprocess.Popen(
            [sys.executable, __file__, "--child", str(folder),
             *(("--database-url", args.database_url) if args.database_url else ())],
            env={**os.environ, "BENCH_MASTER_KEY": encode_key(key)}, text=True,
            stdout=subprocess.PIPE)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("LISTENING "):
                raise SystemExit(f"the server did not start: {line!r}")
            result = measure(line.split()[1], pages(filled), args.requests)
        finally:
            child.terminate()
            child.wait(30)
        store_name = "postgresql" if args.database_url else "sqlite"
        print("RESULT " + json.dumps({"bench": "console_pages", "store": store_name,
                                      "records": args.records, "others": args.others,
                                      "pages": result}))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
