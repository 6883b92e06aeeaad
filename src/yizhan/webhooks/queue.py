"""The pull queue: the push items of a topic whose target is `queue`, received by the tenant
through the API instead of pushed (issue 7, point 2).

`receive` long-polls: it answers as soon as items are due, or after `wait` seconds with none.
Received items stay invisible for `visibility` seconds; an item not acknowledged by then is
received again (at-least-once, like the push). `acknowledge` deletes items by their receipt
handle (the item id). The native endpoints and the Alibaba-style actions both call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.errors import Refusal
from yizhan.domain.ports import Clock
from yizhan.domain.push import QUEUE, TOPIC_SETTING, TOPICS, PushEndpoints, QueueItem
from yizhan.runtime.addresses import PushNetworks
from yizhan.webhooks.items import render

POLL_SECONDS = 0.2
MAX_ITEMS = 100


@dataclass(frozen=True, slots=True)
class QueueSettings:
    visibility: float = 30.0
    """Seconds a received item stays hidden unless the request says otherwise."""
    max_wait: float = 30.0
    """The longest long-poll a receive may ask for."""


class QueueStore(Protocol):
    async def push_endpoints(self, account_id: int) -> PushEndpoints | None: ...
    async def receive_queue(self, account_id: int, topic: str, now: datetime, limit: int,
                            visibility: timedelta) -> list[QueueItem]: ...
    async def ack_queue(self, account_id: int, ids: Sequence[int]) -> int: ...


async def receive(store: QueueStore, clock: Clock, account_id: int, topic: str,
                  max_items: int, wait: float, visibility: float,
                  book: CodeBook = PLATFORM_BOOK) -> list[dict[str, Any]] | Refusal:
    if topic not in TOPICS:
        return Refusal("InvalidParameter", f"message type {topic!r}: one of {', '.join(TOPICS)}")
    if not 1 <= max_items <= MAX_ITEMS:
        return Refusal("InvalidParameter", f"at most {MAX_ITEMS} items per receive")
    endpoints = await store.push_endpoints(account_id)
    if endpoints is None or getattr(endpoints, TOPIC_SETTING[topic]) != QUEUE:
        return Refusal("QueueNotEnabled", topic)
    deadline = clock.monotonic() + wait
    while True:
        found = await store.receive_queue(account_id, topic, clock.now(), max_items,
                                          timedelta(seconds=visibility))
        if found or clock.monotonic() >= deadline:
            return [{"receipt_handle": str(i.id), "message_type": i.topic,
                     "receive_count": i.receive_count, "body": render(i.topic, i.payload, book)}
                    for i in found]
        await clock.sleep(min(POLL_SECONDS, max(deadline - clock.monotonic(), 0)))


async def acknowledge(store: QueueStore, account_id: int,
                      handles: Sequence[str]) -> int | Refusal:
    try:
        ids = [int(h) for h in handles if h.strip()]
    except ValueError:
        ids = [0]
    if not all(0 < i < 1 << 63 for i in ids):  # the store's ids are signed 64-bit
        return Refusal("InvalidParameter", "receipt handles are the item ids received")
    if not ids:
        return Refusal("MissingParameter", "receipt handles")
    return await store.ack_queue(account_id, ids)


def check_target(name: str, value: str, networks: PushNetworks) -> str | Refusal:
    """A push target as given by a tenant: "" (off), `queue`, or an http(s) URL whose
    host is not an address the operator keeps pushes from (`destinations.py`)."""
    from urllib.parse import urlsplit

    value = value.strip()
    if value in ("", QUEUE):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Refusal("InvalidParameter",
                       f"{name}: an http(s) URL, \"queue\" or \"\" (off), not {value[:60]!r}")
    return networks.check_url(name, value) or value
