"""Accept-to-carrier latency, split roles against the embedded process, in the same run.

Run from the repository root (on a shared machine, one benchmark at a time):

    .venv/bin/python bench/wakeup.py [--runs 5] [--rate 20] [--duration 10]
                                     [--poll 1.0] [--modes embedded,split]
                                     [--postgres postgresql+asyncpg://postgres@127.0.0.1/test]

What it does (loopback only):

1. `yizhan simulator` in its own process (receipts on, after `--delay` seconds), the
   carrier both modes submit to through a channel file (`kind = "smpp"`);
2. per run and mode, alternating the order from run to run: a fresh data folder seeded with
   `yizhan demo --json`, then `yizhan serve` as users run it: `embedded` one `--role all`
   process; `split` an `--role api` and an `--role dispatch` process on that folder, the
   dispatcher polling every `--poll` seconds (the default: 1 s); `pg-split` and `pg-all` the
   same on a fresh PostgreSQL database made on the server of `--postgres` (dropped after);
3. an open loop of one-number sends (`POST /v1/messages`, each to its own number) at `--rate`
   a second for `--duration` seconds; once every message has left, the accept-to-carrier
   time of each from the records: `created_at` (accepted) to `submitted_at` (the carrier
   answered the submit_sm);
4. per run and mode p50 and p99; at the end, per mode, the median over the runs of each,
   and the median of the per-run p50 ratios of each mode to embedded (issue 20: within 2x).

It prints one line per run and mode, the medians, and `RESULT {json}` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).parent))  # the bench folder is not a package
from rest_send import HOST, free_port, stop_server, wait_healthy, yizhan_command

CHANNELS = """\
[[channel]]
name = "sim"
kind = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "bench"
password = "bench"
window = 100

[[route]]
name = "everything"
channels = ["sim"]
"""


def log(msg: str) -> None:
    print(f"[wakeup] {msg}", flush=True)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def start_simulator(delay: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([*yizhan_command(), "simulator", "--port", "0", "--delay",
                             str(delay), "--system-id", "bench", "--password", "bench"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if found is None:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line}")
    return proc, int(found.group(1))


async def send_open_loop(base: str, auth: tuple[str, str], demo: dict[str, object],
                         rate: float, duration: float, offset: int) -> tuple[int, int]:
    """One-number sends at `rate` a second, each on its own schedule (open loop): (accepted,
    refused or failed)."""
    templates = demo["templates"]
    assert isinstance(templates, dict)
    ok = bad = 0

    async def one(client: httpx.AsyncClient, n: int) -> None:
        nonlocal ok, bad
        try:
            answer = await client.post("/v1/messages", json={
                "phone_numbers": [f"139{offset + n:08d}"], "sign_name": demo["sign_name"],
                "template_code": templates["verification"], "template_param": {"code": "1"}})
            ok, bad = (ok + 1, bad) if answer.status_code == 200 else (ok, bad + 1)
        except httpx.HTTPError:
            bad += 1

    async with httpx.AsyncClient(base_url=base, auth=auth, timeout=10) as client:
        tasks = []
        started = time.monotonic()
        for n in range(int(rate * duration)):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, n)))
        await asyncio.gather(*tasks)
    return ok, bad


def latencies(db: Path | str, expected: int, wait: float = 60) -> list[float]:
    """Accept-to-carrier milliseconds of every message, once all have left (`db`: the
    SQLite file, or a PostgreSQL URL)."""
    deadline = time.monotonic() + wait
    while True:
        values = (asyncio.run(_pg_latencies(db)) if isinstance(db, str)
                  else _sqlite_latencies(db))
        if len(values) >= expected or time.monotonic() > deadline:
            return values
        time.sleep(0.2)


def _sqlite_latencies(db: Path) -> list[float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return [r[0] for r in conn.execute(
            "SELECT (julianday(submitted_at) - julianday(created_at)) * 86400000.0 "
            "FROM messages WHERE submitted_at IS NOT NULL")]
    finally:
        conn.close()


async def _pg_latencies(url: str) -> list[float]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [float(r[0]) for r in await conn.execute(text(
                "SELECT EXTRACT(EPOCH FROM (submitted_at - created_at)) * 1000 "
                "FROM messages WHERE submitted_at IS NOT NULL"))]
    finally:
        await engine.dispose()


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def run_mode(mode: str, args: argparse.Namespace, sim_port: int, work: Path,
             offset: int) -> dict[str, float]:
    data = work / mode
    channels = work / "channels.toml"
    channels.write_text(CHANNELS.format(port=sim_port))
    env = dict(os.environ, YIZHAN_LOG_LEVEL="WARNING", YIZHAN_CHANNELS_FILE=str(channels),
               YIZHAN_DISPATCH_POLL_SECONDS=str(args.poll))
    database: str | None = None
    if mode.startswith("pg-"):
        name = f"yizhan_wakeup_bench_{os.getpid()}_{offset}"
        asyncio.run(_admin(args.postgres, f'CREATE DATABASE "{name}"'))
        database = make_url(args.postgres).set(database=name).render_as_string(
            hide_password=False)
        env.update(YIZHAN_DATABASE_URL=database,
                   YIZHAN_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    demo = json.loads(subprocess.run(
        [*yizhan_command(), "demo", "--data-dir", str(data), "--json"], check=True,
        capture_output=True, text=True, env=env, timeout=120).stdout.splitlines()[-1])
    port = free_port()
    serve = [*yizhan_command(), "serve", "--data-dir", str(data), "--host", HOST]
    roles = ([["--port", str(port), "--role", "all"]] if mode in ("embedded", "pg-all") else
             [["--port", str(port), "--role", "api"], ["--role", "dispatch"]])
    procs = []
    try:
        for n, role in enumerate(roles):
            with (work / f"{mode}{n}.log").open("wb") as out:
                procs.append(subprocess.Popen([*serve, *role], stdout=out,
                                              stderr=subprocess.STDOUT, env=env))
        base = f"http://{HOST}:{port}"
        wait_healthy(f"{base}/healthz", procs[0], timeout=60)
        time.sleep(2.0)  # the dispatching process binds its channel
        ok, bad = asyncio.run(send_open_loop(
            base, (demo["access_key_id"], demo["access_key_secret"]), demo, args.rate,
            args.duration, offset))
        values = latencies(database or data / "yizhan.db", ok)
    finally:
        for proc in procs:
            stop_server(proc)
        shutil.rmtree(data, ignore_errors=True)
        if database is not None:
            asyncio.run(_admin(args.postgres, f'DROP DATABASE "{make_url(database).database}" '
                               "WITH (FORCE)"))
    return {"accepted": ok, "refused": bad, "left": len(values),
            "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20.0, help="one-number sends a second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--poll", type=float, default=1.0, help="dispatch_poll_seconds")
    parser.add_argument("--delay", type=float, default=0.2, help="the simulator's receipt "
                        "delay")
    parser.add_argument("--modes", default="embedded,split",
                        help="of embedded, split, pg-split, pg-all")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1/test",
                        help="a PostgreSQL server's URL for the pg- modes (a database is made "
                        "there per run)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    sim, sim_port = start_simulator(args.delay)
    work = Path(tempfile.mkdtemp(prefix="yizhan-wakeup-"))
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    try:
        log(f"{args.rate:g} one-number sends/s for {args.duration:g}s per run, poll "
            f"{args.poll:g}s, simulator on :{sim_port} (own process, receipts after "
            f"{args.delay:g}s)")
        for run in range(args.runs):
            for mode in (modes if run % 2 == 0 else modes[::-1]):
                result = run_mode(mode, args, sim_port, work, run * 1_000_000)
                results[mode].append(result)
                log(f"run {run + 1} {mode:>8}: accepted {result['accepted']:.0f} (refused "
                    f"{result['refused']:.0f}), left {result['left']:.0f}; accept->carrier "
                    f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")
    finally:
        sim.terminate()
        sim.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    summary: dict[str, object] = {"rate": args.rate, "duration": args.duration,
                                  "poll": args.poll, "runs": args.runs}
    for mode in modes:
        p50 = statistics.median(r["p50_ms"] for r in results[mode])
        p99 = statistics.median(r["p99_ms"] for r in results[mode])
        summary[mode] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                         "runs": results[mode]}
        log(f"{mode:>8}: median over {args.runs} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    for mode in modes if "embedded" in results else ():
        if mode == "embedded":
            continue
        ratio = statistics.median(s["p50_ms"] / e["p50_ms"] for s, e in
                                  zip(results[mode], results["embedded"], strict=True))
        summary[f"{mode}_over_embedded_p50"] = round(ratio, 2)
        log(f"{mode} / embedded p50: median of the per-run ratios {ratio:.2f} (target <= 2)")
    print("RESULT " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
