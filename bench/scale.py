"""Scale-out end to end: N API and M dispatch processes, on SQLite or PostgreSQL + Redis.

Run from the repository root (on a shared machine, one benchmark at a time):

    .venv/bin/python bench/scale.py --store postgresql --api 2 --dispatch 2 \
        [--rates 500,1000,2000] [--numbers 1] [--duration 8] [--connections 64]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
        [--redis redis://127.0.0.1:6379/11]
    .venv/bin/python bench/scale.py --store sqlite --embedded ...      # one `--role all`
    .venv/bin/python bench/scale.py --store sqlite --api 1 --dispatch 1 ...   # split

The steps are `bench/e2e.py`'s (`run_step`: wrk open loop, paced with `delay()`, one wrk per
API process at its share of the rate; the backlog sampled twice a second from the store;
sustained = the backlog does not grow over the second half and drains within 3 s), with:

- the SMPP simulator in its own process (`yizhan simulator`, receipts after 0.2 s), reached
  through a channel file (one `smpp` channel, `bench/priority.py`'s) by every process that
  dispatches;
- on PostgreSQL a database of its own (`CREATE DATABASE`, dropped after), every process with
  its own data folder, `rate_backend = "redis"` on a Redis database number of its own
  (flushed before and after; only that number); on SQLite one data folder for all;
- per step, the CPU of each process (user + system, from /proc) and per role, also of the
  simulator, of the PostgreSQL backends connected to the run's database and of Redis;
- `carrier_per_s`: messages the carrier had accepted when wrk stopped, per second of load
  (the 1000-number figure: `--numbers 1000`);
- over the whole run (from the servers' start to after they stopped, so PostgreSQL has
  flushed its statistics), per message accepted: the run database's `pg_stat_database`
  deltas (xact_commit, tup_inserted, tup_updated, tup_deleted), WAL bytes
  (`pg_current_wal_lsn`: server-wide, so other databases' writes count too) and Redis
  calls per command (`INFO commandstats`: server-wide too). The bench's own sampling
  queries are a few read transactions a second.

No CPU pinning: with several server processes, PostgreSQL, Redis, the simulator and wrk on
two cores, the scheduler places them. It prints one line per step and `RESULT {json}`.
Exit status: 0 when the run worked (whatever the figures), 1 when it failed, 2 without wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis

sys.path.insert(0, str(Path(__file__).parent))  # the bench folder is not a package
from priority import CHANNELS
from rest_send import HOST, cpu_seconds, free_port, stop_server, wait_healthy, yizhan_command
from wakeup import start_simulator

from e2e import WRK_LUA, Store, load_arguments, print_server_logs, run_step

PG_COUNTERS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted")


def log(msg: str) -> None:
    print(f"[scale] {msg}", flush=True)


def plain_dsn(url: str) -> str:
    """asyncpg's DSN for SQLAlchemy's URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgStore:
    """`e2e.Backlog` on PostgreSQL, plus the database's write counters (own connection, own
    event loop: the steps are synchronous)."""

    def __init__(self, url: str, database: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.database = database
        self.conn = self.loop.run_until_complete(asyncpg.connect(plain_dsn(url)))

    def _row(self, sql: str, *params: Any) -> Any:
        return self.loop.run_until_complete(self.conn.fetchrow(sql, *params))

    def counts(self, since: int) -> tuple[int, int]:
        row = self._row("SELECT count(*), count(*) FILTER (WHERE status = 'waiting') "
                        "FROM messages WHERE id >= $1", since)
        return int(row[0]), int(row[1])

    def submitted(self, since: int) -> int:
        return int(self._row("SELECT count(*) FROM messages WHERE id >= $1 "
                             "AND submitted_at IS NOT NULL", since)[0])

    def submit_latencies(self, since: int, until: int) -> list[float]:
        rows = self.loop.run_until_complete(self.conn.fetch(
            "SELECT extract(epoch FROM submitted_at - created_at) * 1000.0 FROM messages "
            "WHERE id >= $1 AND id < $2 AND submitted_at IS NOT NULL", since, until))
        return sorted(float(r[0]) for r in rows)

    def writes(self) -> dict[str, int]:
        """The run database's counters and the server's WAL position (bytes)."""
        row = self._row(f"SELECT {', '.join(PG_COUNTERS)}, pg_current_wal_lsn() - '0/0' "
                        "FROM pg_stat_database WHERE datname = $1", self.database)
        return {**{name: int(row[n]) for n, name in enumerate(PG_COUNTERS)},
                "wal_bytes": int(row[len(PG_COUNTERS)])}

    def backend_pids(self) -> list[int]:
        rows = self.loop.run_until_complete(self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> "
            "pg_backend_pid()", self.database))
        return [int(r[0]) for r in rows]

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def redis_calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@contextmanager
def postgres_database(url: str) -> Iterator[tuple[str, str]]:
    """A database of its own on the server of `url`: (its URL, its name); dropped after."""
    name = f"yizhan_scale_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}", name
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def roles_of(args: argparse.Namespace) -> list[str]:
    return ["all"] if args.embedded else ["api"] * args.api + ["dispatch"] * args.dispatch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--embedded", action="store_true", help="one `--role all` process")
    parser.add_argument("--api", type=int, default=1, help="`--role api` processes")
    parser.add_argument("--dispatch", type=int, default=1, help="`--role dispatch` processes")
    load_arguments(parser, rates="250,500,1000,2000", numbers=1)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11",
                        help="Redis URL with a database number of its own (flushed)")
    args = parser.parse_args()
    if args.store == "sqlite" and args.api > 1:
        parser.error("SQLite keeps one accepting process (rate_backend = \"sql\")")
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="yizhan-scale-"))
    try:
        if args.store == "postgresql":
            with postgres_database(args.postgres) as (url, name):
                return run(args, wrk, work, url, name)
        return run(args, wrk, work, None, None)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, wrk: str, work: Path, url: str | None,
        database: str | None) -> int:
    simulator, sim_port = start_simulator(0.2)
    channels = work / "channels.toml"
    channels.write_text(CHANNELS.format(port=sim_port))
    env = dict(os.environ, YIZHAN_LOG_LEVEL="WARNING", YIZHAN_CHANNELS_FILE=str(channels))
    cache = redis.Redis.from_url(args.redis)
    if url is not None:
        cache.flushdb()
        env.update(YIZHAN_DATABASE_URL=url, YIZHAN_RATE_BACKEND="redis",
                   YIZHAN_REDIS_URL=args.redis,
                   YIZHAN_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    roles = roles_of(args)
    folders = [work / (f"data{n}" if url is not None else "data") for n in range(len(roles))]
    procs: list[subprocess.Popen[bytes]] = []
    pg: PgStore | None = None
    try:
        demo = json.loads(subprocess.run(
            [*yizhan_command(), "demo", "--data-dir", str(folders[0]), "--json"], check=True,
            capture_output=True, text=True, env=env, timeout=120).stdout.splitlines()[-1])
        token = base64.b64encode(
            f"{demo['access_key_id']}:{demo['access_key_secret']}".encode()).decode()
        bases = []
        for n, role in enumerate(roles):
            cmd = [*yizhan_command(), "serve", "--data-dir", str(folders[n]), "--role", role]
            if role != "dispatch":
                port = free_port()
                cmd += ["--host", HOST, "--port", str(port)]
                bases.append(f"http://{HOST}:{port}")
            with (work / f"server{n}.log").open("wb") as out:
                procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                              env=env))
            if role != "dispatch":  # one at a time: the first runs the migrations
                wait_healthy(f"{bases[-1]}/healthz", procs[-1], timeout=60)
        time.sleep(2.0)  # the dispatch processes bind their channels
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a server exited at its start")
        lua = work / "e2e.lua"
        lua.write_text(WRK_LUA)
        wrk_args = [f"Basic {token}", demo["sign_name"], demo["templates"]["verification"]]
        if url is not None and database is not None:
            pg = PgStore(url, database)
            store: Any = pg
        else:
            store = Store(folders[0] / "yizhan.db")
        writes_before = pg.writes() if pg else {}
        calls_before = redis_calls(cache) if url is not None else {}
        log(f"{args.store}, processes {' + '.join(roles)}; {args.numbers} numbers per "
            f"request, {args.connections} connections, {args.duration}s per rate; "
            f"simulator in its own process on :{sim_port}")
        steps = []
        pids = [p.pid for p in procs]
        for n, offered in enumerate(args.rates):
            named = {f"{role}{i}": pid for i, (role, pid) in enumerate(zip(roles, pids,
                                                                             strict=True))}
            named["simulator"] = simulator.pid
            pg_pids = pg.backend_pids() if pg else []
            before = {k: cpu_seconds(v) or 0.0 for k, v in named.items()}
            pg_before = sum(cpu_seconds(p) or 0.0 for p in pg_pids)
            redis_before = redis_cpu(cache) if url is not None else 0.0
            step = run_step(args, wrk, None, lua, bases, wrk_args, offered, store,
                            n * 5_000_000, pids)
            cpu = {k: (cpu_seconds(v) or 0.0) - before[k] for k, v in named.items()}
            if pg:
                cpu["postgresql"] = sum(cpu_seconds(p) or 0.0 for p in pg_pids) - pg_before
                cpu["redis"] = redis_cpu(cache) - redis_before
            wall = args.duration + (step.drain_s if step.drain_s != float("inf") else 10)
            accepted = step.accepted_per_s * args.duration
            per_role = {role: sum(v for k, v in cpu.items() if k.startswith(role))
                        for role in [*dict.fromkeys(roles), "simulator", "postgresql", "redis"]
                        if any(k.startswith(role) for k in cpu)}
            steps.append({**asdict(step),
                          "cpu_percent": {k: round(100 * v / wall) for k, v in cpu.items()},
                          "cpu_us_per_message_by_role": {
                              k: round(v * 1e6 / max(accepted, 1)) for k, v in per_role.items()}})
            log(f"offered {offered:>6,.0f}/s: accepted {step.accepted_per_s:>7,.0f}/s, at the "
                f"carrier during load {step.carrier_per_s:>7,.0f}/s, backlog growth "
                f"{step.backlog_growth_per_s:>+7,.0f}/s, drained in {step.drain_s:.1f}s, "
                f"accept->submit p50 {step.submit_p50_ms:.0f} ms p99 "
                f"{step.submit_p99_ms:.0f} ms, API p99 {step.api_p99_ms:.0f} ms, errors "
                f"{step.errors}: {'sustained' if step.sustained else 'NOT sustained'}"
                + (f"; first refusal: {step.error_sample}" if step.errors else ""))
            log("  CPU % of one core: " + ", ".join(
                f"{k} {v}" for k, v in steps[-1]["cpu_percent"].items()) +
                "; µs/msg by role: " + ", ".join(
                f"{k} {v}" for k, v in steps[-1]["cpu_us_per_message_by_role"].items()))
        for proc in procs:
            log(f"server {proc.pid}: {stop_server(proc)}")
        total = store.counts(0)[0]
        per_message: dict[str, float] = {}
        if pg:
            time.sleep(1.0)  # the servers' backends have ended and flushed their statistics
            after = pg.writes()
            per_message = {k: round((after[k] - writes_before[k]) / max(total, 1), 2)
                           for k in after}
            calls = redis_calls(cache)
            redis_per = {k: round((v - calls_before.get(k, 0)) / max(total, 1), 2)
                         for k, v in calls.items() if v != calls_before.get(k, 0)}
            per_message["redis_calls"] = round(sum(redis_per.values()), 2)
            log(f"over the run, {total:,} messages; per message: PostgreSQL " + ", ".join(
                f"{k} {v}" for k, v in per_message.items() if k != "redis_calls") +
                f"; Redis calls {per_message['redis_calls']} ({redis_per})")
        best = max((s["accepted_per_s"] for s in steps if s["sustained"]), default=0.0)
        log(f"highest sustained rate: {best:,.0f}/s; best at the carrier during load: "
            f"{max(s['carrier_per_s'] for s in steps):,.0f}/s")
        print("RESULT " + json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "store": args.store,
            "processes": roles, "numbers": args.numbers, "best_sustained": round(best),
            "per_message": per_message, "steps": steps}))
        return 0
    except Exception as exc:
        log(f"failed: {exc!r}")
        print_server_logs(work)
        return 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                stop_server(proc)
        simulator.terminate()
        simulator.wait(10)
        if pg:
            pg.close()
        if url is not None:
            cache.flushdb()
        cache.close()


if __name__ == "__main__":
    sys.exit(main())
