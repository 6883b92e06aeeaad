"""PostgreSQL under churn: a million messages through the store, the claim and the receipt
lookup sampled along the way (issue 20, point 2).

Run from the repository root (on a shared machine, one benchmark at a time):

    .venv/bin/python bench/pg_churn.py [--messages 1000000]
        [--every 100000] [--backlog 20000] [--revision head]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

What it does, at the store level and as the running processes do (no API, no carrier):

1. a schema of its own on the server of `--postgres`, migrated to `--revision` (`head`; an
   older revision measures the schema before a change, with today's statements), dropped at
   the end unless `--keep`;
2. a loop until `--messages` messages went through: acceptance of 1000-number requests
   (`accept`) keeps `--backlog` messages waiting on the outbox, as a busy platform has;
   the dispatcher's round (`claim_dispatch` of 256, every claim accepted by the carrier,
   `finish_submits`); the receipts of the messages submitted a round earlier, 512 per
   transaction as the receipt stage commits them (`store_receipts`: the lookup by channel
   and carrier id, the receipt rows, the status updates);
3. every `--every` messages through: p99 of the whole store calls of the window (claim of
   256, receipts of 512), then probes on a connection of its own, each statement alone in a
   transaction rolled back: 200 claims of 256 and 200 lookups of 512 carrier ids of
   messages already receipted, p50 and p99 with the round trip; the tables' live and dead
   rows and share of HOT updates (`pg_stat_user_tables`), and the size of the tables and
   of the indexes the claim and the lookup use.

The figures also say how autovacuum stood (`SHOW autovacuum`): on a server where it is off
(this box's CI configuration) nothing is ever vacuumed, and the design must hold without it.
It prints one line per window and `RESULT {json}` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from yizhan.domain.events import Receipt
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    AccountId,
    Message,
    MessageStatus,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.ports import Accepted, ReceiptUpdate, SubmitOutcome
from yizhan.storage import migrate
from yizhan.storage.data_folder import KeySource
from yizhan.storage.engine import create_engine
from yizhan.storage.messages import DISPATCH, targets_query
from yizhan.storage.sql import hot_sql
from yizhan.storage.store import SqlStore

CHANNEL = "sim"
REQUEST = 1000  # numbers per send request
CLAIM = 256  # dispatch_batch's default
RECEIPTS = 512  # receipt_batch's default
LEASE = timedelta(minutes=5)
PROBES = 200
TABLES = ("messages", "outbox", "receipts")


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def log(msg: str) -> None:
    print(msg, flush=True)


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Churn:
    def __init__(self, args: argparse.Namespace, store: SqlStore, probe: asyncpg.Connection,
                 account: int) -> None:
        self.args, self.store, self.probe, self.account = args, store, probe, account
        self.ids = IdGenerator()
        self.accepted = self.through = 0
        self.remote = 0
        self.waiting: list[tuple[str, str]] = []  # (remote id, phone) submitted, no receipt
        self.receipted: list[str] = []  # recent remote ids already receipted (probes)
        self.claim_ms: list[float] = []
        self.receipt_ms: list[float] = []
        self.windows: list[dict[str, Any]] = []
        self.bgwriter: dict[str, int] = {}
        self.idle_made = False

    def request(self, now: datetime) -> list[Message]:
        first = self.ids.next_id()
        biz = self.ids.biz_id(first)
        base = random.randrange(10**8)
        return [Message.queued(
            id=first if i == 0 else self.ids.next_id(), biz_id=biz,
            account_id=AccountId(self.account),
            phone=PhoneNumber(f"+86138{(base + i) % 10**8:08d}"), sign_name="驿站",
            template_code=TemplateCode("SMS_100000001"),
            template_type=TemplateType.NOTIFICATION, content="【驿站】您的包裹已到",
            segments=1, out_id="", created_at=now) for i in range(REQUEST)]

    async def run(self) -> None:
        total, every = self.args.messages, self.args.every
        next_sample = every
        if self.probe is not None:  # checkpoints counted from here
            self.bgwriter = dict(await self.probe.fetchrow(
                "SELECT checkpoints_timed + checkpoints_req AS checkpoints, buffers_backend "
                "FROM pg_stat_bgwriter"))
        start = time.monotonic()
        while self.through < total:
            now = datetime.now(UTC)
            while (self.accepted - self.through < self.args.backlog
                   and self.accepted < total):
                await self.store.accept(self.request(now))
                self.accepted += REQUEST
            await self.round(now)
            stop = self.args.stop_at is not None and time.time() >= self.args.stop_at
            if self.through >= next_sample or self.through >= total or stop:
                await self.sample(time.monotonic() - start)
                next_sample += every
            if stop:
                log(f"stopped at --stop-at after {self.through} messages")
                return

    async def round(self, now: datetime) -> None:
        started = time.perf_counter()
        claims, _ = await self.store.claim_dispatch(now, CLAIM, LEASE)
        self.claim_ms.append((time.perf_counter() - started) * 1000)
        outcomes = []
        for claim in claims:
            self.remote += 1
            remote_id = f"{self.remote:016x}"
            outcomes.append(SubmitOutcome(claim, CHANNEL, Accepted(remote_id), route="bench"))
        await self.store.finish_submits(outcomes, now)
        # The receipts of the previous rounds' submits (a carrier answers a little later).
        ready = self.waiting
        self.waiting = [(o.result.remote_id, o.claim.message.phone)  # type: ignore[union-attr]
                        for o in outcomes]
        for i in range(0, len(ready), RECEIPTS):
            chunk = ready[i:i + RECEIPTS]
            updates = [ReceiptUpdate(Receipt(CHANNEL, remote_id, "DELIVRD", now, phone=phone),
                                     MessageStatus.SUCCESS, "DELIVERED")
                       for remote_id, phone in chunk]
            started = time.perf_counter()
            matched = await self.store.store_receipts(updates, now)
            self.receipt_ms.append((time.perf_counter() - started) * 1000)
            assert matched == len(chunk), (matched, len(chunk))
            self.through += len(chunk)
            self.receipted = (self.receipted + [r for r, _ in chunk])[-20_000:]
        if not claims and not ready:
            raise RuntimeError("nothing claimed and nothing waiting: the loop is stuck")

    async def sample(self, elapsed: float) -> None:
        sql = hot_sql(True)
        now = datetime.now(UTC).replace(tzinfo=None)
        # Main's claim statement still named the topic (for a baseline run of main's code).
        due = ((DISPATCH, now, now, CLAIM) if "topic" in sql.due else (now, now, CLAIM))
        vacuuming = self.store._outbox_vacuum is not None and not self.store._outbox_vacuum.done()
        if self.args.probe_after_vacuum:
            await self.store.outbox_vacuumed()
        bgwriter = dict(await self.probe.fetchrow(
            "SELECT checkpoints_timed + checkpoints_req AS checkpoints, buffers_backend "
            "FROM pg_stat_bgwriter"))
        idle_due = await self._idle_tables(sql.due)
        claim, lookup, single, idle, nothing = [], [], [], [], []
        plan_claim = plan_lookup = ""
        for n in range(PROBES):
            claim.append(await self._timed(sql.due, *due))
            # Controls at the same moment: a round trip that reads nothing, and the same
            # claim on a copy of the outbox that never churns.
            nothing.append(await self._timed("SELECT 1"))
            idle.append(await self._timed(idle_due, *due))
            statement, params = targets_query(sql, CHANNEL,
                                              random.sample(self.receipted, RECEIPTS))
            lookup.append(await self._timed(statement, *params))
            statement1, params1 = targets_query(sql, CHANNEL, [random.choice(self.receipted)])
            single.append(await self._timed(statement1, *params1))
            if n == 0:
                plan_claim = await self._plan(sql.due, *due)
                plan_lookup = await self._plan(statement, *params)
        stats = {r["relname"]: dict(r) for r in await self.probe.fetch(
            "SELECT relname, n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, n_tup_del, "
            "pg_total_relation_size(relid) AS bytes FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = ANY($1)", list(TABLES))}
        indexes = {r["name"]: r["bytes"] for r in await self.probe.fetch(
            "SELECT c.relname AS name, pg_relation_size(c.oid) AS bytes FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relkind = 'i' AND (c.relname LIKE 'ix_outbox%' "
            "OR c.relname LIKE 'ix_messages_channel%' OR c.relname LIKE 'ix_messages_remote%' "
            "OR c.relname LIKE 'pk_outbox')")}
        window = {
            "through": self.through, "seconds": round(elapsed, 1),
            "rate": round(self.through / elapsed),
            "claim_call_p99_ms": round(p(self.claim_ms, 0.99), 2),
            "receipts_call_p99_ms": round(p(self.receipt_ms, 0.99), 2),
            "claim_p50_ms": round(p(claim, 0.5), 2), "claim_p99_ms": round(p(claim, 0.99), 2),
            "lookup_p50_ms": round(p(lookup, 0.5), 2),
            "lookup_p99_ms": round(p(lookup, 0.99), 2),
            "lookup1_p50_ms": round(p(single, 0.5), 2),
            "lookup1_p99_ms": round(p(single, 0.99), 2),
            "idle_claim_p50_ms": round(p(idle, 0.5), 2),
            "idle_claim_p99_ms": round(p(idle, 0.99), 2),
            "select1_p99_ms": round(p(nothing, 0.99), 2),
            "claims_over_5ms": sum(v > 5 for v in claim),
            "lookup1_over_5ms": sum(v > 5 for v in single),
            "vacuum_at_probe": vacuuming,
            "checkpoints": bgwriter["checkpoints"] - self.bgwriter.get("checkpoints", 0),
            "buffers_backend": bgwriter["buffers_backend"]
            - self.bgwriter.get("buffers_backend", 0),
            "load1": round(os.getloadavg()[0], 2),
            "tables": {name: {
                "live": s["n_live_tup"], "dead": s["n_dead_tup"],
                "hot": round(s["n_tup_hot_upd"] / s["n_tup_upd"], 3) if s["n_tup_upd"] else None,
                "mb": round(s["bytes"] / 2**20, 1)} for name, s in stats.items()},
            "index_kb": {name: b // 1024 for name, b in indexes.items()},
            "plan_claim": plan_claim, "plan_lookup": plan_lookup,
        }
        self.windows.append(window)
        self.bgwriter = bgwriter
        self.claim_ms, self.receipt_ms = [], []
        t = window["tables"]
        log(f"{self.through:>8} through in {elapsed:7.1f} s ({window['rate']}/s) | "
            f"claim p50/p99 {window['claim_p50_ms']}/{window['claim_p99_ms']} ms "
            f"(call p99 {window['claim_call_p99_ms']}) | lookup of {RECEIPTS} p50/p99 "
            f"{window['lookup_p50_ms']}/{window['lookup_p99_ms']} ms, of 1 "
            f"{window['lookup1_p50_ms']}/{window['lookup1_p99_ms']} ms (receipts call p99 "
            f"{window['receipts_call_p99_ms']}) | controls p99: idle claim "
            f"{window['idle_claim_p99_ms']}, SELECT 1 {window['select1_p99_ms']} ms | over 5 ms: "
            f"claims {window['claims_over_5ms']}, lookups of 1 {window['lookup1_over_5ms']} | "
            f"vacuum at probe {vacuuming}, checkpoints {window['checkpoints']}, "
            f"load {window['load1']} | dead: messages {t['messages']['dead']} "
            f"outbox {t['outbox']['dead']} | HOT: messages {t['messages']['hot']} "
            f"outbox {t['outbox']['hot']} | indexes KB {window['index_kb']}")

    async def _idle_tables(self, due: str) -> str:
        """The claim statement on copies of the outbox and of its messages made at the first
        window and never written again (the control: what the same claim costs on tables
        that do not churn, under the machine's load of the moment)."""
        if not self.idle_made:
            await self.probe.execute(
                "CREATE TABLE idle_outbox AS SELECT * FROM outbox; "
                "CREATE INDEX ix_idle_outbox_rank ON idle_outbox (rank_at, id); "
                "CREATE TABLE idle_messages AS SELECT m.* FROM messages m "
                "JOIN idle_outbox o ON o.message_id = m.id; "
                "ALTER TABLE idle_messages ADD PRIMARY KEY (id)")
            for table in ("idle_outbox", "idle_messages"):
                await self.probe.execute(f"VACUUM ANALYZE {table}")
            self.idle_made = True
        return (due.replace("FROM outbox o LEFT JOIN messages m",
                            "FROM idle_outbox o LEFT JOIN idle_messages m"))

    async def _timed(self, statement: str, *params: Any) -> float:
        """Milliseconds of one statement with its round trip, alone in a transaction rolled
        back (its locks go with it)."""
        tr = self.probe.transaction()
        await tr.start()
        try:
            started = time.perf_counter()
            await self.probe.fetch(statement, *params)
            return (time.perf_counter() - started) * 1000
        finally:
            await tr.rollback()

    async def _plan(self, statement: str, *params: Any) -> str:
        tr = self.probe.transaction()
        await tr.start()
        try:
            rows = await self.probe.fetch(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + statement, *params)
        finally:
            await tr.rollback()
        return "\n".join(r[0] for r in rows)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000, help="messages per sample")
    parser.add_argument("--backlog", type=int, default=20_000,
                        help="messages kept waiting on the outbox")
    parser.add_argument("--revision", default="head", help="migrate the schema to this one")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--plans", action="store_true", help="print the last window's plans")
    parser.add_argument("--vacuum-rows", type=int,
                        help="the store's outbox vacuum after this many deletions")
    parser.add_argument("--probe-after-vacuum", action="store_true",
                        help="wait for the store's outbox vacuum under way before probing")
    parser.add_argument("--stop-at", help="UTC time (HH:MM) to stop at, whatever went through")
    args = parser.parse_args()
    if args.stop_at:
        hour, minute = map(int, args.stop_at.split(":"))
        args.stop_at = datetime.now(UTC).replace(hour=hour, minute=minute, second=0).timestamp()

    schema = f"bench_churn_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(args.postgres))
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    autovacuum = await admin.fetchval("SHOW autovacuum")
    try:
        engine = create_engine(args.postgres, schema=schema, pool_size=4)
        await migrate.upgrade(engine, args.revision)
        store = SqlStore(engine, KeySource(given=bytes(range(32))))
        if args.vacuum_rows is not None:
            store.outbox_vacuum_rows = args.vacuum_rows
        await store.unlock()
        account = await store.create_account("bench", datetime.now(UTC))
        probe = await asyncpg.connect(dsn(args.postgres),
                                      server_settings={"search_path": schema})
        log(f"schema {schema} at {args.revision}; autovacuum {autovacuum}; "
            f"{args.messages} messages, backlog {args.backlog}")
        churn = Churn(args, store, probe, account.id)
        started = time.monotonic()
        try:
            await churn.run()
        finally:
            await probe.close()
            await store.close()
        elapsed = time.monotonic() - started
        last = churn.windows[-1]
        if args.plans:
            log(last["plan_claim"])
            log(last["plan_lookup"])
        result = {
            "revision": args.revision, "autovacuum": autovacuum, "messages": churn.through,
            "seconds": round(elapsed, 1), "rate": round(churn.through / elapsed),
            "claim_p99_ms_max": max(w["claim_p99_ms"] for w in churn.windows),
            "lookup_p99_ms_max": max(w["lookup_p99_ms"] for w in churn.windows),
            "lookup1_p99_ms_max": max(w["lookup1_p99_ms"] for w in churn.windows),
            "claim_call_p99_ms_median": statistics.median(
                w["claim_call_p99_ms"] for w in churn.windows),
            "receipts_call_p99_ms_median": statistics.median(
                w["receipts_call_p99_ms"] for w in churn.windows),
            "windows": [{k: v for k, v in w.items() if not k.startswith("plan")}
                        for w in churn.windows],
        }
        log(f"{churn.through} messages in {elapsed:.0f} s")
        log("RESULT " + json.dumps(result))
    finally:
        if not args.keep:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
