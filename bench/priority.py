"""Verification codes among bulk, acceptance beside a backlog, reads beside delivery
(issue 14, points 8 and 9), against a real server and an SMPP simulator in its own process.

    .venv/bin/python bench/priority.py [--phase codes,share,reads] [--duration 30]
                                       [--store-messages 1000000]

Every phase starts `yizhan simulator` (receipts after 0.2 s) in its own process and `yizhan
serve` on a fresh data folder seeded with `yizhan demo --json`, whose channel file sends
everything over one SMPP bind to that simulator. Clients are this script (httpx, asyncio;
the official v4 SDK for signed reads). Figures come from the answers and from the store's
records (read-only: created_at is the acceptance, submitted_at the carrier's submit_sm_resp).

- `codes` (point 8): `--bulk-clients` clients post 1000-number requests (notification
  template: bulk by size) as fast as they are answered, for `--duration` seconds; a
  throttled one waits its `Retry-After` (at most 1 s) and tries again. Meanwhile one-number
  verification codes go out at `--code-rate`/s. Reported: each code's accept -> carrier
  time (p50/p99; target p99 < 1 s), and the numbers that reached the carrier during the load
  against those accepted during it (target >= 80 %). The same load runs first against the
  old behaviour in the same run (`YIZHAN_DISPATCH_*_OFFSET_SECONDS=0`: rank = due time,
  first in first out; `YIZHAN_BACKLOG_MAX_SECONDS=0`: no backpressure) and the ratios are
  printed.
- `share` (point 8): backpressure off, so a backlog can build. One-number sends by
  `--clients` closed-loop clients for `--share-seconds`, beside an idle store; then bulk
  requests until `--backlog` messages wait; then the same one-number sends while delivery
  works through the backlog. Reported: both rates and their ratio.
- `reads` (point 9): the store gets `--store-messages` delivered messages first (a direct
  bulk insert, 1000 per BizId, spread over the last days), then reads run one after
  another, idle and then beside saturating 1000-number load (delivery running):
  QuerySendDetails and QuerySendStatistics through the v4 SDK (signed, client signing time
  included), `GET /v1/messages?biz_id=` (page 3 of 20) and `?phone_number=` over REST.
  Target: p99 < 50 ms with delivery running.

Prints one line per figure and `RESULT {json}` at the end. Exit 0 when the run worked
(whatever the figures), 1 when it failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))  # the bench folder is not a package
from rest_send import HOST, free_port, log, stop_server, wait_healthy, yizhan_command

OLD_ORDER = {"YIZHAN_DISPATCH_NOTIFICATION_OFFSET_SECONDS": "0",
             "YIZHAN_DISPATCH_BULK_OFFSET_SECONDS": "0", "YIZHAN_BACKLOG_MAX_SECONDS": "0"}
CHANNELS = """[[channel]]
name = "carrier"
kind = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "bench"
password = "bench"
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def sql_time(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class Numbers:
    """Mainland numbers never used before in this run (frequency rules stay out of it)."""

    def __init__(self) -> None:
        self._next = random.randrange(10_000_000, 50_000_000)

    def take(self, count: int) -> list[str]:
        first, self._next = self._next, self._next + count
        return [f"139{n:08d}" for n in range(first, first + count)]


class Server:
    """A seeded data folder, the SMPP simulator process and `yizhan serve` on them."""

    def __init__(self, work: Path, env: dict[str, str], prepare: Any = None) -> None:
        self.data = work / "data"
        self.env = dict(os.environ, YIZHAN_LOG_LEVEL="WARNING", **env)
        demo = subprocess.run([*yizhan_command(), "demo", "--data-dir", str(self.data),
                               "--json"], capture_output=True, text=True, env=self.env,
                              timeout=120, check=True)
        self.info = json.loads(next(line for line in reversed(demo.stdout.splitlines())
                                    if line.startswith("{")))
        if prepare is not None:
            prepare(self.data / "yizhan.db", self.info)
        self.simulator = subprocess.Popen(
            [*yizhan_command(), "simulator", "--port", "0", "--delay", "0.2",
             "--system-id", "bench", "--password", "bench"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
        assert self.simulator.stdout is not None
        line = self.simulator.stdout.readline().decode()
        found = re.search(r":(\d+) ", line)
        if found is None:
            raise RuntimeError(f"simulator did not start: {line}")
        channels = work / "channels.toml"
        channels.write_text(CHANNELS.format(port=found.group(1)))
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = (work / "server.log").open("wb")
        self.process = subprocess.Popen(
            [*yizhan_command(), "serve", "--data-dir", str(self.data), "--host", HOST,
             "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(self.env, YIZHAN_CHANNELS_FILE=str(channels)))
        wait_healthy(f"{self.base}/healthz", self.process, timeout=120)
        key = f"{self.info['access_key_id']}:{self.info['access_key_secret']}"
        self.auth = {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}
        self.db = sqlite3.connect(f"file:{self.data / 'yizhan.db'}?mode=ro", uri=True,
                                  timeout=10, check_same_thread=False)

    def body(self, numbers: list[str], kind: str) -> bytes:
        return json.dumps({"phone_numbers": numbers, "sign_name": self.info["sign_name"],
                           "template_code": self.info["templates"][kind],
                           "template_param": {"code": "1234", "order": "A1"}}).encode()

    def waiting(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def drain(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.waiting() and time.monotonic() < deadline:
            time.sleep(0.5)

    def stop(self) -> None:
        self.db.close()
        log(f"server {stop_server(self.process)}; simulator {stop_server(self.simulator)}")
        self.log.close()


@contextmanager
def server(env: dict[str, str], prepare: Any = None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="yizhan-priority-") as work:
        started = Server(Path(work), env, prepare)
        try:
            yield started
        finally:
            started.stop()


async def bulk_load(srv: Server, numbers: Numbers, clients: int, stop: asyncio.Event,
                    counts: dict[str, int]) -> None:
    """1000-number requests as fast as they are answered; a throttled one waits its hint."""
    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            answer = await http.post("/v1/messages", content=srv.body(numbers.take(1000),
                                                                      "notification"))
            code = answer.json().get("code")
            counts[code] = counts.get(code, 0) + 1
            if code == "Throttling":
                await asyncio.sleep(min(1.0, float(answer.headers.get("Retry-After", 1))))

    async with httpx.AsyncClient(base_url=srv.base, headers=srv.auth, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


async def paced_codes(srv: Server, numbers: Numbers, duration: float, rate: float,
                      sent: list[str], refused: dict[str, int]) -> None:
    """One-number verification sends at `rate` a second for `duration` seconds, each to a
    new number: the BizIds accepted go to `sent`, the refusals are counted by code."""
    async with httpx.AsyncClient(base_url=srv.base, headers=srv.auth, timeout=60) as http:
        async def one(number: str) -> None:
            answer = (await http.post("/v1/messages",
                                      content=srv.body([number], "verification"))).json()
            if answer["code"] == "OK":
                sent.append(answer["biz_id"])
            else:
                refused[answer["code"]] = refused.get(answer["code"], 0) + 1

        pending = []
        began = time.monotonic()
        for i in range(int(duration * rate)):
            await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            pending.append(asyncio.create_task(one(numbers.take(1)[0])))
        await asyncio.gather(*pending)


async def codes_phase(srv: Server, args: argparse.Namespace) -> dict[str, Any]:
    numbers, stop = Numbers(), asyncio.Event()
    counts: dict[str, int] = {}
    sent: list[str] = []
    refused: dict[str, int] = {}
    start = datetime.now(UTC)
    load = asyncio.create_task(bulk_load(srv, numbers, args.bulk_clients, stop, counts))
    await paced_codes(srv, numbers, args.duration, args.code_rate, sent, refused)
    end = datetime.now(UTC)
    stop.set()
    await load
    backlog_at_end = srv.waiting()
    await asyncio.to_thread(srv.drain)
    marks = ",".join("?" * len(sent))
    waits = [r[0] for r in srv.db.execute(
        "SELECT (julianday(submitted_at) - julianday(created_at)) * 86400.0 FROM messages "
        f"WHERE biz_id IN ({marks}) AND submitted_at IS NOT NULL", sent)]
    accepted, reached = srv.db.execute(
        "SELECT sum(created_at >= ? AND created_at < ?), "
        "sum(submitted_at >= ? AND submitted_at < ?) FROM messages WHERE status <> 'failed'",
        (sql_time(start), sql_time(end)) * 2).fetchone()
    result = {"codes_sent": len(sent), "codes_refused": refused,
              "code_wait_p50_s": percentile(waits, 0.5), "code_wait_p99_s": percentile(waits, 0.99),
              "codes_submitted": len(waits), "bulk_answers": counts,
              "accepted_during_load": accepted or 0, "reached_carrier_during_load": reached or 0,
              "reached_share": (reached or 0) / accepted if accepted else float("nan"),
              "backlog_at_end": backlog_at_end}
    log(f"  codes: {len(sent)} sent ({refused or 'none refused'}), accept->carrier p50 "
        f"{result['code_wait_p50_s']:.3f} s p99 {result['code_wait_p99_s']:.3f} s; bulk "
        f"answers {counts}; numbers accepted during load {accepted}, reached the carrier "
        f"{reached} ({result['reached_share']:.0%}); backlog at the end {backlog_at_end}")
    return result


async def one_number_rate(srv: Server, clients: int, seconds: float) -> dict[str, float]:
    """Closed-loop one-number sends: accepted per second and the answer time."""
    numbers, latencies = Numbers(), []
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            began = time.perf_counter()
            answer = await http.post("/v1/messages",
                                     content=srv.body(numbers.take(1), "verification"))
            if answer.json()["code"] == "OK":
                latencies.append(time.perf_counter() - began)

    async with httpx.AsyncClient(base_url=srv.base, headers=srv.auth, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return {"per_s": len(latencies) / seconds, "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


async def share_phase(srv: Server, args: argparse.Namespace) -> dict[str, Any]:
    idle = await one_number_rate(srv, args.clients, args.share_seconds)
    numbers, stop = Numbers(), asyncio.Event()
    counts: dict[str, int] = {}
    load = asyncio.create_task(bulk_load(srv, numbers, args.bulk_clients, stop, counts))
    while srv.waiting() < args.backlog:
        await asyncio.sleep(0.5)
    stop.set()
    await load
    before = srv.waiting()
    busy = await one_number_rate(srv, args.clients, args.share_seconds)
    after = srv.waiting()
    result = {"idle": idle, "backlog": busy, "backlog_from": before, "backlog_to": after,
              "ratio": busy["per_s"] / idle["per_s"] if idle["per_s"] else float("nan")}
    log(f"  one-number sends idle {idle['per_s']:.0f}/s (p50 {idle['p50_ms']:.0f} ms), "
        f"beside a backlog of {before}->{after}: {busy['per_s']:.0f}/s (p50 "
        f"{busy['p50_ms']:.0f} ms); ratio {result['ratio']:.2f}")
    await asyncio.to_thread(srv.drain, 900)
    return result


def filled_phone(n: int) -> str:
    """The number of the n-th message of `fill_store` (spread over the 139 segment)."""
    return f"139{n * 7_919 % 100_000_000:08d}"


def fill_store(path: Path, info: dict[str, Any], count: int) -> None:
    """`count` delivered messages of the demo account, 1000 per BizId, over the last 5 days
    (a direct insert: minutes through the API)."""
    began = time.monotonic()
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA synchronous=OFF")
    account = db.execute("SELECT account_id FROM access_keys WHERE id = ?",
                         (info["access_key_id"],)).fetchone()[0]
    now = datetime.now(UTC)
    first = 1 << 40
    with db:
        for start in range(0, count, 10_000):
            rows = []
            for n in range(start, min(count, start + 10_000)):
                at = sql_time(now - timedelta(seconds=(count - n) * 400_000 / count))
                message_id = first + n
                rows.append((message_id, f"{first + n // 1000 * 1000}^0", account,
                             f"+86{filled_phone(n)}", info["sign_name"],
                             info["templates"]["notification"], "notification",
                             "【驿站】bench", 1, "success", "DELIVERED", "", "", "done",
                             "carrier", f"r{message_id}", at, at, at, 0, 0, 0, None, ""))
            db.executemany(
                "INSERT INTO messages (id, biz_id, account_id, phone, sign_name, "
                "template_code, template_type, content, segments, status, error_code, "
                "reason, out_id, dispatch_state, channel, remote_id, created_at, "
                "submitted_at, receipt_at, part_price, charge, package_parts, charged_at, "
                "route) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?)", rows)
    db.close()
    log(f"  store filled with {count} messages in {time.monotonic() - began:.0f} s")


def read_latencies(srv: Server, samples: int, stored: int) -> dict[str, dict[str, float]]:
    """Each read `samples` times in turn: p50/p99 in ms. `stored`: messages filled in."""
    from alibabacloud_dysmsapi20170525 import models
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    sdk = Client(open_api_models.Config(
        access_key_id=srv.info["access_key_id"], access_key_secret=srv.info["access_key_secret"],
        endpoint=f"{HOST}:{srv.port}", protocol="HTTP", region_id="cn-hangzhou"))
    first = 1 << 40
    day = datetime.now(UTC) + timedelta(hours=8)
    phone = filled_phone(stored - 1000)  # sent minutes ago: today
    reads = {
        "QuerySendDetails (SDK)": lambda: sdk.query_send_details(models.QuerySendDetailsRequest(
            phone_number=phone, send_date=day.strftime("%Y%m%d"), page_size=10,
            current_page=1)),
        "QuerySendStatistics (SDK)": lambda: sdk.query_send_statistics(
            models.QuerySendStatisticsRequest(
                is_globe=1, start_date=(day - timedelta(days=6)).strftime("%Y%m%d"),
                end_date=day.strftime("%Y%m%d"), page_index=1, page_size=10)),
    }
    with httpx.Client(base_url=srv.base, headers=srv.auth, timeout=30) as http:
        biz = f"{first + stored // 2000 * 1000}^0"
        reads["GET ?biz_id= page 3 (REST)"] = lambda: http.get(
            "/v1/messages", params={"biz_id": biz, "page": 3}).raise_for_status()
        reads["GET ?phone_number= (REST)"] = lambda: http.get(
            "/v1/messages", params={"phone_number": phone}).raise_for_status()
        figures = {}
        for name, read in reads.items():
            read()  # warm
            took = []
            for _ in range(samples):
                began = time.perf_counter()
                read()
                took.append((time.perf_counter() - began) * 1000)
            figures[name] = {"p50_ms": percentile(took, 0.5), "p99_ms": percentile(took, 0.99)}
    return figures


async def reads_phase(srv: Server, args: argparse.Namespace) -> dict[str, Any]:
    idle = await asyncio.to_thread(read_latencies, srv, args.samples, args.store_messages)
    numbers, stop = Numbers(), asyncio.Event()
    counts: dict[str, int] = {}
    load = asyncio.create_task(bulk_load(srv, numbers, args.bulk_clients, stop, counts))
    while srv.waiting() < 2000:  # delivery is running
        await asyncio.sleep(0.2)
    busy = await asyncio.to_thread(read_latencies, srv, args.samples, args.store_messages)
    stop.set()
    await load
    for name in idle:
        log(f"  {name}: idle p50 {idle[name]['p50_ms']:.1f} p99 {idle[name]['p99_ms']:.1f} ms;"
            f" delivery running p50 {busy[name]['p50_ms']:.1f} p99 "
            f"{busy[name]['p99_ms']:.1f} ms")
    log(f"  bulk answers meanwhile {counts}")
    return {"idle": idle, "delivery": busy, "bulk_answers": counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", default="codes,share,reads")
    parser.add_argument("--no-compare", action="store_true",
                        help="codes: skip the run with the old order")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--bulk-clients", type=int, default=8)
    parser.add_argument("--code-rate", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--share-seconds", type=float, default=10.0)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--store-messages", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    phases = args.phase.split(",")
    result: dict[str, Any] = {}
    try:
        if "codes" in phases:
            runs = [("now", {})] if args.no_compare else [
                ("old order, no backpressure", OLD_ORDER), ("now", {})]
            for name, env in runs:
                log(f"codes among saturating 1000-number load: {name}")
                with server(env) as srv:
                    result[f"codes {name}"] = asyncio.run(codes_phase(srv, args))
            if not args.no_compare:
                old, now = result["codes old order, no backpressure"], result["codes now"]
                faster = old["code_wait_p99_s"] / now["code_wait_p99_s"]
                log(f"codes: p99 accept->carrier {old['code_wait_p99_s']:.2f} -> "
                    f"{now['code_wait_p99_s']:.2f} s (x{faster:.0f} faster); reached the "
                    f"carrier during load {old['reached_share']:.0%} -> "
                    f"{now['reached_share']:.0%}")
        if "share" in phases:
            log("one-number acceptance beside a delivery backlog (backpressure off)")
            with server({"YIZHAN_BACKLOG_MAX_SECONDS": "0"}) as srv:
                result["share"] = asyncio.run(share_phase(srv, args))
        if "reads" in phases:
            log(f"reads with {args.store_messages} messages in the store")
            with server({}, lambda path, info: fill_store(path, info, args.store_messages)
                        ) as srv:
                result["reads"] = asyncio.run(reads_phase(srv, args))
    except Exception as exc:  # report and fail
        log(f"FAILED: {exc!r}")
        return 1
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
