"""CPU per SendSms (one number) and per number (1000-number SendSms) through the
Alibaba-compatible endpoint, in one process, without HTTP or wrk.

Run from the repository root:

    .venv/bin/python bench/aliyun_cpu.py [--numbers 1] [--requests 6000] [--clients 64]
        [--profile FILE]

Builds the API stack the `api` role runs (`yizhan.app.build`, embedded SQLite, group
commit, `synchronous=FULL`, frequency control on) on a fresh data folder seeded with the demo
account, and drives its ASGI entry point with SendSms requests signed in advance as the v4
SDK signs them (ACS3-HMAC-SHA256, fresh numbers and nonce per request), `--clients` at a
time, after a warm-up (the API call log's writes counted, the last batch included). Prints
the process CPU (all threads, the SQLite writer's included) per
request and per number, split by thread, with how many requests shared a commit: steadier
than `aliyun_send.py`'s rates on a shared machine. `--profile` writes a cProfile of the
measured phase (event loop's thread only); `--gc` reports the collector's pauses. The
runtime is tuned as `yizhan serve` tunes it (`cli.tune_runtime`, uvloop); HTTP (Granian)
is left out, which in the server adds 60-90 µs to a single-number request (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from api_policy import api_stack, drive, scopes

from yizhan.cli.common import run_loop
from yizhan.cli.serve import tune_runtime


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process by name (Linux /proc)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: re.sub(r"_\d+$|-\d+.*", "", t.name) for t in threading.enumerate()}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = names.get(int(task.name), "other")
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


class Pauses:
    """The collector's pauses (ms) while installed: `gc.callbacks`."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.ms.append(1e3 * (time.perf_counter() - self._started))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="yizhan-bench-aliyun-cpu-"))
    try:
        info, yz = await api_stack(folder)
        tune_runtime()  # as `yizhan serve` does
        spread = args.recipients == "spread"
        warm = scopes(info, max(args.requests // 10, args.clients), 0, args.numbers, spread)
        timed = scopes(info, args.requests, 40_000_000, args.numbers, spread)
        committer = yz.intake._committer
        flush, commits = committer._flush, [0]

        async def counted(items: Any) -> Any:
            commits[0] += 1
            return await flush(items)
        committer._flush = counted
        await yz.pipeline.start()
        try:
            await drive(yz.api, warm, args.clients)
            profiler = cProfile.Profile() if args.profile else None
            pauses = Pauses()
            if args.gc:
                gc.callbacks.append(pauses)
            cpu0, wall0, main0 = time.process_time(), time.perf_counter(), time.thread_time()
            sys0, threads0 = os.times().system, thread_cpu()
            if profiler:
                profiler.enable()
            commits[0] = 0
            await drive(yz.api, timed, args.clients)
            calls = yz.api.services.calls
            if calls is not None:  # the call log's last batch is part of the cost
                await calls.stop()
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            main = time.thread_time() - main0
            system = os.times().system - sys0
            threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu().items()}
            if args.gc:
                gc.callbacks.remove(pauses)
        finally:
            await yz.pipeline.stop()
            await yz.store.close()
        numbers = args.requests * args.numbers
        return {"requests_per_commit": args.requests / max(commits[0], 1),
                "requests_per_s": args.requests / wall, "numbers_per_s": numbers / wall,
                "cpu_us_per_request": 1e6 * cpu / args.requests,
                "cpu_us_per_number": 1e6 * cpu / numbers,
                "main_thread_us_per_number": 1e6 * main / numbers,
                "system_us_per_number": 1e6 * system / numbers,
                "thread_us_per_number": {k: round(1e6 * v / numbers, 2) for k, v in sorted(
                    threads.items(), key=lambda kv: -kv[1]) if v},
                "gc_pauses_ms": pauses.ms}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=1, help="numbers per request")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the measured phase")
    parser.add_argument("--gc", action="store_true", help="report the collector's pauses")
    parser.add_argument("--recipients", default="consecutive", choices=["consecutive", "spread"],
                        help="numbers one after another, or spread over the segment")
    args = parser.parse_args()
    result: dict[str, Any] = {}

    async def measure() -> None:
        result.update(await run(args))

    run_loop(measure())  # uvloop, as the server
    print(f"{args.numbers} number(s) per request: {result['requests_per_s']:.0f} requests/s, "
          f"{result['numbers_per_s']:.0f} numbers/s; CPU {result['cpu_us_per_request']:.1f} µs "
          f"per request, {result['cpu_us_per_number']:.2f} µs per number "
          f"({result['main_thread_us_per_number']:.2f} in the event loop's thread, "
          f"{result['system_us_per_number']:.2f} in the kernel); "
          f"{result['requests_per_commit']:.1f} requests per commit")
    print("CPU µs per number by thread: " + ", ".join(
        f"{name} {us:.2f}" for name, us in result["thread_us_per_number"].items()))
    if args.gc:
        pauses = result["gc_pauses_ms"]
        print(f"collector: {len(pauses)} collections while measuring, {sum(pauses):.0f} ms "
              f"in all, longest {max(pauses, default=0):.1f} ms")
    print("RESULT " + json.dumps({"bench": "aliyun_cpu", "numbers": args.numbers,
                                  "recipients": args.recipients,
                                  **{k: round(v, 2) if isinstance(v, float) else v
                                     for k, v in result.items() if k != "gc_pauses_ms"}}))


if __name__ == "__main__":
    main()
