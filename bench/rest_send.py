"""REST send throughput against the stack's own ceiling, in one bounded run.

Run from the repository root:

    .venv/bin/python bench/rest_send.py [--duration 10] [--connections 64] [--port 0]

What it does (loopback only, 127.0.0.1):

1. makes a fresh temporary data directory, seeds it with `yizhan demo --json` (AccessKey,
   signature, templates), starts `yizhan serve` on it (pinned to CPU 0 with `taskset` when
   available) and waits for `GET /healthz`;
2. ceiling: `wrk` (pinned to CPU 1, one thread) hammers `GET /healthz` -- a 2 s warm-up
   that is not counted, then `--duration` seconds measured;
3. sends: the same for `POST /v1/messages` with HTTP Basic auth and a single-number body
   (a different number on every request, so number-level frequency rules don't skew it);
   only a 200 whose body has `"code":"OK"` counts as an accepted send, anything else is an
   error and is reported;
4. stops the server (SIGINT, SIGKILL after a timeout), counts the rows of `messages` in
   DIR/yizhan.db and checks that no accepted send is missing (rows >= 200/OK answers, the
   warm-up's included); deletes the data directory.

It prints both figures, their ratio (sends / ceiling; the target is >= 0.5), wrk's p50/p99
latencies, and at the end one JSON line (prefixed `RESULT `) for later comparison.

`--profile FILE` additionally runs py-spy (found on PATH, or given with `--py-spy`) against
the server during the measured send phase, writes the collapsed stacks to FILE and prints
the hottest functions by own and by total time. py-spy takes CPU too: figures of a profiled
run are not comparable with those of a plain one.

The exit status is 0 when the run worked (whatever the ratio), 1 when the run itself failed
or accepted sends went missing, 2 when `wrk` is not installed.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import json
import linecache
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
WARMUP_S = 2
TARGET_RATIO = 0.5
MARKER = "BENCH_WRK_JSON "

# One Lua script serves both endpoints. Every wrk thread keeps its own counters; done()
# (run once, in the main Lua state) gathers them through the thread handles from setup().
# Arguments after `--`: method, path, number offset, [authorization, sign, template].
WRK_LUA = r"""
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  method = args[1]
  path = args[2]
  offset = tonumber(args[3])
  ok, not_ok, non2xx, counter = 0, 0, 0, 0
  statuses = {}
  sample = ""
  if method == "POST" then
    headers = {["Authorization"] = args[4], ["Content-Type"] = "application/json"}
    head = '{"phone_numbers":["'
    tail = '"],"sign_name":"' .. args[5] .. '","template_code":"' .. args[6] ..
           '","template_param":{"code":"1234"}}'
  else
    req = wrk.format("GET", path)
  end
end

function request()
  if method ~= "POST" then return req end
  counter = counter + 1
  -- 138 + 8 digits; each thread and each phase gets its own block of numbers
  local n = (offset + tid * 10000000 + counter) % 100000000
  local body = head .. string.format("138%08d", n) .. tail
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local good
  if method == "POST" then
    good = status == 200 and body ~= nil and string.find(body, '"code":"OK"', 1, true) ~= nil
  else
    good = status == 200
  end
  if good then
    ok = ok + 1
  else
    not_ok = not_ok + 1
    if sample == "" and body ~= nil then sample = string.sub(body, 1, 300) end
  end
end

local function quote(s)
  s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local t_ok, t_not_ok, t_non2xx, merged, first = 0, 0, 0, {}, ""
  for _, thread in ipairs(threads) do
    t_ok = t_ok + thread:get("ok")
    t_not_ok = t_not_ok + thread:get("not_ok")
    t_non2xx = t_non2xx + thread:get("non2xx")
    for k, v in pairs(thread:get("statuses")) do merged[k] = (merged[k] or 0) + v end
    if first == "" then first = thread:get("sample") end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, quote(k) .. ":" .. v) end
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"ok":%d,"not_ok":%d,"non2xx":%d,' ..
    '"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"wrk_status_errors":%d,"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d},"sample_error":%s}\n',
    "MARKER", summary.requests, summary.duration, summary.bytes, t_ok, t_not_ok, t_non2xx,
    table.concat(parts, ","), e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), quote(first)))
end
""".replace('"MARKER"', json.dumps(MARKER))


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def yizhan_command() -> list[str]:
    script = Path(sys.executable).parent / "yizhan"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from yizhan.cli.main import main; main()"]


def pinned(cpu: int, cmd: list[str], taskset: str | None) -> list[str]:
    return [taskset, "-c", str(cpu), *cmd] if taskset else cmd


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout:.0f}s")


def run_wrk(wrk: str, taskset: str | None, lua: Path, url: str, duration: int,
            connections: int, script_args: list[str], server_pid: int) -> dict:
    cmd = pinned(1, [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
                     "-s", str(lua), url, "--", *script_args], taskset)
    cpu0, wall0 = cpu_seconds(server_pid), time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    cpu1, wall1 = cpu_seconds(server_pid), time.monotonic()
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER):])
            result["seconds"] = result["duration_us"] / 1e6
            result["ok_per_s"] = result["ok"] / result["seconds"] if result["seconds"] else 0.0
            result["server_cpu_pct"] = (None if cpu0 is None or cpu1 is None
                                        else round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1))
            return result
    raise RuntimeError(f"wrk failed (status {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def describe(name: str, r: dict) -> None:
    lat = r["latency_us"]
    sock = r["socket_errors"]
    log(f"{name}: {r['ok']} ok of {r['requests']} responses in {r['seconds']:.2f}s = "
        f"{r['ok_per_s']:.1f}/s; not ok {r['not_ok']} (non-2xx {r['non2xx']}); "
        f"socket errors {sock}; statuses {r['statuses']}; "
        f"server CPU {r['server_cpu_pct']}% of one core")
    log(f"{name}: latency p50 {lat['p50'] / 1000:.2f} ms, p90 {lat['p90'] / 1000:.2f} ms, "
        f"p99 {lat['p99'] / 1000:.2f} ms, max {lat['max'] / 1000:.2f} ms")
    if r["not_ok"]:
        log(f"{name}: first error body: {r['sample_error']!r}")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    if proc.poll() is not None:
        return f"already exited ({proc.returncode})"
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
        return f"stopped by SIGINT ({proc.returncode})"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return "killed (SIGKILL) after SIGINT timeout"


# Entry frames every sample of a thread sits under: left out of the "total time" ranking.
ENTRY_FRAME = re.compile(r"\((typer/|click/|<frozen runpy>|threading\.py|asyncio/runners\.py|"
                         r"uvloop/__init__\.py|yizhan\)|yizhan/cli\.py)")
WAIT_CALL = re.compile(r"(\.get|\.wait|\.acquire|sleep|\.join)\(")


def waiting_leaf(frame: str) -> bool:
    """Is this leaf frame's source line a blocking wait (queue get, lock, sleep)?

    py-spy counts a worker thread blocked in `SimpleQueue.get()` (aiosqlite's idle
    connection threads) as active; those samples are idle time, not CPU.
    """
    match = re.search(r"\((.+):(\d+)\)$", frame)
    if not match:
        return False
    rel, line = match.group(1), int(match.group(2))
    for base in sys.path:
        candidate = Path(base or ".") / rel
        if candidate.is_file():
            return bool(WAIT_CALL.search(linecache.getline(str(candidate), line)))
    return False


def summarize_profile(path: Path, top: int = 15) -> None:
    """Print the hottest functions of py-spy's collapsed ("raw") stacks.

    Frames are merged per function (line numbers dropped). Samples of non-main threads
    blocked in a wait are left out; the rest are split per thread kind.
    """
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    per_thread: collections.Counter[str] = collections.Counter()
    thread_ids: dict[str, set[str]] = collections.defaultdict(set)
    samples = waiting = 0
    waits: dict[str, bool] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        kind = "other"
        if frames and frames[0].startswith("thread ("):
            tid, _, name = frames.pop(0).partition(": ")
            kind = re.sub(r"-\d+", "-N", name)  # Thread-641 (...) -> Thread-N (...)
            thread_ids[kind].add(tid)
        if not frames:
            continue
        if kind != "MainThread":
            if frames[-1] not in waits:
                waits[frames[-1]] = waiting_leaf(frames[-1])
            if waits[frames[-1]]:
                waiting += count
                continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in frames]
        samples += count
        per_thread[kind] += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        log("profile: no samples")
        return
    print(f"\nProfile: {samples} busy samples ({waiting} samples of worker threads blocked "
          "in a wait left out); by thread:")
    for kind, count in per_thread.most_common():
        print(f"  {100 * count / samples:6.2f}%  {kind}  ({len(thread_ids[kind])} threads seen)")
    rankings = (
        ("own time", own, lambda f: True),
        ("total time (entry frames left out)", total, lambda f: not ENTRY_FRAME.search(f)),
        ("total time, yizhan's own code", total,
         lambda f: "(yizhan/" in f and not ENTRY_FRAME.search(f)),
    )
    for title, counter, keep in rankings:
        print(f"\nTop {top} functions by {title} (% of busy samples, all threads):")
        for frame, count in [(f, c) for f, c in counter.most_common() if keep(f)][:top]:
            print(f"  {100 * count / samples:6.2f}%  {frame}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and all its threads (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per "
                        f"endpoint (after a {WARMUP_S}s warm-up)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument("--role", default="all", choices=["all", "api"],
                        help="server role: all (embedded, delivery in the same process) or "
                        "api (acceptance only; nothing delivers during the run)")
    parser.add_argument("--profile", type=Path, help="run py-spy on the server during the "
                        "measured send phase; collapsed stacks to this file")
    parser.add_argument("--py-spy", default=None, help="py-spy executable (default: PATH)")
    parser.add_argument("--profile-args", default="", help="extra `py-spy record` options, "
                        "e.g. '--gil' or '--native'")
    args = parser.parse_args()
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be >= 1")

    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed; install it with:\n"
              "  apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    py_spy = None
    if args.profile:
        py_spy = args.py_spy or shutil.which("py-spy")
        if py_spy is None:
            print("--profile needs py-spy: pip install --target /tmp/pyspy py-spy and pass "
                  "--py-spy /tmp/pyspy/bin/py-spy", file=sys.stderr)
            return 2
    taskset = shutil.which("taskset") if (os.cpu_count() or 1) >= 2 else None

    data_dir = Path(tempfile.mkdtemp(prefix="yizhan-bench-"))
    work_dir = Path(tempfile.mkdtemp(prefix="yizhan-bench-wrk-"))
    try:
        return run(args, wrk, py_spy, taskset, data_dir, work_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(work_dir, ignore_errors=True)


def run(args: argparse.Namespace, wrk: str, py_spy: str | None, taskset: str | None,
        data_dir: Path, work_dir: Path) -> int:
    env = dict(os.environ, YIZHAN_LOG_LEVEL="WARNING")
    port = args.port or free_port()
    base = f"http://{HOST}:{port}"
    lua = work_dir / "bench.lua"
    lua.write_text(WRK_LUA)
    server: subprocess.Popen[bytes] | None = None
    profiler: subprocess.Popen[str] | None = None
    server_log = work_dir / "server.log"
    status = 0
    try:
        demo = subprocess.run([*yizhan_command(), "demo", "--data-dir", str(data_dir),
                               "--json"], capture_output=True, text=True, env=env,
                              timeout=120, check=True)
        info = json.loads(next(line for line in reversed(demo.stdout.splitlines())
                               if line.startswith("{")))
        if "access_key_secret" not in info:
            raise RuntimeError("demo did not create a key (data dir not fresh?)")
        template = info["templates"]["verification"]
        token = base64.b64encode(
            f"{info['access_key_id']}:{info['access_key_secret']}".encode()).decode()

        with server_log.open("wb") as out:
            server = subprocess.Popen(
                pinned(0, [*yizhan_command(), "serve", "--data-dir", str(data_dir),
                           "--host", HOST, "--port", str(port), "--role", args.role],
                          taskset),
                stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_healthy(f"{base}/healthz", server, timeout=60)
        log(f"server pid {server.pid} on {base}, data {data_dir}; "
            f"pinning: {'server CPU 0, wrk CPU 1' if taskset else 'none (no taskset)'}; "
            f"{args.connections} connections, {WARMUP_S}s warm-up + {args.duration}s each")

        health_args = ["GET", "/healthz", "0"]
        run_wrk(wrk, taskset, lua, f"{base}/healthz", WARMUP_S, args.connections, health_args,
                server.pid)
        ceiling = run_wrk(wrk, taskset, lua, f"{base}/healthz", args.duration,
                          args.connections, health_args, server.pid)
        describe("ceiling GET /healthz", ceiling)

        def send_args(offset: int) -> list[str]:
            return ["POST", "/v1/messages", str(offset), f"Basic {token}", info["sign_name"],
                    template]

        warm = run_wrk(wrk, taskset, lua, f"{base}/v1/messages", WARMUP_S, args.connections,
                       send_args(0), server.pid)
        describe("send warm-up (not counted)", warm)
        if args.profile and py_spy:
            profiler = subprocess.Popen(
                pinned(1, [py_spy, "record", "--pid", str(server.pid),
                           "--duration", str(max(1, args.duration - 1)), "--rate", "100",
                           "--threads", "-f", "raw", "-o", str(args.profile),
                           *shlex.split(args.profile_args)],
                       taskset),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sends = run_wrk(wrk, taskset, lua, f"{base}/v1/messages", args.duration,
                        args.connections, send_args(50_000_000), server.pid)
        describe("sends POST /v1/messages", sends)
        if profiler is not None:
            _, perr = profiler.communicate(timeout=60)
            if profiler.returncode != 0:
                log(f"py-spy failed ({profiler.returncode}): {perr.strip()[-500:]}")
    except Exception as exc:  # report, clean up, fail
        log(f"run failed: {exc!r}")
        if server_log.exists():
            log("server output (tail):\n" + server_log.read_text(errors="replace")[-3000:])
        status = 1
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
            profiler.wait()
        stopped = stop_server(server) if server is not None else "never started"
    if status:
        return status
    log(f"server {stopped}")
    db = data_dir / "yizhan.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select count(*) from messages").fetchone()[0]
        try:  # informational only: the columns may change, the check above may not
            phones = conn.execute("select count(distinct phone) from messages").fetchone()[0]
            by_status = dict(conn.execute(
                "select status, count(*) from messages group by status").fetchall())
            log(f"DB info: {phones} distinct numbers; statuses {by_status}")
        except sqlite3.Error as exc:
            log(f"DB info unavailable: {exc}")
    conn.close()
    accepted = warm["ok"] + sends["ok"]
    db_ok = rows >= accepted
    log(f"DB check: {rows} rows in messages, {accepted} sends answered 200/OK "
        f"(warm-up {warm['ok']} + measured {sends['ok']}): "
        f"{'OK, nothing accepted is lost' if db_ok else 'MISSING ROWS'}"
        f" ({rows - accepted} more rows than OK answers: in flight at wrk's stop)")

    ratio = sends["ok_per_s"] / ceiling["ok_per_s"] if ceiling["ok_per_s"] else 0.0
    errors = sends["not_ok"] + sum(sends["socket_errors"].values())
    print()
    print(f"ceiling  GET  /healthz      {ceiling['ok_per_s']:10.1f} req/s   "
          f"p50 {ceiling['latency_us']['p50'] / 1000:7.2f} ms   "
          f"p99 {ceiling['latency_us']['p99'] / 1000:7.2f} ms   "
          f"server CPU {ceiling['server_cpu_pct']}%")
    print(f"sends    POST /v1/messages  {sends['ok_per_s']:10.1f} ok/s    "
          f"p50 {sends['latency_us']['p50'] / 1000:7.2f} ms   "
          f"p99 {sends['latency_us']['p99'] / 1000:7.2f} ms   "
          f"server CPU {sends['server_cpu_pct']}%")
    print(f"send errors: {sends['not_ok']} not OK ({sends['non2xx']} non-2xx), "
          f"socket errors {sends['socket_errors']}")
    print(f"ratio sends/ceiling = {ratio:.3f}  (target >= {TARGET_RATIO}: "
          f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})")
    print(f"DB rows {rows} >= accepted {accepted}: {db_ok}")
    if args.profile and args.profile.exists():
        summarize_profile(args.profile)
    result = {
        "bench": "rest_send", "role": args.role,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "pinned": bool(taskset), "connections": args.connections,
        "duration_s": args.duration, "warmup_s": WARMUP_S, "profiled": bool(args.profile),
        "ceiling_rps": round(ceiling["ok_per_s"], 1),
        "ceiling_p50_ms": round(ceiling["latency_us"]["p50"] / 1000, 3),
        "ceiling_p99_ms": round(ceiling["latency_us"]["p99"] / 1000, 3),
        "ceiling_server_cpu_pct": ceiling["server_cpu_pct"],
        "send_ok_rps": round(sends["ok_per_s"], 1),
        "send_p50_ms": round(sends["latency_us"]["p50"] / 1000, 3),
        "send_p99_ms": round(sends["latency_us"]["p99"] / 1000, 3),
        "send_ok": sends["ok"], "send_not_ok": sends["not_ok"],
        "send_non2xx": sends["non2xx"], "send_socket_errors": sends["socket_errors"],
        "send_errors_total": errors, "send_server_cpu_pct": sends["server_cpu_pct"],
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO, "target_met": ratio >= TARGET_RATIO,
        "db_rows": rows, "accepted_total": accepted, "db_check": db_ok,
    }
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if db_ok else 1


if __name__ == "__main__":
    sys.exit(main())
