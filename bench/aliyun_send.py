"""SendSms through the Alibaba-compatible RPC endpoint, ACS3-signed, against the same
server's bare endpoint, in one bounded run (loopback only).

    .venv/bin/python bench/aliyun_send.py [--duration 10] [--connections 64] [--role all]

1. seeds a fresh data folder (`yizhan demo --json`) and starts `yizhan serve` (CPU 0);
2. signs every request in advance exactly as the v4 SDK does (ACS3-HMAC-SHA256, a fresh
   nonce each: a replayed nonce would be refused), writes them to a file that wrk (CPU 1)
   replays in order;
3. measures, each after a warm-up: the ceiling `GET /healthz`; SendSms with one number;
   SendSms with 1000 numbers (numbers per second); then one-number SendSms at about half
   the measured maximum rate, for the p99 latency there. Each connection waits a random
   time before each request (wrk's `delay()`, exponentially distributed with the mean that
   gives half the rate): together the connections send as independent clients do, not in
   lockstep (a fixed pause makes all of them send at once, so that every request waits for
   a burst of 64 to be served: docs/benchmarks.md, round 6).

`--api-processes N` (N >= 2) runs N `yizhan serve --role api` processes on one SQLite store,
as docs/deployment.md describes several API processes: frequency counters in Redis
(`rate_backend = "redis"`, a fresh key prefix deleted afterwards), each process on its own
port, nothing pinned; every phase runs N wrk at once, one per process with its own signed
requests, and adds their answers up (the p99 is the worst of the N).

Targets (issue: Alibaba-compatible API): single-number SendSms >= 5,000/s, 1000-number
SendSms >= 50,000 numbers/s, p99 < 20 ms at half the maximum rate. Prints a `RESULT` JSON
line at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).parent))
from rest_send import (
    HOST,
    WRK_LUA,
    describe,
    free_port,
    log,
    pinned,
    run_wrk,
    stop_server,
    summarize_profile,
    wait_healthy,
    yizhan_command,
)

WARMUP_S = 2
TARGETS = {"single_per_s": 5000, "bulk_numbers_per_s": 50_000, "p99_half_rate_ms": 20}

# Replays pre-signed raw requests from a file (records separated by "\0"); the same result
# accounting as rest_send.py's script (it prints one marker line in done()).
LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  for r in string.gmatch(data, "([^%z]+)") do reqs[#reqs + 1] = r end
  i = 0
  pause = tonumber(args[2] or "0")
  math.randomseed(os.time() + (id or 0))
  ok, not_ok, non2xx = 0, 0, 0
  statuses = {}
  sample = ""
end

function request()
  i = i + 1
  if i > #reqs then i = 1 end   -- wrapped: nonces replay and are refused (counted not ok)
  return reqs[i]
end

-- A random gap with mean `pause` (exponential): arrivals spread as independent clients'.
function delay()
  if pause == 0 then return 0 end
  return math.floor(-math.log(1 - math.random()) * pause)
end

function response(status, hdrs, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local good = status == 200 and (body == nil or string.find(body, '"Code"', 1, true) == nil
                                  or string.find(body, '"Code":"OK"', 1, true) ~= nil)
  if good then ok = ok + 1 else
    not_ok = not_ok + 1
    if sample == "" and body ~= nil then sample = string.sub(body, 1, 300) end
  end
end
""" + WRK_LUA[WRK_LUA.index("local function quote"):]


def pct(text: str) -> str:
    return quote(text, safe="-_.~")


def acs3_request(port: int, key_id: str, secret: str, params: dict[str, str]) -> bytes:
    """One raw HTTP request, signed as alibabacloud-tea-openapi 0.4.x signs it."""
    host = f"{HOST}:{port}"
    headers = {
        "host": host, "x-acs-version": "2017-05-25", "x-acs-action": "SendSms",
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex, "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-acs-credentials-provider": "static_ak",
    }
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    names = sorted(headers)
    canonical = "\n".join(["POST", "/", query, "".join(f"{h}:{headers[h]}\n" for h in names),
                           ";".join(names), headers["x-acs-content-sha256"]])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders="
                                f"{';'.join(names)},Signature={signature}")
    lines = [f"POST /?{urlencode(params)} HTTP/1.1",
             *(f"{k}: {v}" for k, v in headers.items()), "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def phone(n: int, spread: bool = False) -> str:
    """The n-th mainland number of a bench: consecutive (`139` + n), or spread over the
    whole `139` segment (n times a number prime to 10^8, so still one number per n), as a
    tenant's list of customers is: each number then lands on its own page of the store's
    phone index (docs/benchmarks.md, round 7)."""
    return f"139{(n * 7_919 if spread else n) % 100_000_000:08d}"


def code(i: int) -> str:
    """TemplateParam of the i-th request: a verification code that changes from request to
    request, as real ones do (the endpoint caches only values that repeat)."""
    return f'{{"code":"{i * 7_919 % 1_000_000:06d}"}}'


def write_requests(path: Path, count: int, numbers_each: int, offset: int, port: int,
                   info: dict[str, str | dict[str, str]], spread: bool = False) -> None:
    templates = info["templates"]
    assert isinstance(templates, dict)
    with path.open("wb") as out:
        for i in range(count):
            first = offset + i * numbers_each
            phones = ",".join(phone(first + n, spread) for n in range(numbers_each))
            params = {"PhoneNumbers": phones, "SignName": str(info["sign_name"]),
                      "TemplateCode": templates["verification"],
                      "TemplateParam": code(offset + i)}
            out.write(acs3_request(port, str(info["access_key_id"]),
                                   str(info["access_key_secret"]), params) + b"\0")


def merge(runs: list[dict]) -> dict:
    """wrk results of servers measured at once: counts and rates added, the worst
    latencies, the servers' CPU added up."""
    if len(runs) == 1:
        return runs[0]
    total = dict(runs[0])
    for key in ("ok", "not_ok", "non2xx", "requests", "ok_per_s"):
        total[key] = sum(r[key] for r in runs)
    total["latency_us"] = {k: max(r["latency_us"][k] for r in runs)
                           for k in runs[0]["latency_us"]}
    cpus = [r["server_cpu_pct"] for r in runs]
    total["server_cpu_pct"] = None if None in cpus else round(sum(cpus), 1)
    statuses: dict[str, int] = {}
    for r in runs:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    total["statuses"] = statuses
    total["socket_errors"] = {k: sum(r["socket_errors"][k] for r in runs)
                              for k in runs[0]["socket_errors"]}
    total["sample_error"] = next((r["sample_error"] for r in runs if r["sample_error"]), "")
    return total


def forget_keys(url: str, prefix: str) -> None:
    """Delete the run's frequency counters from Redis."""
    import redis
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*", count=10_000))
    for i in range(0, len(keys), 10_000):
        client.delete(*keys[i:i + 10_000])
    client.close()


def drain(data_dir: Path, timeout: float = 120) -> None:
    """Wait until the dispatch outbox is empty (read straight from the SQLite file)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with sqlite3.connect(f"file:{data_dir / 'yizhan.db'}?mode=ro", uri=True) as db:
            left = db.execute("select count(*) from outbox").fetchone()[0]
        if left == 0:
            log(f"outbox drained in {time.monotonic() - started:.1f}s")
            return
        time.sleep(0.5)
    log(f"outbox not drained after {timeout:.0f}s ({left} left)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--bulk-connections", type=int, default=16,
                        help="connections of the 1000-number phase (16: 16,000 numbers in "
                        "flight; at 64 a busy server answers later than wrk waits)")
    parser.add_argument("--role", default="all", choices=["all", "api"],
                        help="server role: all (embedded) or api (no dispatch in process)")
    parser.add_argument("--server-cpus", default="0", choices=["0", "all"],
                        help="pin the server to CPU 0 (default; wrk has CPU 1), or let it use "
                        "both cores (wrk stays on CPU 1 and shares it)")
    parser.add_argument("--profile", type=Path, help="run py-spy on the server during the "
                        "measured single-number phase, write raw stacks here, print a summary")
    parser.add_argument("--profile-phase", default="single", choices=["single", "half", "bulk"],
                        help="the phase --profile samples")
    parser.add_argument("--py-spy", help="path of the py-spy binary (default: on PATH)")
    parser.add_argument("--api-processes", type=int, default=1,
                        help="API processes on one store (>= 2: role api, Redis counters, "
                        "nothing pinned, one wrk per process)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--mixed", action="store_true",
                        help="add a phase of one-number sends at ~500/s among 1000-number "
                        "requests, for the one-number latency under bulk load")
    parser.add_argument("--recipients", default="consecutive", choices=["consecutive", "spread"],
                        help="numbers of a request one after another (default), or spread "
                        "over the segment as a customer list is (each then writes its own "
                        "page of the phone index)")
    args = parser.parse_args()
    if args.api_processes > 1:
        if args.profile:
            print("--profile samples one server: not with --api-processes", file=sys.stderr)
            return 2
        args.role, args.server_cpus = "api", "all"
    args.py_spy = args.py_spy or shutil.which("py-spy")
    if args.profile and not args.py_spy:
        print("--profile needs py-spy: pip install --target /tmp/pyspy py-spy and pass "
              "--py-spy /tmp/pyspy/bin/py-spy", file=sys.stderr)
        return 2
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get update && apt-get install -y wrk",
              file=sys.stderr)
        return 2
    taskset = shutil.which("taskset") if (os.cpu_count() or 1) >= 2 else None
    data_dir = Path(tempfile.mkdtemp(prefix="yizhan-bench-"))
    work = Path(tempfile.mkdtemp(prefix="yizhan-bench-wrk-"))
    try:
        return run(args, wrk, taskset, data_dir, work)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, wrk: str, taskset: str | None, data_dir: Path,
        work: Path) -> int:
    env = dict(os.environ, YIZHAN_LOG_LEVEL="WARNING", YIZHAN_API_RATE_LIMIT="0")
    count = args.api_processes
    spread = args.recipients == "spread"
    prefix = f"yizhan-bench:{uuid.uuid4().hex}:"
    if count > 1:
        env.update(YIZHAN_RATE_BACKEND="redis", YIZHAN_REDIS_URL=args.redis_url,
                   YIZHAN_REDIS_PREFIX=prefix)
    ports = [free_port() for _ in range(count)]
    port = ports[0]
    bases = [f"http://{HOST}:{p}" for p in ports]
    demo = subprocess.run([*yizhan_command(), "demo", "--data-dir", str(data_dir), "--json"],
                          capture_output=True, text=True, env=env, check=True, timeout=120)
    info = json.loads(demo.stdout.strip().splitlines()[-1])
    lua = work / "replay.lua"
    lua.write_text(LUA)
    health = work / "health.lua"
    health.write_text(LUA)
    health_file = work / "health.req"
    health_file.write_bytes(f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
                            + b"\0")
    server_pin = taskset if args.server_cpus == "0" else None
    wrk_pin = taskset if count == 1 else None
    servers = [subprocess.Popen(pinned(0, [*yizhan_command(), "serve", "--data-dir",
                                           str(data_dir), "--port", str(p), "--role",
                                           args.role], server_pin),
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
               for p in ports]
    server = servers[0]
    result: dict[str, object] = {"bench": "aliyun_send", "role": args.role,
                                 "api_processes": count, "recipients": args.recipients,
                                 "server_cpus": args.server_cpus,
                                 "date": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "connections": args.connections,
                                 "bulk_connections": args.bulk_connections,
                                 "duration_s": args.duration,
                                 "load_average": round(os.getloadavg()[0], 2)}
    try:
        for base, proc in zip(bases, servers, strict=True):
            wait_healthy(f"{base}/healthz", proc, timeout=60)

        def wrk_all(script: Path, duration: int, connections: int,
                    files: list[Path], pause_ms: int) -> dict:
            """One wrk per server at once (each its own file), answers added up."""
            with ThreadPoolExecutor(count) as pool:
                runs = list(pool.map(
                    lambda i: run_wrk(wrk, wrk_pin, script, bases[i], duration,
                                      max(1, connections // count),
                                      [str(files[i]), str(pause_ms)], servers[i].pid),
                    range(count)))
            return merge(runs)

        def phase(name: str, files: tuple[list[Path], list[Path]], script: Path,
                  pause_ms: int = 0, profile: Path | None = None,
                  connections: int = args.connections) -> dict:
            """Warm-up on the first files, measure on the second: no nonce is sent twice."""
            wrk_all(script, WARMUP_S, connections, files[0], pause_ms)
            profiler = None if profile is None else subprocess.Popen(
                pinned(1, [args.py_spy, "record", "--pid", str(server.pid), "--duration",
                           str(max(1, args.duration - 1)), "--rate", "100", "--threads",
                           "-f", "raw", "-o", str(profile)], taskset),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            measured = wrk_all(script, args.duration, connections, files[1], pause_ms)
            if profiler is not None:
                profiler.wait(timeout=60)
            describe(name, measured)
            return measured

        def signed(name: str, per_second: float, numbers_each: int,
                   offset: int) -> tuple[list[Path], list[Path]]:
            warm = [work / f"{name}-warm-{i}.req" for i in range(count)]
            measure = [work / f"{name}-{i}.req" for i in range(count)]
            for i in range(count):  # numbers of their own per process and phase
                write_requests(warm[i], int(per_second / count * WARMUP_S) + 100,
                               numbers_each, offset + i * 2_000_000, port, info, spread)
                write_requests(measure[i], int(per_second / count * args.duration) + 100,
                               numbers_each, offset + 40_000_000 + i * 2_000_000, port, info,
                               spread)
            return warm, measure

        mixed: dict[str, float] = {}
        health_files = [health_file] * count
        ceiling = phase("ceiling GET /healthz", (health_files, health_files), health)
        started = time.monotonic()
        single_files = signed("single", 12_000, 1, 0)
        bulk_files = signed("bulk", 120, 1000, 1_000_000)
        log(f"signed the requests in {time.monotonic() - started:.1f}s")
        single = phase("SendSms, 1 number", single_files, lua,
                       profile=args.profile if args.profile_phase == "single" else None)
        half = single["ok_per_s"] / 2
        pause = max(1, int(args.connections / max(half, 1) * 1000))
        half_files = signed("half", half * 1.2, 1, 20_000_000)
        if args.role == "all":  # steady state: what the last phase accepted has been delivered
            drain(data_dir)  # (role api: no dispatcher runs, nothing drains)
        at_half = phase(f"SendSms, 1 number at ~{half:.0f}/s", half_files, lua, pause,
                        profile=args.profile if args.profile_phase == "half" else None)
        if args.role == "all":
            drain(data_dir)
        bulk = phase("SendSms, 1000 numbers", bulk_files, lua, connections=args.bulk_connections,
                     profile=args.profile if args.profile_phase == "bulk" else None)
        if args.mixed:
            mixed.update(mixed_phase(wrk_all, signed, lua, args))
        result.update({
            "ceiling_rps": round(ceiling["ok_per_s"], 1),
            "single_ok_per_s": round(single["ok_per_s"], 1),
            "single_ratio": round(single["ok_per_s"] / ceiling["ok_per_s"], 3),
            "single_p99_ms": single["latency_us"]["p99"] / 1000,
            # Server CPU per accepted send: steadier than rates on a shared machine.
            "single_cpu_us_per_send": (None if single["server_cpu_pct"] is None
                                       or not single["ok_per_s"] else round(
                single["server_cpu_pct"] * 1e4 / single["ok_per_s"], 1)),
            "bulk_requests_per_s": round(bulk["ok_per_s"], 1),
            "bulk_numbers_per_s": round(bulk["ok_per_s"] * 1000, 1),
            "bulk_p99_ms": bulk["latency_us"]["p99"] / 1000,
            "bulk_cpu_us_per_number": (None if bulk["server_cpu_pct"] is None
                                       or not bulk["ok_per_s"] else round(
                bulk["server_cpu_pct"] * 10 / bulk["ok_per_s"], 2)),
            "half_rate_per_s": round(at_half["ok_per_s"], 1),
            "half_rate_p99_ms": at_half["latency_us"]["p99"] / 1000,
            "errors": single["not_ok"] + bulk["not_ok"] + at_half["not_ok"]
            + mixed.get("errors", 0),
            **{k: v for k, v in mixed.items() if k != "errors"},
        })
    finally:
        for proc in servers:
            log(f"server {stop_server(proc)}")
        if count > 1:
            forget_keys(args.redis_url, prefix)
    print()
    for key, value in result.items():
        print(f"{key:22} {value}")
    print("targets", json.dumps(TARGETS))
    print("RESULT " + json.dumps(result))
    if args.profile:
        summarize_profile(args.profile)
    return 0


MIXED_SINGLE_PER_S = 500
MIXED_SINGLE_CONNECTIONS = 16


def mixed_phase(wrk_all: Callable[..., dict],
                signed: Callable[..., tuple[list[Path], list[Path]]], lua: Path,
                args: argparse.Namespace) -> dict[str, float]:
    """`--mixed`: one-number sends at ~500/s (exponential arrivals) while 1000-number
    requests go in as fast as the server takes them: the latency a verification code sees
    while a promotion goes out."""
    bulk_files = signed("mixed-bulk", 120, 1000, 3_000_000)
    single_files = signed("mixed-single", MIXED_SINGLE_PER_S * 1.2, 1, 30_000_000)
    pause = int(MIXED_SINGLE_CONNECTIONS / MIXED_SINGLE_PER_S * 1000)
    with ThreadPoolExecutor(2) as pool:
        bulk_run = pool.submit(wrk_all, lua, args.duration, args.bulk_connections,
                               bulk_files[1], 0)
        single_run = pool.submit(wrk_all, lua, args.duration, MIXED_SINGLE_CONNECTIONS,
                                 single_files[1], pause)
        bulk, single = bulk_run.result(), single_run.result()
    describe("mixed: SendSms, 1000 numbers", bulk)
    describe(f"mixed: SendSms, 1 number at ~{MIXED_SINGLE_PER_S}/s", single)
    return {"mixed_bulk_numbers_per_s": round(bulk["ok_per_s"] * 1000, 1),
            "mixed_single_per_s": round(single["ok_per_s"], 1),
            "mixed_single_p50_ms": single["latency_us"]["p50"] / 1000,
            "mixed_single_p99_ms": single["latency_us"]["p99"] / 1000,
            "errors": single["not_ok"] + bulk["not_ok"]}


if __name__ == "__main__":
    sys.exit(main())
