"""The TTL cache behind the hot lookups: loads once, answers from memory while fresh."""

from __future__ import annotations

import asyncio

from tests.conftest import ManualClock
from yizhan.runtime.caching import TtlCache


async def test_fresh_answers_only_what_a_get_loaded_and_only_while_fresh() -> None:
    loads: list[str] = []

    async def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    clock = ManualClock()
    cache: TtlCache[str, str] = TtlCache(load, clock, ttl=0.05)
    assert cache.fresh("a") is None  # nothing loaded: the caller must `get`
    assert await cache.get("a") == "A"
    assert cache.fresh("a") == "A" and await cache.get("a") == "A"
    assert loads == ["a"]
    clock.advance(seconds=0.04)
    assert cache.fresh("a") == "A"  # still fresh: the ttl counts on the injected clock
    clock.advance(seconds=0.01)
    assert cache.fresh("a") is None  # expired
    assert await cache.get("a") == "A" and loads == ["a", "a"]
    cache.forget("a")
    assert cache.fresh("a") is None


async def test_an_entry_used_near_its_end_is_read_again_while_requests_go_on() -> None:
    """A request in the last quarter of an entry's life gets it at once and starts a read in
    the background: under steady traffic no request waits for the store."""
    values = iter(["old", "new"])
    loads: list[str] = []
    reading, release = asyncio.Event(), asyncio.Event()

    async def load(key: str) -> str:
        loads.append(key)
        if len(loads) > 1:
            reading.set()
            await release.wait()
        return next(values)

    clock = ManualClock()
    cache: TtlCache[str, str] = TtlCache(load, clock, ttl=1.0)
    assert await cache.get("a") == "old"
    clock.advance(seconds=0.7)
    assert await cache.get("a") == "old" and loads == ["a"]  # not near its end yet
    clock.advance(seconds=0.1)
    assert await cache.get("a") == "old"  # answered at once; the read goes on beside
    await asyncio.wait_for(reading.wait(), 5)
    assert await cache.get("a") == "old" and loads == ["a", "a"]  # one read at a time
    release.set()
    clock.advance(seconds=0.5)  # past the first entry's end: the new one holds
    for _ in range(5):
        await asyncio.sleep(0)
    assert await cache.get("a") == "new" and loads == ["a", "a"]


async def test_a_failed_read_ahead_leaves_the_entry_to_expire() -> None:
    calls: list[int] = []

    async def load(key: str) -> str:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("store unavailable")
        return f"v{len(calls)}"

    clock = ManualClock()
    cache: TtlCache[str, str] = TtlCache(load, clock, ttl=1.0)
    assert await cache.get("a") == "v1"
    clock.advance(seconds=0.9)
    assert await cache.get("a") == "v1"
    for _ in range(5):
        await asyncio.sleep(0)  # the read ahead fails (logged)
    clock.advance(seconds=0.2)
    assert await cache.get("a") == "v3"  # expired: read again, awaited
