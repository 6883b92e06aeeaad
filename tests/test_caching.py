"""The TTL cache behind the hot lookups: loads once, answers from memory while fresh."""

from __future__ import annotations

import asyncio

from yizhan.runtime.caching import TtlCache


def test_fresh_answers_only_what_a_get_loaded_and_only_while_fresh() -> None:
    loads: list[str] = []

    async def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    async def run() -> None:
        cache: TtlCache[str, str] = TtlCache(load, ttl=0.05)
        assert cache.fresh("a") is None  # nothing loaded: the caller must `get`
        assert await cache.get("a") == "A"
        assert cache.fresh("a") == "A" and await cache.get("a") == "A"
        assert loads == ["a"]
        await asyncio.sleep(0.06)
        assert cache.fresh("a") is None  # expired
        assert await cache.get("a") == "A" and loads == ["a", "a"]
        cache.forget("a")
        assert cache.fresh("a") is None

    asyncio.run(run())
