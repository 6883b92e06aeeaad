"""What a simulated carrier owes its client, for the four simulators (SMPP `smsc.py`, CMPP
`ismg.py`, SGIP `sgip_smg.py`, SMGP `smgw.py`): receipts and replies due at a time, a
per-second submit limit. What they share about a submit as it arrives is `submits.py`'s.

`Deliveries` keeps every item (an `Offer`, or an `Awaited` one) in one timer
heap (not a task or timer each) and hands each to the server's `send` when due; an item the
server cannot send yet (no client bound to take it) is held until `release` (a client
bound), and one the client did not accept is offered again after `RETRY_SECONDS`, at most
`OFFERS` times, as a carrier's SMSC stores and retries.
`SecondLimit` counts submits per wall-clock second for `max_per_second`.

The simulators stand for the world outside, so their times are the event loop's, never the
platform's injected `Clock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

log = logging.getLogger("yizhan.simulator")

RETRY_SECONDS = 1.0
OFFERS = 30


class Due(Protocol):
    """An item in the heap: ordered by `due`, then `seq`; `offers` counts its sends."""

    due: float
    seq: int
    offers: int

    def __lt__(self, other: Any) -> bool: ...


D = TypeVar("D", bound=Due)
B = TypeVar("B")


@dataclass(order=True, slots=True)
class Offer(Generic[B]):
    """A report or reply (`body`) for the client `to` (the account it belongs to), sent
    when due and offered again until the client accepts it."""

    due: float
    seq: int
    to: str = field(compare=False)
    body: B = field(compare=False)
    offers: int = field(default=0, compare=False)


class Acknowledges(Protocol):
    """The simulator that hears the client's answer to an `Awaited`."""

    def acknowledged(self, item: Any, status: int | None) -> None: ...


@dataclass(order=True, slots=True)
class Awaited(Offer[B]):
    """An `Offer` that is also the link's `Waiter` of the client's answer (sent as a raw
    request: no future or callback per item on the simulators' hot path). The answer's
    status, octets `STATUS` of its undecoded body, or None when none came (or the link
    dropped), goes to `owner.acknowledged`."""

    owner: Acknowledges | None = field(default=None, compare=False)
    STATUS: ClassVar[slice]

    def done(self) -> bool:
        return False

    def set_result(self, result: bytes, /) -> None:
        assert self.owner is not None
        self.owner.acknowledged(self, int.from_bytes(result[self.STATUS], "big"))

    def set_exception(self, exception: BaseException, /) -> None:
        assert self.owner is not None
        self.owner.acknowledged(self, None)


class Deliveries(Generic[D]):
    def __init__(self, send: Callable[[D], None]) -> None:
        self._send = send
        self._heap: list[D] = []
        self._held: list[D] = []
        self._timer: asyncio.TimerHandle | None = None
        self._seq = itertools.count()
        self.holding = asyncio.Event()
        """Set while an item waits for a client to bind."""

    def next_seq(self) -> int:
        return next(self._seq)

    def schedule(self, item: D) -> None:
        heapq.heappush(self._heap, item)
        if self._heap[0] is item:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(item.due, self._fire)

    def hold(self, item: D) -> None:
        """No client can take it now: keep it until `release`."""
        self._held.append(item)
        self.holding.set()

    def release(self) -> None:
        """A client bound: the held items are due now."""
        if self._held:
            held, self._held = self._held, []
            self.holding.clear()
            for item in held:
                self.schedule(item)

    def refused(self, item: D, after: float = RETRY_SECONDS) -> None:
        """The client did not accept it (or did not answer): offer it again `after` seconds
        later."""
        item.offers += 1
        if item.offers >= OFFERS:
            log.warning("delivery dropped after %d offers", item.offers)
            return
        item.due = asyncio.get_running_loop().time() + after
        item.seq = self.next_seq()
        self.schedule(item)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap = self._heap
        while heap and heap[0].due <= now:
            self._send(heapq.heappop(heap))
        self._timer = loop.call_at(heap[0].due, self._fire) if heap else None


class SecondLimit:
    """At most `per_second` submits in each second of the event loop's clock."""

    def __init__(self) -> None:
        self._start = 0.0
        self._count = 0

    def over(self, per_second: float) -> bool:
        now = asyncio.get_running_loop().time()
        if now - self._start >= 1.0:
            self._start, self._count = now, 0
        self._count += 1
        return self._count > per_second
