"""CPU per call of the API call log alone, in process: what `aliyun_cpu.py` adds to a
SendSms request when the call log is on, without the request around it.

Run from the repository root:

    .venv/bin/python bench/call_log.py [--calls 20000] [--numbers 1] [--refused]

Opens a fresh embedded store (SQLite, `synchronous=FULL`), then hands the call log's writer
(`api/call_log.py`) `--calls` answered SendSms calls as the endpoint does (the decoded
parameters of a signed request, `--numbers` numbers each; accepted with a BizId, or
`--refused` as a whole), lets it write them in its batches and stops it. Prints the process
CPU (all threads, the SQLite writer's included) per call; `--empty` measures the harness
alone (the calls' parameters made and handed to nothing), to subtract. A one-number SendSms costs
~170-250 µs of CPU in `aliyun_cpu.py` on this machine: 5 % of it is 8.5-12 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from yizhan.api.call_log import CallLog, Seen
from yizhan.app import open_store
from yizhan.cli.common import run_loop
from yizhan.cli.serve import tune_runtime
from yizhan.domain.model import AccountId
from yizhan.domain.ports import SystemClock
from yizhan.settings import Settings


async def run(args: argparse.Namespace) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="yizhan-bench-call-log-"))
    store = open_store(Settings(data_dir=folder))
    try:
        await store.migrate()

        async def no_key(key_id: str) -> tuple[None, None]:
            return None, None
        log = CallLog(store, SystemClock(), no_key)
        requests = []
        for i in range(args.calls):
            first = 13_800_000_000 + i * args.numbers
            requests.append({
                "Action": "SendSms", "Version": "2017-05-25",
                "PhoneNumbers": ",".join(str(first + n) for n in range(args.numbers)),
                "SignName": "驿站", "TemplateCode": "SMS_100001",
                "TemplateParam": '{"code":"0207"}'})
        code, biz = ("isv.SMS_TEMPLATE_ILLEGAL", None) if args.refused else ("OK", "1^0")
        tune_runtime()  # as `yizhan serve` (and `aliyun_cpu.py`) do
        await log.start()
        note = (lambda *_: None) if args.empty else None
        cpu0, wall0, main0 = time.process_time(), time.perf_counter(), time.thread_time()
        for i, params in enumerate(requests):
            seen = Seen()
            seen.action, seen.params = "SendSms", params
            seen.key_id, seen.account_id = "LTAI5tBenchKeyId00000000", AccountId(1)
            (note or log.note)(seen, 200, code, "8E4B2A6C-3F1D-4E8A-9B7C-2D5E6F708192",
                     biz and f"{384024315544161280 + i}^0", ("127.0.0.1", 50000))
            if i % 64 == 63:
                await asyncio.sleep(0)  # requests arrive over time: let the writer run
        await log.stop()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        main = time.thread_time() - main0
        return {"calls": args.calls, "numbers": args.numbers,
                "cpu_us_per_call": 1e6 * cpu / args.calls,
                "main_thread_us_per_call": 1e6 * main / args.calls,
                "wall_s": wall}
    finally:
        await store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--numbers", type=int, default=1)
    parser.add_argument("--refused", action="store_true")
    parser.add_argument("--empty", action="store_true",
                        help="the harness alone (calls made, none logged): subtract it")
    args = parser.parse_args()
    result: dict[str, float] = {}

    async def measure() -> None:
        result.update(await run(args))
    run_loop(measure())
    print(f"{result['cpu_us_per_call']:.2f} µs of CPU per call "
          f"({result['main_thread_us_per_call']:.2f} in the event loop's thread) "
          f"({args.numbers} number(s), {'refused' if args.refused else 'accepted'})")
    print("RESULT " + json.dumps({"bench": "call_log", **result}))


if __name__ == "__main__":
    main()
