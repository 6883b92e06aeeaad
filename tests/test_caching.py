"""The TTL cache behind the hot lookups: loads once, answers from memory while fresh."""

from __future__ import annotations

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
