"""Frequency control: decisions per second of each counter backend, and what it costs the
API's send rate, in one bounded run (loopback only).

    .venv/bin/python bench/frequency.py [--decisions 200000] [--rounds 2] [--duration 8]
                                        [--skip-api] [--redis-url redis://127.0.0.1:6379/0]

1. decisions in one process, each a verification code to a new number (4 checks: minute,
   hour and day of signature + number, the number's 40 a day), as intake asks them:
   - sql: the embedded counter on a fresh SQLite store, one message per `admit` call; the
     changed counters are persisted as the group commit does: one transaction in flight at
     a time (in the store's writer thread, `synchronous=FULL`) while decisions go on; the
     time counted ends when the last counter is on disk;
   - redis: 256 concurrent callers, one message per call; the counter's batcher puts what
     queued meanwhile into one Lua call (a fresh key prefix, deleted afterwards);
   targets: sql >= 50,000/s, redis >= 20,000/s;
2. the REST send rate with frequency control off and on (`YIZHAN_FREQUENCY_CONTROL`),
   alternating `--rounds` times, each a whole `bench/rest_send.py --duration D` run (its own
   server, data folder, warm-up and wrk); the cost is the median over rounds of
   1 - on / off; target: under 10 %.

Prints one `RESULT {json}` line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from yizhan.backends.redis_rates import RedisRateCounter  # noqa: E402
from yizhan.domain.model import AccountId, TemplateType  # noqa: E402
from yizhan.domain.rates import RateCheck, to_ms  # noqa: E402
from yizhan.policy.frequency import limits_for  # noqa: E402
from yizhan.storage.data_folder import KeySource  # noqa: E402
from yizhan.storage.rate_counters import SqlRateCounter  # noqa: E402
from yizhan.storage.sealing import new_key  # noqa: E402
from yizhan.storage.store import SqlStore  # noqa: E402

TARGETS = {"sql_per_s": 50_000, "redis_per_s": 20_000, "api_cost_pct": 10}


def checks(count: int) -> list[list[RateCheck]]:
    return [[limit.check for limit in limits_for(
        AccountId(1), "驿站", "SMS_1", TemplateType.VERIFICATION, f"+86138{n:08d}")]
        for n in range(count)]


async def sql_decisions(count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-freq-") as folder:
        store = SqlStore.open(f"sqlite+aiosqlite:///{folder}/bench.db",
                              master=KeySource(given=new_key()))
        await store.migrate()
        now = to_ms(datetime.now(UTC))
        counter = await SqlRateCounter.open(store, now)
        flush = counter.committing(store.accept)
        messages = checks(count)
        started = time.perf_counter()
        pending: asyncio.Task[None] | None = None
        for n, message in enumerate(messages, 1):
            answer = await counter.admit([message], now)
            assert answer == [None]
            if n % 256 == 0:  # as the group commit does: one commit in flight at a time
                if pending is None or pending.done():
                    pending = asyncio.create_task(flush([]))
                await asyncio.sleep(0)
        if pending is not None:
            await pending
        await flush([])
        elapsed = time.perf_counter() - started
        await counter.close()
        await store.close()
    return count / elapsed


async def redis_decisions(count: int, url: str, callers: int = 256) -> float:
    prefix = f"yizhan-bench:{uuid.uuid4().hex}:"
    counter = RedisRateCounter.connect(url, prefix)
    messages = checks(count)
    now = to_ms(datetime.now(UTC))

    async def caller(start: int) -> None:
        for message in messages[start::callers]:
            answer = await counter.admit([message], now)
            assert answer == [None]

    try:
        started = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        elapsed = time.perf_counter() - started
    finally:
        client = counter._client
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=10_000)]
        for i in range(0, len(keys), 10_000):
            await client.delete(*keys[i:i + 10_000])
        await counter.close()
    return count / elapsed


def rest_rate(enabled: bool, duration: int) -> float:
    env = dict(os.environ, YIZHAN_FREQUENCY_CONTROL="true" if enabled else "false")
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "rest_send.py"), "--duration",
                          str(duration)], capture_output=True, text=True, env=env,
                         timeout=600, check=False)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    if run.returncode != 0 or line is None:
        raise RuntimeError(f"rest_send.py failed ({run.returncode}): {run.stderr[-2000:]}")
    result = json.loads(line.removeprefix("RESULT "))
    rate = float(result["send_ok_rps"])
    print(f"  frequency control {'on ' if enabled else 'off'}: {rate:8.1f} sends/s "
          f"(ceiling {result['ceiling_rps']}, errors {result['send_errors_total']})",
          flush=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)  # as `yizhan serve` runs (cli.tune_runtime)
    result: dict[str, object] = {"bench": "frequency",
                                 "date": datetime.now(UTC).isoformat(timespec="seconds")}
    sql = asyncio.run(sql_decisions(args.decisions))
    print(f"sql   (embedded) decisions/s {sql:10.0f}   target {TARGETS['sql_per_s']}",
          flush=True)
    redis = asyncio.run(redis_decisions(args.decisions, args.redis_url))
    print(f"redis            decisions/s {redis:10.0f}   target {TARGETS['redis_per_s']}",
          flush=True)
    result.update(sql_per_s=round(sql), redis_per_s=round(redis))
    if not args.skip_api:
        print(f"REST sends, {args.rounds} round(s) of off/on, {args.duration}s each:",
              flush=True)
        off, on = [], []
        for _ in range(args.rounds):
            off.append(rest_rate(False, args.duration))
            on.append(rest_rate(True, args.duration))
        # Each round's pair ran back to back: the median of the pairs' costs is the least
        # disturbed by load that comes and goes on a shared machine.
        rounds = [100 * (1 - b / a) for a, b in zip(off, on, strict=True)]
        cost = statistics.median(rounds)
        print(f"frequency control costs {cost:.1f} % of the send rate (median of rounds "
              f"{', '.join(f'{r:.1f}' for r in rounds)} %; mean off "
              f"{statistics.mean(off):.0f}/s, on {statistics.mean(on):.0f}/s; "
              f"target < {TARGETS['api_cost_pct']} %)")
        result.update(api_off_per_s=[round(x, 1) for x in off],
                      api_on_per_s=[round(x, 1) for x in on],
                      api_cost_rounds_pct=[round(r, 1) for r in rounds],
                      api_cost_pct=round(cost, 1))
    result["targets"] = TARGETS
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
