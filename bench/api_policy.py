"""The API's send rate with the full policy chain against an empty one, in one process and
one run.

Run from the repository root:

    .venv/bin/python bench/api_policy.py [--segments 30] [--requests 1000] [--clients 64]

Builds the API stack the server runs (`yizhan.app.build`, role `api`, embedded SQLite with
group commit, `synchronous=FULL`, runtime tuned and uvloop as `yizhan serve` runs) on a
fresh data folder seeded with the demo account, and drives it through its ASGI entry point
(`FastPaths`) with SendSms requests signed in advance exactly as the v4 SDK signs them
(ACS3-HMAC-SHA256, one number each, a fresh number and nonce per request), `--clients` at
a time. Only the HTTP parsing of Granian is left out, which makes the chain's share look
larger, not smaller.

- **full**: the chains as shipped (`policy/chain.py`), with a 2,000-keyword platform list
  and a blacklist of 100,000 numbers, so the per-number checks have data to look at;
- **empty**: the request chain reduced to what building messages needs (reading the
  numbers, rendering the template) and no per-number check.

The two variants take turns on the same stack in short segments of `--requests` each (full
then empty, then empty then full, ...), so that both see the same heap, store and minute of
the machine: on this VM one segment's cost moves by ±20 % with the same code, and
separate stacks per round, measured minutes apart, read that noise as the chain's cost.
It prints each pair, then over all segments each variant's rate and CPU per send (both
threads) and the chain's cost, `1 - full / empty` (target: under 15 %), with the median
and quartiles of the pairs' costs. Every request must be answered OK, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from aliyun_send import acs3_request, code, phone
from policy_chain import synthetic_keywords
from rest_send import yizhan_command

from yizhan.app import build
from yizhan.cli.common import run_loop
from yizhan.cli.serve import tune_runtime
from yizhan.domain.model import BlacklistEntry, PhoneNumber
from yizhan.policy import chain, trail
from yizhan.settings import Settings

EMPTY_CHAIN = chain.Chain(trail.AD_HOC, ("numbers.format", "template.params"), ())


@contextmanager
def chains(intake: Any, empty: bool) -> Iterator[None]:
    """The empty variant swaps the intake's chain for one that only reads the numbers and
    renders the template."""
    saved = intake._policy
    if empty:
        intake._policy = EMPTY_CHAIN
    try:
        yield
    finally:
        intake._policy = saved


def scopes(info: dict[str, Any], count: int, offset: int,
           numbers_each: int = 1, spread: bool = False) -> list[dict[str, Any]]:
    """ASGI scopes of signed SendSms requests (empty bodies: all in the query)."""
    made = []
    for i in range(count):
        first = offset + i * numbers_each
        params = {"PhoneNumbers": ",".join(phone(first + n, spread)
                                           for n in range(numbers_each)),
                  "SignName": info["sign_name"], "TemplateCode": info["templates"]["verification"],
                  "TemplateParam": code(offset + i)}
        raw = acs3_request(8080, info["access_key_id"], info["access_key_secret"], params)
        head = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
        target = head[0].split(b" ")[1]
        path, _, query = target.partition(b"?")
        headers = [(k.lower(), v) for k, v in (line.split(b": ", 1) for line in head[1:])]
        made.append({"type": "http", "method": "POST", "path": path.decode(),
                     "raw_path": path, "query_string": query, "headers": headers,
                     "http_version": "1.1", "scheme": "http", "root_path": "",
                     "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000)})
    return made


async def api_stack(folder: Path) -> tuple[dict[str, Any], Any]:
    """The demo account (`yizhan demo --json`) and an API-role stack on `folder`."""
    demo = await asyncio.to_thread(
        subprocess.run, [*yizhan_command(), "demo", "--data-dir", str(folder), "--json"],
        capture_output=True, text=True, check=True, timeout=120)
    info = json.loads(demo.stdout.strip().splitlines()[-1])
    settings = Settings(data_dir=folder, role="api", api_rate_limit=0, log_level="WARNING")
    return info, await build(settings)


async def run(segments: int, requests: int, clients: int) -> dict[str, list[dict[str, float]]]:
    """One stack, the variants interleaved in short segments (full, empty, empty, full, ...):
    both see the same heap, store and minute of the machine, so what differs between them
    is the chain."""
    folder = Path(tempfile.mkdtemp(prefix="yizhan-bench-policy-"))
    try:
        info, yz = await api_stack(folder)
        now = yz.clock.now()
        await yz.store.add_keywords(None, synthetic_keywords(2000), now)
        await yz.store.add_blacklisted([BlacklistEntry(PhoneNumber(f"+86137{n:08d}"), (),
                                                       "bench", now) for n in range(100_000)])
        offsets = iter(range(0, 100_000_000, requests))
        batches = [scopes(info, requests, next(offsets)) for _ in range(2 * segments + 2)]
        tune_runtime()  # as `yizhan serve` does, after start-up's objects exist
        results: dict[str, list[dict[str, float]]] = {"full": [], "empty": []}
        await yz.pipeline.start()
        try:
            for variant in ("full", "empty"):  # warm-up, not counted
                with chains(yz.intake, variant == "empty"):
                    await drive(yz.api, batches.pop(), clients)
            for n in range(segments):
                order = ("full", "empty") if n % 2 == 0 else ("empty", "full")
                for variant in order:
                    with chains(yz.intake, variant == "empty"):
                        cpu0, wall0 = time.process_time(), time.perf_counter()
                        loop0 = time.thread_time()
                        await drive(yz.api, batches.pop(), clients)
                        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                        loop = time.thread_time() - loop0
                    results[variant].append({"per_s": requests / wall,
                                             "cpu_us": 1e6 * cpu / requests,
                                             "loop_us": 1e6 * loop / requests})
        finally:
            await yz.pipeline.stop()
            await yz.store.close()
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def drive(api: Any, items: list[dict[str, Any]], clients: int) -> None:
    queue = iter(items)
    failures: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def client() -> None:
        for scope in queue:
            sent: list[dict[str, Any]] = []

            async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
                sent.append(message)

            await api(dict(scope), receive, send)
            body = sent[-1]["body"]
            if b'"Code":"OK"' not in body:
                failures.append(body)

    await asyncio.gather(*(client() for _ in range(clients)))
    if failures:
        raise SystemExit(f"{len(failures)} requests refused; first: {failures[0][:300]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=30,
                        help="segments per variant, interleaved")
    parser.add_argument("--requests", type=int, default=1000, help="requests per segment")
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}

    async def measure() -> None:
        results.update(await run(args.segments, args.requests, args.clients))

    run_loop(measure())  # uvloop, as the server
    pooled = {v: {"per_s": len(rs) / sum(1 / r["per_s"] for r in rs),
                  "cpu_us": statistics.fmean(r["cpu_us"] for r in rs),
                  "loop_us": statistics.fmean(r["loop_us"] for r in rs)}
              for v, rs in results.items()}
    full, empty = pooled["full"], pooled["empty"]
    cost = 1 - full["per_s"] / empty["per_s"]
    cpu_cost = 1 - empty["cpu_us"] / full["cpu_us"]
    pairs = list(zip(results["full"], results["empty"], strict=True))
    paired = [1 - f["per_s"] / e["per_s"] for f, e in pairs]
    cpu_paired = [1 - e["cpu_us"] / f["cpu_us"] for f, e in pairs]
    for n, (f, e) in enumerate(pairs):
        print(f"segment {n + 1:2}: full {f['per_s']:6.0f}/s {f['cpu_us']:6.1f} µs, "
              f"empty {e['per_s']:6.0f}/s {e['cpu_us']:6.1f} µs, "
              f"cost {100 * paired[n]:5.1f} % (CPU {100 * cpu_paired[n]:5.1f} %)")
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
    print(f"\nall segments: full {full['per_s']:.0f} sends/s at {full['cpu_us']:.1f} µs CPU "
          f"({full['loop_us']:.1f} in the event loop), empty {empty['per_s']:.0f} sends/s at "
          f"{empty['cpu_us']:.1f} µs CPU ({empty['loop_us']:.1f})")
    print(f"the chain costs {100 * cost:.1f} % of the send rate (target < 15 %), "
          f"{100 * cpu_cost:.1f} % of the CPU per send; median of the pairs "
          f"{100 * statistics.median(paired):.1f} % (quartiles {100 * quartiles[0]:.1f}-"
          f"{100 * quartiles[2]:.1f} %), CPU {100 * statistics.median(cpu_paired):.1f} %")
    print("RESULT " + json.dumps({
        "bench": "api_policy", "segments": args.segments, "requests": args.requests,
        "full_per_s": round(full["per_s"]), "empty_per_s": round(empty["per_s"]),
        "full_cpu_us": round(full["cpu_us"], 1), "empty_cpu_us": round(empty["cpu_us"], 1),
        "full_loop_us": round(full["loop_us"], 1), "empty_loop_us": round(empty["loop_us"], 1),
        "cost_pct": round(100 * cost, 1), "cpu_cost_pct": round(100 * cpu_cost, 1),
        "paired_cost_pct": round(100 * statistics.median(paired), 1),
        "paired_cpu_cost_pct": round(100 * statistics.median(cpu_paired), 1)}))


if __name__ == "__main__":
    main()
