"""Counters of one process, exposed at `GET /metrics` in the Prometheus text format.

Per channel: submits and what they became (accepted, rejected, retryable, ambiguous),
failovers to another channel, receipts and uplinks stored, receipts that matched no message,
breaker openings; per process:
messages found cut off mid-submit at a restart (status unknown). The dispatch worker, the
receipt sink and the router feed them; each `Yizhan` has its own registry (no module-level
singleton), so two processes, or two test instances, never mix their counts. These are
counters of this process since it started, as Prometheus expects: the lasting figures
(statistics, records) are in the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    EventSink,
    Rejected,
    SubmitResult,
    UnmatchedReceipt,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.submits = Counter("yizhan_channel_submits", "Submits handed to a channel, by "
                               "result: accepted, rejected, retryable (nothing was taken: "
                               "retried later or on another channel), ambiguous (no answer: "
                               "status unknown, never resent).", ["channel", "result"],
                               registry=r)
        self.failovers = Counter("yizhan_channel_failovers", "Messages that a channel could "
                                 "not take and that went on to another channel in the same "
                                 "round.", ["channel"], registry=r)
        self.receipts = Counter("yizhan_channel_receipts", "Delivery receipts stored.",
                                ["channel"], registry=r)
        self.uplinks = Counter("yizhan_channel_uplinks", "Handset replies stored.",
                               ["channel"], registry=r)
        self.unmatched_receipts = Counter(
            "yizhan_receipts_unmatched", "Receipts that matched no message (by id, by id in "
            "the other base, or by handset and submit date) and were given up; `yizhan "
            "receipts unmatched` lists them.", ["channel"], registry=r)
        self.interrupted = Counter("yizhan_dispatch_interrupted", "Messages found cut off "
                                   "mid-submit (a restart, or an expired lease): status "
                                   "unknown, never resent.", registry=r)
        self.unrouted = Counter("yizhan_dispatch_unrouted", "Submit attempts put back because "
                                "no channel could take the message.", registry=r)
        self._children: dict[tuple[str, str], Any] = {}

    def submitted(self, channel: str, result: SubmitResult) -> None:
        kind = ("accepted" if isinstance(result, Accepted) else "rejected"
                if isinstance(result, Rejected) else "ambiguous"
                if isinstance(result, Ambiguous) else "retryable")
        child = self._children.get((channel, kind))
        if child is None:  # labels() takes a lock and builds a key: once per pair
            child = self._children[(channel, kind)] = self.submits.labels(channel, kind)
        child.inc()

    def failed_over(self, channel: str) -> None:
        self.failovers.labels(channel).inc()

    def cut_off(self, count: int) -> None:
        self.interrupted.inc(count)

    def no_channel(self) -> None:
        self.unrouted.inc()

    def events(self, events: Sequence[Receipt | Uplink]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for event in events:
            key = (event.channel, "receipt" if isinstance(event, Receipt) else "uplink")
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            child = self._children.get(key)
            if child is None:
                family = self.receipts if key[1] == "receipt" else self.uplinks
                child = self._children[key] = family.labels(key[0])
            child.inc(count)

    def unmatched(self, receipts: Sequence[UnmatchedReceipt]) -> None:
        for r in receipts:
            self.unmatched_receipts.labels(r.channel).inc()

    def watch(self, health: Callable[[], Iterable[tuple[str, bool, str, int]]]) -> None:
        """Also expose the channels' state at each scrape: `health` yields (channel, bound,
        breaker state, times the breaker opened)."""
        self.registry.register(_HealthCollector(health))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HealthCollector:
    def __init__(self, health: Callable[[], Iterable[tuple[str, bool, str, int]]]) -> None:
        self._health = health

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("yizhan_channel_up", "1 while the channel is bound and its "
                               "circuit breaker lets submits through.", labels=["channel"])
        opened = CounterMetricFamily("yizhan_channel_breaker_opened", "Times the channel's "
                                     "circuit breaker opened.", labels=["channel"])
        for name, bound, state, times in self._health():
            up.add_metric([name], 1.0 if bound and state != "open" else 0.0)
            opened.add_metric([name], times)
        yield up
        yield opened


class CountingSink:
    """Wraps the receipt stage's sink: counts what was stored, per channel."""

    def __init__(self, inner: EventSink, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def __call__(self, event: Receipt | Uplink) -> None:
        await self._inner(event)
        self._metrics.events([event])

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        await self._inner.many(events)
        self._metrics.events(events)
