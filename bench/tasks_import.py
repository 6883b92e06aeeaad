"""Send-task import speed and memory (issue 17): a big number file read, validated and stored.

    .venv/bin/python bench/tasks_import.py [--numbers 500000] [--runs 3]

Writes a CSV of `--numbers` distinct mainland numbers (`phone` header, one per line; 500,000
numbers make 6 MB: an 11-digit number and its line end are 12 bytes, so 3 MB holds about
262,000 of them) and a second file of exactly the 3 MB limit. For each, in the same run:

- `baseline`: the stdlib `csv.reader` over the file, keeping the first column (the least any
  import does);
- `read`: `tasks/importing.read_file` (decode, normalise each number as the API does,
  remove duplicates, keep rejected rows), and its peak memory (tracemalloc, a run apart);
- `create`: `TaskService.create` on a fresh SQLite store (the read in a thread, then the
  rows stored 20,000 per transaction), the whole import a tenant waits for.

Prints the median of `--runs` per figure, the ratio of `read` to `baseline`, and `RESULT
{json}`. Target: `create` of the 500,000-number file <= 10 s, memory bounded by the file.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yizhan.cli.demo import ensure_demo
from yizhan.domain.model import TemplateType
from yizhan.domain.ports import SystemClock
from yizhan.domain.tasks import SendTask, TaskSpec
from yizhan.policy.lists import PolicyLists
from yizhan.storage.data_folder import KeySource
from yizhan.storage.store import SqlStore
from yizhan.tasks.importing import Limits, read_file
from yizhan.tasks.preflight import PreflightInputs
from yizhan.tasks.service import TaskService

MB3 = 3 * 1024 * 1024


def numbers_file(count: int) -> bytes:
    lines = ["phone"] + [f"1{3 + i % 7}{i:09d}" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


def baseline(data: bytes) -> int:
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))
    return len([row[0] for row in reader])


def read(data: bytes) -> int:
    limits = Limits(max_bytes=len(data), max_numbers=10**7)
    return len(read_file(io.BytesIO(data), "numbers.csv", (), (), limits).rows)


def timed(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mib(work: Callable[[], Any]) -> float:
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


async def create_once(data: bytes, folder: Path) -> float:
    store = SqlStore.open(f"sqlite+aiosqlite:///{folder / 'store.db'}",
                          master=KeySource(given=bytes(range(32))))
    await store.migrate()
    clock = SystemClock()
    demo = await ensure_demo(store, clock.now())
    service = TaskService(store, store, clock, Limits(len(data), 10**7),
                          PreflightInputs(PolicyLists(store, clock), None, store, 0))
    spec = TaskSpec(demo.signature.name, demo.templates[TemplateType.NOTIFICATION].code,
                    params={"order": "A1"})
    start = time.perf_counter()
    task = await service.create(demo.account, spec, io.BytesIO(data), "numbers.csv")
    took = time.perf_counter() - start
    assert isinstance(task, SendTask), task
    await store.close()
    return took


def create(data: bytes, runs: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            times.append(asyncio.run(create_once(data, Path(folder))))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    big = numbers_file(args.numbers)
    at_limit = numbers_file(MB3 // 12 - 1)
    result: dict[str, Any] = {}
    for label, data in ((f"{args.numbers} numbers", big), ("3 MB", at_limit)):
        count = baseline(data) - 1
        base = timed(lambda d=data: baseline(d), args.runs)  # type: ignore[misc]
        took = timed(lambda d=data: read(d), args.runs)  # type: ignore[misc]
        memory = peak_mib(lambda d=data: read(d))  # type: ignore[misc]
        stored = create(data, args.runs)
        print(f"{label}: {count} numbers, {len(data) / 2**20:.2f} MiB file", flush=True)
        print(f"  baseline csv.reader {base:.2f} s; read+validate {took:.2f} s "
              f"({took / base:.1f}x the baseline); peak memory {memory:.0f} MiB "
              f"({memory / (len(data) / 2**20):.1f}x the file)")
        print(f"  create (read, validate, store) {stored:.2f} s", flush=True)
        result[label] = {"numbers": count, "file_mib": round(len(data) / 2**20, 2),
                         "baseline_s": round(base, 3), "read_s": round(took, 3),
                         "ratio": round(took / base, 2), "peak_mib": round(memory, 1),
                         "create_s": round(stored, 3)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
