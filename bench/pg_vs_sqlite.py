"""The store's delivery rate on PostgreSQL against SQLite on the same box, in the same run.

Run from the repository root (on a shared machine, one benchmark at a time):

    .venv/bin/python bench/pg_vs_sqlite.py [--pairs 3] [--stages]
        [--messages 100000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

The loop of `bench/pg_churn.py` (acceptance of 1000-number requests keeping a backlog on
the outbox, dispatch rounds of 256 claims and their outcomes, receipts 512 per
transaction) on a fresh store of each kind: a PostgreSQL schema of its own (dropped after)
and a SQLite file in a temporary folder (WAL, as the data folder's store). Pairs alternate
which goes first. Per run: messages through per second, start to end; at the end the
median over the pairs of the PostgreSQL/SQLite ratio. One process, one event loop, no API
and no carrier: it compares the stores' work per message, not a deployment (the SQLite
store runs its transactions in its writer thread, PostgreSQL's through asyncpg). With
`--stages` the same work runs as three tasks side by side (acceptance, dispatch rounds,
receipts), as a deployment's stages do.
It prints one line per run and `RESULT {json}` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench folder: pg_churn
from pg_churn import CHANNEL, CLAIM, LEASE, RECEIPTS, REQUEST, Churn, dsn, log

from yizhan.domain.events import Receipt
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import Accepted, ReceiptUpdate, SubmitOutcome
from yizhan.storage.data_folder import KeySource
from yizhan.storage.store import SqlStore

MASTER = KeySource(given=bytes(range(32)))


class RateOnly(Churn):
    async def sample(self, elapsed: float) -> None:
        self.windows.append({"through": self.through, "seconds": elapsed})


class Stages(RateOnly):
    """The same work as three tasks side by side, as a deployment's stages run: acceptance
    keeping the backlog, the dispatcher's rounds, the receipt stage's commits of 512 (the
    receipts of the submits, in order). PostgreSQL runs their transactions side by side on
    connections of their own; SQLite's store gives its one writer to each in turn."""

    async def run(self) -> None:
        submitted: asyncio.Queue[list[tuple[str, str]] | None] = asyncio.Queue()
        total = self.args.messages

        async def accept() -> None:
            while self.accepted < total:
                if self.accepted - self.through < self.args.backlog:
                    await self.store.accept(self.request(datetime.now(UTC)))
                    self.accepted += REQUEST
                else:
                    await asyncio.sleep(0.001)

        async def dispatch() -> None:
            done = 0
            while done < total:
                now = datetime.now(UTC)
                claims, _ = await self.store.claim_dispatch(now, CLAIM, LEASE)
                if not claims:
                    await asyncio.sleep(0.001)
                    continue
                outcomes = []
                for claim in claims:
                    self.remote += 1
                    outcomes.append(SubmitOutcome(claim, CHANNEL, Accepted(f"{self.remote:016x}"),
                                                  route="bench"))
                await self.store.finish_submits(outcomes, now)
                done += len(claims)
                await submitted.put([(o.result.remote_id,  # type: ignore[union-attr]
                                      o.claim.message.phone) for o in outcomes])
            await submitted.put(None)

        async def receipts() -> None:
            ready: list[tuple[str, str]] = []
            finished = False
            while not finished or ready:
                while len(ready) < RECEIPTS and not finished:
                    item = await submitted.get()
                    if item is None:
                        finished = True
                    else:
                        ready.extend(item)
                chunk, ready = ready[:RECEIPTS], ready[RECEIPTS:]
                now = datetime.now(UTC)
                matched = await self.store.store_receipts(
                    [ReceiptUpdate(Receipt(CHANNEL, remote_id, "DELIVRD", now, phone=phone),
                                   MessageStatus.SUCCESS, "DELIVERED")
                     for remote_id, phone in chunk], now)
                assert matched == len(chunk), (matched, len(chunk))
                self.through += len(chunk)

        await asyncio.gather(accept(), dispatch(), receipts())


async def one_run(args: argparse.Namespace, kind: str) -> float:
    folder = Path(tempfile.mkdtemp(prefix="yizhan-pg-vs-sqlite-"))
    schema = f"bench_pgvs_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(args.postgres)) if kind == "postgresql" else None
    try:
        if admin is not None:
            await admin.execute(f'CREATE SCHEMA "{schema}"')
            store = SqlStore.open(args.postgres, master=MASTER, schema=schema)
        else:
            store = SqlStore.open(f"sqlite+aiosqlite:///{folder / 'store.db'}", master=MASTER)
        await store.migrate()
        account = await store.create_account("bench", datetime.now(UTC))
        kind_of_run = Stages if args.stages else RateOnly
        churn = kind_of_run(args, store, None, account.id)  # type: ignore[arg-type]
        started = time.monotonic()
        try:
            await churn.run()
        finally:
            await store.close()
        return churn.through / (time.monotonic() - started)
    finally:
        if admin is not None:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
        shutil.rmtree(folder, ignore_errors=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--stages", action="store_true",
                        help="acceptance, dispatch and receipts as three tasks side by side")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    args.every, args.stop_at = args.messages, None
    rates: dict[str, list[float]] = {"postgresql": [], "sqlite": []}
    ratios = []
    for n in range(args.pairs):
        order = ["postgresql", "sqlite"] if n % 2 == 0 else ["sqlite", "postgresql"]
        pair = {}
        for kind in order:
            pair[kind] = await one_run(args, kind)
            rates[kind].append(pair[kind])
            log(f"pair {n + 1} {kind}: {pair[kind]:.0f} messages/s")
        ratios.append(pair["postgresql"] / pair["sqlite"])
    result = {"messages": args.messages, "pairs": args.pairs, "stages": args.stages,
              "postgresql": [round(r) for r in rates["postgresql"]],
              "sqlite": [round(r) for r in rates["sqlite"]],
              "ratio_median": round(statistics.median(ratios), 2)}
    log(f"PostgreSQL/SQLite median ratio {result['ratio_median']}")
    log("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
