"""Verification codes beside a running send task (issue 17, point 6), in one run, against a
real server and an SMPP simulator in its own process.

    .venv/bin/python bench/tasks_priority.py [--numbers 500000] [--duration 30]
                                             [--code-rate 20] [--runs 5]
                                             [--api-duration 15] [--bulk-clients 8]

Seeds a data folder (`yizhan demo --json`), creates a draft send task of `--numbers` fresh
numbers there through the task service (the notification template, so nothing holds it to
promotion hours), then starts `yizhan simulator` (receipts after 0.2 s) and `yizhan serve`
as `bench/priority.py` does. Three phases on the same server:

- `none`: one-number verification codes at `--code-rate`/s for `--duration` seconds, no task;
- `api`: `--bulk-clients` clients post 1000-number requests (the notification template) as
  fast as they are answered for `--api-duration` seconds, no task: the numbers that reach
  the carrier per second during it are the rate the task must at least match (issue 17's
  speed line); then the outbox drains;
- `task`: the task is started (through the service, on the same store), and once its
  messages fill the outbox the same codes go out for the same time; then it is cancelled.

Reported per phase: each code's accept -> carrier time (p50/p99, from the records:
created_at is the acceptance, submitted_at the moment the dispatch round that submitted it
recorded its outcomes, after the carrier's submit_sm_resp), the task's numbers that reached
the carrier during the phase per second, and the ratio of the p99s (target: at most 2);
and the task's rate over the `api` phase's (target: at least 1).

Two p99s of 600 samples each move a lot between runs on a shared machine (the idle one
from 0.05 to 0.5 s), so `--runs` repeats the whole run (a fresh server and task each
time) and the verdict is the median of the runs' ratios. Prints `RESULT {json}` per run
and `SUMMARY {json}` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # the bench folder is not a package
from priority import Numbers, Server, bulk_load, paced_codes, percentile, server, sql_time
from rest_send import log

from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.domain.ports import SystemClock
from yizhan.domain.tasks import SendTask, TaskId, TaskSpec
from yizhan.policy.lists import PolicyLists
from yizhan.storage.data_folder import KeySource
from yizhan.storage.store import SqlStore
from yizhan.tasks.importing import Limits
from yizhan.tasks.preflight import PreflightInputs
from yizhan.tasks.service import TaskService


async def with_service(path: Path, action: str, numbers: int = 0,
                       task_id: int = 0) -> int:
    """Open the server's store from this process and create, start or cancel the task."""
    store = SqlStore.open(f"sqlite+aiosqlite:///{path}",
                          master=KeySource(file=path.parent / "master.key"))
    await store.migrate()
    clock = SystemClock()
    service = TaskService(store, store, clock, Limits(64 << 20, 10**7),
                          PreflightInputs(PolicyLists(store, clock), None, store, 0))
    account = await store.account_by_name("demo")
    assert account is not None
    try:
        if action == "create":
            data = "".join(f"150{n:08d}\n" for n in range(numbers)).encode()
            signature = (await store.list_signatures(account.id))[0].name
            template = next(t for t in await store.list_templates(account.id)
                            if t.type is TemplateType.NOTIFICATION)
            task = await service.create(account, TaskSpec(
                signature, template.code, "bench", params={"order": "A1"}),
                io.BytesIO(data), "numbers.txt")
        else:
            task = await getattr(service, action)(account, TaskId(task_id))
        if isinstance(task, Refusal):
            raise SystemExit(f"{action}: {task.code} {task.detail}")
        assert isinstance(task, SendTask)
        return task.id
    finally:
        await store.close()


async def codes(srv: Server, args: argparse.Namespace) -> dict[str, Any]:
    sent: list[str] = []
    refused: dict[str, int] = {}
    start = datetime.now(UTC)
    await paced_codes(srv, Numbers(), args.duration, args.code_rate, sent, refused)
    end = datetime.now(UTC)
    marks = ",".join("?" * len(sent)) or "NULL"
    deadline = time.monotonic() + 60
    while srv.db.execute(f"SELECT count(*) FROM messages WHERE biz_id IN ({marks}) AND "
                         "submitted_at IS NULL AND status = 'waiting'", sent).fetchone()[0]:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)  # every code reached the carrier (they go first)
    waits = [r[0] for r in srv.db.execute(
        "SELECT (julianday(submitted_at) - julianday(created_at)) * 86400.0 FROM messages "
        f"WHERE biz_id IN ({marks}) AND submitted_at IS NOT NULL", sent)]
    task_sent = srv.db.execute(
        "SELECT count(*) FROM messages WHERE out_id LIKE 'task-%' AND submitted_at >= ? "
        "AND submitted_at < ?", (sql_time(start), sql_time(end))).fetchone()[0]
    seconds = (end - start).total_seconds()
    return {"codes_sent": len(sent), "codes_refused": refused,
            "p50_s": percentile(waits, 0.5), "p90_s": percentile(waits, 0.9),
            "p99_s": percentile(waits, 0.99), "max_s": max(waits, default=float("nan")),
            "task_to_carrier_per_s": task_sent / seconds, "outbox_at_end": srv.waiting()}


async def api_rate(srv: Server, args: argparse.Namespace) -> dict[str, Any]:
    """1000-number API requests at saturation, no task: numbers to the carrier per second."""
    stop, counts = asyncio.Event(), dict[str, int]()
    start = datetime.now(UTC)
    load = asyncio.create_task(bulk_load(srv, Numbers(), args.bulk_clients, stop, counts))
    await asyncio.sleep(args.api_duration)
    stop.set()
    await load
    end = datetime.now(UTC)
    reached = srv.db.execute(
        "SELECT count(*) FROM messages WHERE coalesce(out_id, '') NOT LIKE 'task-%' AND "
        "submitted_at >= ? AND submitted_at < ?", (sql_time(start), sql_time(end))).fetchone()[0]
    await asyncio.to_thread(srv.drain)
    return {"api_to_carrier_per_s": reached / (end - start).total_seconds(), "answers": counts}


async def run(srv: Server, args: argparse.Namespace, task_id: int) -> dict[str, Any]:
    path = srv.data / "yizhan.db"
    none = await codes(srv, args)
    log(f"  no task: codes p50 {none['p50_s']:.3f} s p99 {none['p99_s']:.3f} s "
        f"({none['codes_sent']} sent, {none['codes_refused'] or 'none refused'})")
    api = await api_rate(srv, args) if args.api_duration else {"api_to_carrier_per_s": 0.0}
    log(f"  1000-number API requests, no task: {api['api_to_carrier_per_s']:.0f} numbers/s "
        f"reached the carrier ({api.get('answers')})")
    await with_service(path, "start", task_id=task_id)
    deadline = time.monotonic() + 60
    while srv.waiting() < 1000 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    log(f"  task running: {srv.waiting()} messages wait for dispatch")
    busy = await codes(srv, args)
    log(f"  task running: codes p50 {busy['p50_s']:.3f} s p90 {busy['p90_s']:.3f} s p99 "
        f"{busy['p99_s']:.3f} s max {busy['max_s']:.3f} s; the "
        f"task's messages reached the carrier at {busy['task_to_carrier_per_s']:.0f}/s; "
        f"outbox {busy['outbox_at_end']}")
    await with_service(path, "cancel", task_id=task_id)
    ratio = busy["p99_s"] / none["p99_s"] if none["p99_s"] else float("nan")
    speed = (busy["task_to_carrier_per_s"] / api["api_to_carrier_per_s"]
             if api["api_to_carrier_per_s"] else float("nan"))
    log(f"  p99 with the task / without: {ratio:.2f} (target <= 2); task rate / API rate: "
        f"{speed:.2f} (target >= 1)")
    return {"none": none, "api": api, "task": busy, "p99_ratio": ratio, "speed_ratio": speed}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=500_000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--code-rate", type=float, default=20.0)
    parser.add_argument("--api-duration", type=float, default=15.0,
                        help="seconds of 1000-number API requests (0: no such phase)")
    parser.add_argument("--bulk-clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=1, help="repeat the run; the verdict is "
                        "the median of the runs' p99 ratios")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting, e.g. --set task_outbox_bound=1000")
    args = parser.parse_args()
    env = {f"YIZHAN_{name.upper()}": value
           for name, value in (item.split("=", 1) for item in args.set)}
    results = [one_run(args, env) for _ in range(args.runs)]
    ratios = [r["p99_ratio"] for r in results]
    speeds = [r["speed_ratio"] for r in results]
    summary = {"runs": len(results), "p99_ratios": ratios,
               "median_p99_ratio": statistics.median(ratios),
               "median_task_to_carrier_per_s": statistics.median(
                   r["task"]["task_to_carrier_per_s"] for r in results),
               "median_api_to_carrier_per_s": statistics.median(
                   r["api"]["api_to_carrier_per_s"] for r in results),
               "speed_ratios": speeds, "median_speed_ratio": statistics.median(speeds)}
    log(f"  p99 ratios {', '.join(f'{r:.2f}' for r in ratios)}: median "
        f"{summary['median_p99_ratio']:.2f} (target <= 2); task/API rate "
        f"{', '.join(f'{r:.2f}' for r in speeds)}: median "
        f"{summary['median_speed_ratio']:.2f} (target >= 1)")
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


def one_run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    made: dict[str, int] = {}

    def prepare(path: Path, info: dict[str, Any]) -> None:
        began = time.monotonic()
        made["task"] = asyncio.run(with_service(path, "create", numbers=args.numbers))
        log(f"  task {made['task']} of {args.numbers} numbers imported in "
            f"{time.monotonic() - began:.1f} s")

    with server(env, prepare) as srv:
        result = asyncio.run(run(srv, args, made["task"]))
    result["load"] = Path("/proc/loadavg").read_text().split()[:3]
    print("RESULT " + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
