"""End to end: API-accepted messages -> dispatch -> SMPP simulator -> receipts in the store.

Run from the repository root:

    .venv/bin/python bench/e2e.py [--rates 2000,4000,6000,8000] [--duration 8]
                                  [--numbers 50] [--connections 64]
                                  [--role all|split|workers] [--carrier own] [--no-pin]

What it does (loopback only, 127.0.0.1):

1. the simulator's own ceiling, in the same run: `yizhan simulator` in its own process and a
   raw pipelined SMPP client (`bench/smpp_submit.py`) -- submit_sm and receipt per message;
2. a fresh data folder seeded with `yizhan demo --json`, then `yizhan serve` as users run it
   (`--role all`: one process, the SMPP simulator embedded with its cmcc/cucc/ctcc binds;
   `--role split`: an `api` process and a `dispatch` process on the same SQLite folder;
   `--role workers`: `yizhan serve --workers N` (`--workers`, default 1), its supervisor's
   N API processes and one dispatch process), pinned to CPU 0 with `taskset` when
   available and wrk and this script on CPU 1, or with `--no-pin` all on every CPU (the
   comparison of one process with several: the point of several is the second core);
   `--carrier own`: the carrier is `yizhan simulator` in its own process (receipts after
   0.2 s), bound through a channel file, instead of the simulator embedded in the
   dispatching process;
3. for each offered rate: wrk (one thread, paced with `delay()`) posts `POST /v1/messages`
   with `--numbers` numbers per request for `--duration` seconds, while this script samples
   the store (read-only, WAL) twice a second: messages accepted, still queued for dispatch,
   still waiting for their receipt. After wrk stops it waits for the backlog to drain.
   A rate is **sustained** when the backlog (accepted, no receipt yet) does not grow over
   the second half of the run (by less than a quarter second of traffic) and drains within
   3 s of the end. Accept-to-submit latency comes from the records (created_at ->
   submitted_at); the receipt delay of the simulator (0.2 s) is not part of it.

4. the server processes' CPU time (user + system, all threads, from /proc) over each step,
   from wrk's start until the backlog drained, divided by the messages accepted: CPU µs per
   message end to end (API, intake, dispatch, SMPP both ends, receipts, SQLite). On this
   shared machine it is steadier than the rates, which move with other processes' load.

`--profile FILE` runs py-spy (`--py-spy PATH`, default on PATH; `pip install --target
/tmp/pyspy py-spy`) on the first server process during the first rate's step, writes the
collapsed stacks to FILE and prints the busy samples per pipeline stage (`stage_of`), each
also as CPU µs per message (its share of the step's measured CPU per message). py-spy
takes CPU on the other core; a profiled step's rate is not comparable with a plain one.

It prints one line per rate, the highest sustained rate, and `RESULT {json}` at the end.
Exit status: 0 when the run worked (whatever the figures), 1 when it failed, 2 without wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).parent))  # the bench folder is not a package
from rest_send import (
    HOST,
    cpu_seconds,
    free_port,
    pinned,
    stop_server,
    wait_healthy,
    waiting_leaf,
    yizhan_command,
)
from smpp_submit import simulator_ceiling, start_simulator
from wakeup import CHANNELS

EPOCH_MS = 1_704_067_200_000
ID_SHIFT = 22  # message ids: milliseconds since 2024-01-01 above 22 bits (domain/ids.py)
MARKER = "E2E_WRK "

WRK_LUA = r"""
local threads = {}
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end

function init(args)
  auth, sign, template, numbers, pace, offset =
    args[1], args[2], args[3], tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
  headers = {["Authorization"] = auth, ["Content-Type"] = "application/json"}
  counter, ok, bad, sample = 0, 0, 0, ""
end

function delay() return pace end

function request()
  local phones = {}
  for i = 1, numbers do
    counter = counter + 1
    phones[i] = string.format('"138%08d"', (offset + tid * 10000000 + counter) % 100000000)
  end
  local body = '{"phone_numbers":[' .. table.concat(phones, ",") .. '],"sign_name":"' ..
    sign .. '","template_code":"' .. template .. '","template_param":{"code":"1234"}}'
  return wrk.format("POST", "/v1/messages", headers, body)
end

function response(status, hdrs, body)
  if status == 200 and string.find(body, '"code":"OK"', 1, true) then ok = ok + 1
  else bad = bad + 1; if sample == "" then sample = string.sub(body or "", 1, 200) end end
end

function done(summary, latency, requests)
  local t_ok, t_bad, first = 0, 0, ""
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok"); t_bad = t_bad + t:get("bad")
    if first == "" then first = t:get("sample") end
  end
  io.write(string.format('%s{"ok":%d,"bad":%d,"seconds":%f,"p50_ms":%f,"p99_ms":%f,' ..
    '"sample":%q}\n', "MARKER", t_ok, t_bad, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, first))
end
""".replace('"MARKER"', json.dumps(MARKER))


@dataclass
class Step:
    offered: float
    accepted_per_s: float
    receipts_per_s: float
    carrier_per_s: float  # numbers accepted by the carrier while wrk ran, per second of it
    backlog_growth_per_s: float
    drain_s: float
    submit_p50_ms: float
    submit_p99_ms: float
    api_p99_ms: float
    errors: int
    sustained: bool
    cpu_us_per_message: float
    error_sample: str = ""  # the first refused answer's body (200 characters)


def log(msg: str) -> None:
    print(f"[e2e] {msg}", flush=True)


def first_id(at: float) -> int:
    return (int(at * 1000) - EPOCH_MS) << ID_SHIFT


class Backlog(Protocol):
    """What a step reads of the server's store (SQLite here, PostgreSQL in bench/scale.py)."""

    def counts(self, since: int) -> tuple[int, int]: ...
    def submitted(self, since: int) -> int: ...
    def submit_latencies(self, since: int, until: int) -> list[float]: ...


class Store:
    """Read-only counts of the server's SQLite store (WAL: readers do not block it)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)

    def counts(self, since: int) -> tuple[int, int]:
        """(messages accepted, of which still waiting for a receipt) since id `since`."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(status = 'waiting'), 0) FROM messages "
            "WHERE id >= ?", (since,)).fetchone()
        return int(row[0]), int(row[1])

    def submitted(self, since: int) -> int:
        """Messages since id `since` that their carrier has accepted (submitted)."""
        return int(self.db.execute(
            "SELECT count(*) FROM messages WHERE id >= ? AND submitted_at IS NOT NULL",
            (since,)).fetchone()[0])

    def submit_latencies(self, since: int, until: int) -> list[float]:
        rows = self.db.execute(
            "SELECT (julianday(submitted_at) - julianday(created_at)) * 86400000.0 "
            "FROM messages WHERE id >= ? AND id < ? AND submitted_at IS NOT NULL",
            (since, until)).fetchall()
        return sorted(r[0] for r in rows)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def process_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def run_step(args: argparse.Namespace, wrk: str, taskset: str | None, lua: Path,
             bases: list[str], wrk_args: list[str], offered: float, store: Backlog, offset: int,
             pids: list[int], profiler: list[str] | None = None) -> Step:
    """One offered rate for `args.duration` s: one wrk per API address in `bases`, each at
    its share of the rate and of the connections (phone numbers apart by 2,500,000)."""
    connections = max(1, args.connections // len(bases))
    pace = max(1, round(connections * len(bases) * args.numbers * 1000 / offered))
    cmds = [pinned(1, [wrk, "-t1", f"-c{connections}", f"-d{args.duration}s",
                       "--timeout", "10s", "-s", str(lua), f"{base}/v1/messages", "--",
                       *wrk_args, str(args.numbers), str(pace), str(offset + n * 2_500_000)],
                   taskset) for n, base in enumerate(bases)]
    cpu_before = process_cpu(pids)
    started = time.time()
    since = first_id(started)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in cmds]
    spy = (subprocess.Popen(pinned(1, [*profiler, "--duration", str(max(1, args.duration - 1))],
                                   taskset), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True) if profiler else None)
    samples: list[tuple[float, int, int]] = []
    while any(proc.poll() is None for proc in procs):
        time.sleep(0.5)
        accepted, waiting = store.counts(since)
        samples.append((time.time() - started, accepted, waiting))
    outputs = [proc.communicate() for proc in procs]
    ended = time.time()
    at_carrier = store.submitted(since)
    results = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        line = next((x for x in out.splitlines() if x.startswith(MARKER)), None)
        if line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {out}\n{err}")
        results.append(json.loads(line[len(MARKER):]))
    result = {"seconds": max(r["seconds"] for r in results),
              "p99_ms": max(r["p99_ms"] for r in results),
              "bad": sum(r["bad"] for r in results),
              "sample": next((r["sample"] for r in results if r["sample"]), "")}
    drain = float("inf")
    while time.time() - ended < 10:
        accepted, waiting = store.counts(since)
        if waiting == 0:
            drain = time.time() - ended
            break
        time.sleep(0.1)
    cpu = process_cpu(pids) - cpu_before
    if spy is not None:
        _, spy_err = spy.communicate(timeout=60)
        if spy.returncode != 0:
            log(f"py-spy failed ({spy.returncode}): {spy_err.strip()[-500:]}")
    accepted, waiting = store.counts(since)
    half = [s for s in samples if s[0] >= args.duration / 2]
    growth = ((half[-1][2] - half[0][2]) / (half[-1][0] - half[0][0])
              if len(half) >= 2 and half[-1][0] > half[0][0] else 0.0)
    seconds = result["seconds"]
    rate = accepted / seconds
    receipted = accepted - waiting
    latencies = store.submit_latencies(since, first_id(ended + 1))
    return Step(offered, rate, receipted / (seconds + (drain if drain != float("inf") else 10)),
                at_carrier / seconds,
                growth, drain, percentile(latencies, 0.5), percentile(latencies, 0.99),
                result["p99_ms"], result["bad"],
                growth < rate / 4 and drain <= 3.0, cpu * 1e6 / max(accepted, 1),
                result["sample"])


def start_servers(args: argparse.Namespace, data: Path, port: int, taskset: str | None,
                  env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    serve = [*yizhan_command(), "serve", "--data-dir", str(data), "--host", HOST]
    roles = ([["--port", str(port), "--role", "all"]] if args.role == "all" else
             [["--port", str(port), "--workers", str(args.workers)]] if args.role == "workers"
             else [["--port", str(port), "--role", "api"], ["--role", "dispatch"]])
    procs = []
    for n, role in enumerate(roles):
        with (logs / f"server{n}.log").open("wb") as out:
            procs.append(subprocess.Popen(pinned(0, [*serve, *role], taskset), stdout=out,
                                          stderr=subprocess.STDOUT, env=env))
    return procs


def load_arguments(parser: argparse.ArgumentParser, rates: str, numbers: int) -> None:
    """The steps' options (`run_step` reads them from its `args`)."""
    parser.add_argument("--rates", default=rates,
                        type=lambda s: [float(r) for r in s.split(",")],
                        help="offered messages (numbers) per second, one step each")
    parser.add_argument("--duration", type=int, default=8, help="seconds per step")
    parser.add_argument("--numbers", type=int, default=numbers, help="numbers per request")
    parser.add_argument("--connections", type=int, default=64)


def print_server_logs(work: Path) -> None:
    """The end of each server's log (server*.log in `work`), on stderr."""
    for log_file in sorted(work.glob("server*.log")):
        print(log_file.read_text(errors="replace")[-2000:], file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    load_arguments(parser, rates="2000,4000,6000,8000", numbers=50)
    parser.add_argument("--role", choices=["all", "split", "workers"], default="all")
    parser.add_argument("--workers", type=int, default=1, help="API processes of --role "
                        "workers")
    parser.add_argument("--carrier", choices=["embedded", "own"], default="embedded",
                        help="own: `yizhan simulator` in its own process, receipts on")
    parser.add_argument("--no-pin", action="store_true", help="run every process on every "
                        "CPU")
    parser.add_argument("--ceiling-messages", type=int, default=100_000)
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks of the first "
                        "step go here; prints CPU per stage")
    parser.add_argument("--py-spy", help="path of the py-spy binary (default: on PATH)")
    args = parser.parse_args()
    py_spy = (args.py_spy or shutil.which("py-spy")) if args.profile else None
    if args.profile and py_spy is None:
        print("--profile needs py-spy: pip install --target /tmp/pyspy py-spy and pass "
              "--py-spy /tmp/pyspy/bin/py-spy", file=sys.stderr)
        return 2
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    taskset = (shutil.which("taskset") if (os.cpu_count() or 1) >= 2 and not args.no_pin
               else None)
    ceiling = asyncio.run(_ceiling(args.ceiling_messages)) if args.ceiling_messages else 0.0
    log(f"simulator ceiling (own process, raw pipelined client, submit + receipt): "
        f"{ceiling:,.0f} messages/s")
    work = Path(tempfile.mkdtemp(prefix="yizhan-e2e-"))
    procs: list[subprocess.Popen[bytes]] = []
    carrier = None
    try:
        env = dict(os.environ, YIZHAN_LOG_LEVEL="WARNING")
        if args.carrier == "own":
            carrier, carrier_port = start_carrier(0.2)
            channels = work / "channels.toml"
            channels.write_text(CHANNELS.format(port=carrier_port))
            env["YIZHAN_CHANNELS_FILE"] = str(channels)
        data = work / "data"
        demo = json.loads(subprocess.run(
            [*yizhan_command(), "demo", "--data-dir", str(data), "--json"], check=True,
            capture_output=True, text=True, env=env, timeout=120).stdout.splitlines()[-1])
        token = base64.b64encode(
            f"{demo['access_key_id']}:{demo['access_key_secret']}".encode()).decode()
        port = free_port()
        base = f"http://{HOST}:{port}"
        procs = start_servers(args, data, port, taskset, env, work)
        wait_healthy(f"{base}/healthz", procs[0], timeout=60)
        time.sleep(1.0)  # the dispatch process binds its channels
        lua = work / "e2e.lua"
        lua.write_text(WRK_LUA)
        wrk_args = [f"Basic {token}", demo["sign_name"], demo["templates"]["verification"]]
        store = Store(data / "yizhan.db")
        log(f"role {args.role}; {args.numbers} numbers per request, {args.connections} "
            f"connections, {args.duration}s per rate; server CPU 0, wrk CPU 1"
            if taskset else "no pinning")
        steps = []
        pids = [p.pid for p in procs]
        if args.role == "workers":  # the supervisor's children do the work
            pids = [c for p in pids for c in children(p)]
        cpu_at = {pid: process_cpu([pid]) for pid in pids}
        clock_at = time.monotonic()
        for n, offered in enumerate(args.rates):
            profiler = ([py_spy, "record", "--pid", str(pids[0]), "--rate", "200", "--threads",
                         "-f", "raw", "-o", str(args.profile)]
                        if py_spy and args.profile and n == 0 else None)
            step = run_step(args, wrk, taskset, lua, [base], wrk_args, offered, store,
                            n * 5_000_000, pids, profiler)
            steps.append(step)
            log(f"offered {offered:>6,.0f}/s: accepted {step.accepted_per_s:>7,.0f}/s, "
                f"receipts {step.receipts_per_s:>7,.0f}/s, at the carrier during load "
                f"{step.carrier_per_s:>7,.0f}/s, backlog growth "
                f"{step.backlog_growth_per_s:>+7,.0f}/s, drained in {step.drain_s:.1f}s, "
                f"accept->submit p50 {step.submit_p50_ms:.0f} ms p99 {step.submit_p99_ms:.0f}"
                f" ms, API p99 {step.api_p99_ms:.0f} ms, errors {step.errors}, CPU "
                f"{step.cpu_us_per_message:.0f} µs/msg: "
                f"{'sustained' if step.sustained else 'NOT sustained'}")
            if profiler and args.profile and args.profile.exists():
                summarize_stages(args.profile, step.cpu_us_per_message)
        spent = time.monotonic() - clock_at
        shares = {pid: 100 * (process_cpu([pid]) - cpu_at[pid]) / spent for pid in pids}
        log("CPU over the run (incl. drains and pauses): " + ", ".join(
            f"{role_of(pid)} {share:.0f}%" for pid, share in shares.items()))
        best = max((s.accepted_per_s for s in steps if s.sustained), default=0.0)
        log(f"highest sustained end-to-end rate: {best:,.0f} messages/s "
            f"(simulator ceiling {ceiling:,.0f}/s; target >= 5,000/s, p99 < 1 s)")
        print("RESULT " + json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "role": args.role,
            "numbers": args.numbers, "simulator_ceiling": round(ceiling),
            "best_sustained": round(best), "steps": [asdict(s) for s in steps]}))
        return 0
    except Exception as exc:
        log(f"failed: {exc}")
        print_server_logs(work)
        return 1
    finally:
        for proc in procs:
            log(f"server {proc.pid}: {stop_server(proc, 60)}")
        if carrier is not None:
            carrier.terminate()
            carrier.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def start_carrier(delay: float) -> tuple[subprocess.Popen[str], int]:
    """`yizhan simulator` in its own process, receipts after `delay` seconds."""
    process = subprocess.Popen([*yizhan_command(), "simulator", "--port", "0", "--delay",
                                str(delay)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    found = re.search(r":(\d+) ", process.stdout.readline())
    if found is None:
        raise RuntimeError("the simulator did not start")
    return process, int(found.group(1))


def children(pid: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        if found:
            return found
        time.sleep(0.2)
    raise RuntimeError("the supervisor started no process")


def role_of(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return (args[args.index(b"--role") + 1].decode() if b"--role" in args else "all") \
        + f" {pid}"


STAGES: tuple[tuple[str, str], ...] = (
    # (pattern on a frame, stage). The writer thread's frames are read first: the hot write
    # transactions run whole there (storage/store.py), SQLite's own work included.
    (r"do_commit \(", "SQLite commit (fsync: mostly waiting for the disk)"),
    (r"_claim \(", "dispatch: claim transaction"),
    (r"finish_submits|_bill_at_submit", "dispatch: finish transaction"),
    (r"store_receipts|_settle|_find_targets|_match_late", "receipts: store transaction"),
    (r"_accept_rows|_accept_with_nonces|record_accepted", "intake: accept transaction"),
    (r"\(yizhan/simulator/smsc\.py", "SMSC (simulator, in process)"),
    (r"\(yizhan/dispatch/channels/smpp", "ESME (SMPP channel)"),
    (r"\(yizhan/dispatch/(worker|router|breaker)\.py", "dispatch worker (routing, lanes)"),
    (r"\(yizhan/receipts/", "receipts stage"),
    (r"\(yizhan/(api/|intake\.py|policy/)", "API and intake"),
    (r"\(yizhan/webhooks/", "push stage"),
    (r"\(yizhan/batching\.py", "group commit (batching)"),
    (r"\((sqlalchemy|aiosqlite)/", "SQLAlchemy / aiosqlite (other)"),
)


def stage_of(frames: list[str]) -> str:
    """The pipeline stage a stack's sample belongs to: the rule of `STAGES` that matches the
    frame nearest the leaf (shared layers such as the SMPP link or the codec count for the
    caller that is nearest above them, via the pattern on its module)."""
    for pattern, stage in STAGES[:5]:  # commits and transactions, wherever they run
        if any(re.search(pattern, f) for f in frames):
            return stage
    for frame in reversed(frames):
        for pattern, stage in STAGES[5:]:
            if re.search(pattern, frame):
                if stage == "ESME (SMPP channel)" and any("smsc.py" in f for f in frames):
                    return "SMSC (simulator, in process)"
                return stage
    return "event loop, HTTP glue, other"


def summarize_stages(path: Path, cpu_us: float) -> None:
    """Busy samples of py-spy's raw output per stage, and each as µs per message."""
    stages: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    waits: dict[str, bool] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        thread = frames.pop(0) if frames and frames[0].startswith("thread (") else ""
        if not frames:
            continue
        if frames[-1] not in waits:  # an idle thread waiting for work (aiosqlite's, a pool's)
            waits[frames[-1]] = waiting_leaf(frames[-1])
        if waits[frames[-1]]:
            continue
        stages[stage_of(frames)] += int(count_text)
        threads[re.sub(r"^thread \(0x[0-9A-Fa-f]+\): ", "", thread).split("-")[0]] \
            += int(count_text)
    total = sum(stages.values())
    if not total:
        log("profile: no samples")
        return
    log(f"profile: {total} busy samples; by thread: " + ", ".join(
        f"{name or '?'} {100 * n / total:.0f}%" for name, n in threads.most_common(4)))
    for stage, n in stages.most_common():
        log(f"  {100 * n / total:5.1f}%  {cpu_us * n / total:6.1f} µs/msg  {stage}")


async def _ceiling(messages: int) -> float:
    process, port = await start_simulator(pin_cpus=True)
    try:
        rate, _cpu = await simulator_ceiling(port, messages, process.pid)
        return rate
    finally:
        process.terminate()
        await process.wait()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


if __name__ == "__main__":
    sys.exit(main())
