"""CPU cost of one REST send through the whole embedded pipeline, without HTTP or wrk.

Run from the repository root:

    .venv/bin/python bench/pipeline_cpu.py [--sends 20000] [--concurrency 64] [--profile FILE]

Builds the embedded stack (`yizhan.app.build`) on a fresh SQLite data dir with the demo
account, starts the stages (committer, dispatch worker, simulator, receipt stage), then calls
the ASGI app directly -- `--concurrency` clients, each posting single-number sends one after
the other -- until `--sends` are accepted, and waits until every message has its receipt
(status success). It reports CPU seconds of the process (all threads) per send, end to end
(acceptance + dispatch + receipt), next to the CPU cost of `GET /healthz` through the same
ASGI app. HTTP parsing (uvicorn, httptools) is left out on both sides, so the figures are
steadier than `rest_send.py`'s and show where the send path's own work goes; `--profile`
writes a cProfile of the send phase (open it with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from yizhan.app import build
from yizhan.cli.demo import ensure_demo
from yizhan.cli.serve import tune_runtime
from yizhan.domain.ports import SystemClock
from yizhan.settings import Settings


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]],
               body: bytes) -> tuple[int, bytes]:
    """One ASGI request/response, the way uvicorn drives the app."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def clients(count: int, concurrency: int, one: Any) -> None:
    counter = iter(range(count))

    async def client() -> None:
        for n in counter:
            await one(n)

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    yz = await build(settings)
    demo = await ensure_demo(yz.store, SystemClock().now(), yz.plan)
    template = next(t.code for t in demo.templates.values() if t.type == "verification")
    token = base64.b64encode(f"{demo.key.id}:{demo.key.secret}".encode())
    headers = [(b"host", b"127.0.0.1"), (b"authorization", b"Basic " + token),
               (b"content-type", b"application/json")]
    head = b'{"phone_numbers":["'
    tail = (f'"],"sign_name":"{demo.signature.name}","template_code":"{template}",'
            '"template_param":{"code":"1234"}}').encode()
    calls = count_calls(yz.store) if args.calls else None
    await yz.pipeline.start()
    tune_runtime()  # the collector and switch interval of `yizhan serve`

    async def health(_n: int) -> None:
        status, _ = await call(yz.api, "GET", "/healthz", [(b"host", b"127.0.0.1")], b"")
        assert status == 200

    async def post(n: int) -> None:
        body = head + b"138%08d" % n + tail
        status, answer = await call(yz.api, "POST", "/v1/messages",
                                    [*headers, (b"content-length", str(len(body)).encode())],
                                    body)
        assert status == 200 and b'"code":"OK"' in answer, answer

    try:
        # Warm-up (caches, pool, statements) on numbers of its own: each number is sent to
        # once, so frequency control admits every send.
        await clients(2000, args.concurrency, lambda n: post(n + 90_000_000))
        await drained(yz, 2000)
        t0, c0 = time.perf_counter(), time.process_time()
        await clients(args.sends, args.concurrency, health)
        health_cpu = (time.process_time() - c0) / args.sends
        print(f"healthz   {health_cpu * 1e6:8.1f} us CPU/request "
              f"({args.sends / (time.perf_counter() - t0):.0f}/s)")
        profiler = cProfile.Profile() if args.profile else None
        if args.split:
            await split(yz, args, post, profiler)
            return
        t0, c0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        await clients(args.sends, args.concurrency, post)
        accepted_cpu = time.process_time() - c0
        accepted_wall = time.perf_counter() - t0
        await drained(yz, 2000 + args.sends)
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        total_cpu = time.process_time() - c0
        print(f"sends     {total_cpu / args.sends * 1e6:8.1f} us CPU/send end to end "
              f"({accepted_cpu / args.sends * 1e6:.1f} us until the last answer, "
              f"{args.sends / accepted_wall:.0f} answers/s)")
        print(f"ratio (healthz CPU / send CPU) = {health_cpu * args.sends / total_cpu:.3f}")
        if calls:
            print("store calls (calls, items) since start: " + ", ".join(
                f"{name} {c} x {n / max(c, 1):.1f}" for name, (c, n) in calls.items()))
    finally:
        await yz.pipeline.stop()
        await yz.store.close()


def count_calls(store: Any) -> dict[str, list[int]]:
    """Count the store's hot calls and their batch sizes (for --calls)."""
    calls: dict[str, list[int]] = {}
    for name in ("accept", "claim_dispatch", "finish_submits", "store_receipts"):
        real = getattr(store, name)
        calls[name] = tally = [0, 0]

        async def counted(first: Any, *rest: Any, _real: Any = real, _tally: Any = tally) -> Any:
            result = await _real(first, *rest)
            _tally[0] += 1
            _tally[1] += len(first) if isinstance(first, list | tuple) else len(result[0])
            return result
        setattr(store, name, counted)
    return calls


async def split(yz: Any, args: argparse.Namespace, post: Any,
                profiler: cProfile.Profile | None) -> None:
    """Accept every send with dispatch held back, then deliver them all: two CPU figures
    (`--profile`: of the acceptance)."""
    workers = [w for w in (yz.pipeline.dispatch, yz.pipeline.express) if w is not None]
    held = asyncio.Event()

    def holding(real: Any) -> Any:
        async def hold() -> int:
            await held.wait()
            return await real()
        return hold

    for worker in workers:  # the main worker and the express one (verification codes)
        worker.run_once = holding(worker.run_once)
    c0 = time.process_time()
    if profiler:
        profiler.enable()
    await clients(args.sends, args.concurrency, post)
    accept = time.process_time() - c0
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    c0 = time.process_time()
    held.set()
    for worker in workers:
        del worker.run_once  # the class's again
    await drained(yz, 2000 + args.sends)
    deliver = time.process_time() - c0
    print(f"accept    {accept / args.sends * 1e6:8.1f} us CPU/send (API + intake + commit)")
    print(f"deliver   {deliver / args.sends * 1e6:8.1f} us CPU/send (dispatch + receipts)")


async def drained(yz: Any, expected: int, timeout: float = 120) -> None:
    """Wait until `expected` messages all have their final status (receipt applied)."""
    from sqlalchemy import text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with yz.store.engine.connect() as conn:
            done = await conn.scalar(text("select count(*) from messages "
                                          "where status != 'waiting'"))
        if done >= expected:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"only {done} of {expected} messages final after {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--calls", action="store_true", help="count hot store calls")
    parser.add_argument("--split", action="store_true", help="hold dispatch back while the "
                        "sends are accepted, then measure delivery (dispatch + receipts) alone")
    args = parser.parse_args()
    os.environ.setdefault("YIZHAN_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="yizhan-pipeline-") as tmp:
        try:
            import uvloop
            uvloop.run(run(args, Path(tmp)))
        except ImportError:
            asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
