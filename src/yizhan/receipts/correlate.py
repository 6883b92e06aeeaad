"""The receipt stage: channel events -> stored receipts and message status.

Channels call `on_event` for each receipt or uplink, or `on_event.many` for a batch of them,
and get control back only once they are stored (so an SMPP deliver_sm is answered after the
receipt is safe). Receipts are grouped
into one transaction per batch; each carries the status its channel classified it with (the
platform's rules, `codes.classify`, only for a channel that does not) and is matched to its
message by (channel, remote id). A receipt that overtakes its submit's commit is kept
unmatched and applied by the late matcher, which runs every few seconds; one still unmatched
after `unmatched_after` seconds is settled once (storage/unmatched.py: its id in the other
base, or its handset and submit date naming a message a lost submit answer left unknown),
else logged, counted and kept (`yizhan receipts unmatched`). The store bills a
successful domestic message in the transaction that applies its receipt (the first final
receipt only: a duplicate finds the message no longer waiting; docs/billing.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from yizhan.domain import codes
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import MessageStatus, OptOut, UplinkOwner
from yizhan.domain.ports import Clock, ReceiptUpdate, SettledReceipts, UnmatchedReceipt
from yizhan.receipts import uplinks
from yizhan.runtime.batching import Batcher

log = logging.getLogger("yizhan.receipts")

LOGGED_PER_ROUND = 20
"""Unmatched receipts logged one line each per round; more make one line together."""


_STATUSES = {s.value: s for s in MessageStatus}


def classified(r: Receipt) -> ReceiptUpdate:
    """The receipt with the status and error code it gives its message: as its channel
    classified it (with the channel's code table), else by the platform's rules."""
    status = _STATUSES.get(r.status) if r.status else None
    if status is None:
        return ReceiptUpdate(r, *codes.classify(r.code))
    return ReceiptUpdate(r, status, "DELIVERED" if status is MessageStatus.SUCCESS else r.code)


class ReceiptStore(Protocol):
    async def store_receipts(self, updates: Sequence[ReceiptUpdate], now: datetime) -> int: ...
    async def match_late_receipts(self, now: datetime, limit: int = 1000) -> int: ...
    async def settle_unmatched_receipts(self, cutoff: datetime, now: datetime,
                                        limit: int = 1000) -> SettledReceipts: ...
    async def store_uplinks(self, items: Sequence[Uplink], now: datetime | None = None,
                            opt_out: Callable[[Uplink, UplinkOwner], OptOut | None] | None = None,
                            ) -> None: ...


class EventInbox:
    """The receipt stage's event sink: `await inbox(event)` for one event, `await
    inbox.many(events)` for a batch (a channel that has many receipts due at once hands them
    over in one call: one wait for the group commit instead of one per receipt). Both return
    once every event is stored."""

    def __init__(self, batcher: Batcher[Receipt], store: ReceiptStore,
                 opt_out_words: Collection[str] = uplinks.OPT_OUT_WORDS) -> None:
        self._batcher = batcher
        self._store = store
        self._words = uplinks.normalised(opt_out_words)

    async def __call__(self, event: Receipt | Uplink) -> None:
        if isinstance(event, Receipt):
            await self._batcher.submit([event])
        else:
            await self._uplinks([event])

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        receipts = [e for e in events if isinstance(e, Receipt)]
        replies = [e for e in events if isinstance(e, Uplink)]
        if replies:
            await self._uplinks(replies)
        if receipts:
            await self._batcher.submit(receipts)


    async def _uplinks(self, replies: Sequence[Uplink]) -> None:
        await self._store.store_uplinks(replies, opt_out=self._opt_out)

    def _opt_out(self, uplink: Uplink, owner: UplinkOwner) -> OptOut | None:
        return uplinks.opt_out(uplink, owner, self._words)


class ReceiptStage:
    def __init__(self, store: ReceiptStore, clock: Clock, *, batch: int = 512,
                 match_every: float = 5.0, on_stored: Callable[[], None] | None = None,
                 opt_out_words: Collection[str] = uplinks.OPT_OUT_WORDS,
                 unmatched_after: float = 30.0,
                 on_unmatched: Callable[[Sequence[UnmatchedReceipt]], None] | None = None
                 ) -> None:
        self._store = store
        self._unmatched_after = timedelta(seconds=unmatched_after)
        self._on_unmatched = on_unmatched
        """Told of every receipt given up as matching nothing (the metric)."""
        self._on_stored = on_stored
        """Called after each stored batch (the push stage's wake-up)."""
        self._clock = clock
        self._match_every = match_every
        self._batcher: Batcher[Receipt] = Batcher("receipts", self._flush, clock,
                                                  max_batch=batch, max_delay=0.002)
        self._matcher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.on_event = EventInbox(self._batcher, store, opt_out_words)
        """The sink channels are started with (`Pipeline.start`)."""

    async def start(self) -> None:
        self._batcher.start()
        self._matcher = asyncio.create_task(self._match_loop(), name="receipts:late-matcher")

    async def stop(self) -> None:
        # Not cancelled mid-transaction: the loop finishes its round and sees the flag.
        self._stopping.set()
        if self._matcher:
            await self._matcher
        await self._batcher.stop()

    async def match_late(self) -> int:
        matched = await self._store.match_late_receipts(now=self._clock.now())
        if matched:
            log.info("matched %d receipts that arrived before their submit was recorded",
                     matched)
        return matched

    async def settle_unmatched(self) -> SettledReceipts:
        """Settle the receipts still unmatched `unmatched_after` seconds after they came
        (storage/unmatched.py): each one given up is logged once (the first few of a round
        line by line, the rest in one line) and counted."""
        now = self._clock.now()
        settled = await self._store.settle_unmatched_receipts(now - self._unmatched_after, now)
        if settled.by_other_base:
            log.warning("matched %d receipts by their id written in the other base (hex "
                        "for decimal or back); set the channel's `ids` to match them at "
                        "once", settled.by_other_base)
        if settled.by_handset:
            log.info("%d receipts resolved messages left unknown by a lost submit answer",
                     settled.by_handset)
        unmatched = settled.unmatched
        for r in unmatched[:LOGGED_PER_ROUND]:
            log.warning("channel %s: receipt for remote id %r (%s%s) matches no message; "
                        "kept (yizhan receipts unmatched): %r", r.channel, r.remote_id,
                        r.code, f", handset {r.phone}" if r.phone else "", r.raw[:120])
        if len(unmatched) > LOGGED_PER_ROUND:
            log.warning("%d more receipts match no message (yizhan receipts unmatched)",
                        len(unmatched) - LOGGED_PER_ROUND)
        if unmatched and self._on_unmatched is not None:
            self._on_unmatched(unmatched)
        return settled

    async def _flush(self, receipts: Sequence[Receipt]) -> None:
        updates = [classified(r) for r in receipts]
        matched = await self._store.store_receipts(updates, self._clock.now())
        log.debug("stored %d receipts, %d matched", len(receipts), matched)
        if matched and self._on_stored is not None:
            self._on_stored()

    async def _match_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._match_every)
                return
            try:
                await self.match_late()
                await self.settle_unmatched()
            except Exception:  # the store may be briefly unavailable; try again next round
                log.exception("late receipt matching failed")
