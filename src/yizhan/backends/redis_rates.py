"""The Redis `RateCounter`: frequency counters shared by any number of processes.

The windows of `domain/rates.py`, restated in Lua so that Redis decides: one script call
decides a whole batch of messages (the concurrent requests of this process, gathered by a
`Batcher`), each message atomically — every check below its limit, then counted in all of
them, or in none — and no other client's command can run in between. Each counter is one
string `start:count:end` (milliseconds) that expires when its window ends, so Redis holds
only open windows. Times come from the caller's clock (injected in tests); expiries are
relative to that time, so a test clock in the past works as well as the present.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from yizhan.domain.rates import (
    CHINA_OFFSET_MS,
    Admitted,
    Blocked,
    RateCheck,
    Window,
    WindowCount,
    current,
)

_PARSE = """
local function parse(held)
  if not held then return nil end
  local s, c, e = string.match(held, '^(%d+):(%d+):(%d+)$')
  return tonumber(s), tonumber(c), tonumber(e)
end
local function clock_start(t, len)
  return math.floor((t + OFFSET) / len) * len - OFFSET
end
""".replace("OFFSET", str(CHINA_OFFSET_MS))

ADMIT = _PARSE + """
-- ARGV: one per message: now, then per check: key, clock (1/0), length, limit; all the
-- fields of a message in one string separated by \\31 (one argument per message keeps
-- the client's encoding cheap). KEYS is unused: the keys are in ARGV (one Redis, no
-- cluster slots to respect).
-- Answers per message: {-1, then per check: its count before the message, its window's
-- start} (admitted and counted), or {check index from 0, count, resets at, then the same
-- pairs of the checks before it} (blocked).
local out = {}
for m = 1, #ARGV do
  local f = {}
  for field in string.gmatch(ARGV[m], '[^\\31]+') do f[#f + 1] = field end
  local now, n = tonumber(f[1]), (#f - 1) / 4
  local keys, values = {}, {}
  for c = 1, n do keys[c] = f[4 * c - 2] end
  if n > 0 then values = redis.call('MGET', unpack(keys)) end
  local blocked, new, seen = nil, {}, {}
  for c = 1, n do
    local clock, len, limit = f[4 * c - 1] == '1', tonumber(f[4 * c]), tonumber(f[4 * c + 1])
    local s, held, e = parse(values[c])
    local start, count = now, 0
    if clock then
      start = clock_start(now, len)
      if s == start then count = held end
    elseif s and s <= now and now < e then
      start, count = s, held
    end
    if count >= limit then
      blocked = {c - 1, count, start + len}
      for i = 1, #seen do blocked[3 + i] = seen[i] end
      break
    end
    seen[#seen + 1] = count
    seen[#seen + 1] = start
    new[c] = {start, count + 1, start + len}
  end
  if blocked then
    out[m] = blocked
  else
    for c = 1, n do
      local v = new[c]
      -- Whole milliseconds below 10^14 print exactly with Lua's %.14g.
      redis.call('SET', keys[c], v[1] .. ':' .. v[2] .. ':' .. v[3],
                 'PX', math.max(1, v[3] - now + 1000))
    end
    table.insert(seen, 1, -1)
    out[m] = seen
  end
end
return out
"""

RELEASE = _PARSE + """
-- ARGV: admitted at, then per counter: key, clock (1/0), length.
local at = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local key, clock, len = ARGV[i], ARGV[i + 1] == '1', tonumber(ARGV[i + 2])
  local s, c, e = parse(redis.call('GET', key))
  if s and c > 0 then
    local same
    if clock then same = s == clock_start(at, len) else same = s <= at and at < e end
    if same and c == 1 then
      redis.call('DEL', key)
    elseif same then
      redis.call('SET', key, string.format('%.0f:%d:%.0f', s, c - 1, e), 'KEEPTTL')
    end
  end
end
return 0
"""

SEPARATOR = "\x1f"
_SPEC = {w: f":{w.value[0]}\x1f{'1' if w.clock else '0'}\x1f{w.length_ms}" for w in Window}
"""Per window: the key's suffix, then the window's fields of the script's arguments."""


_Item = tuple[Sequence[RateCheck], int]


class RedisRateCounter:
    """Concurrent callers' messages go to Redis together: whatever queued while a script
    call was under way goes in the next one, and two calls may be under way at once, so
    that this process prepares the next batch while Redis runs the last one."""

    def __init__(self, client: aioredis.Redis, prefix: str = "yizhan:rate:",
                 max_batch: int = 512, in_flight: int = 2) -> None:
        self._client = client
        self._prefix = prefix
        self._admit = client.register_script(ADMIT)
        self._release = client.register_script(RELEASE)
        self._max_batch = max_batch
        self._max_in_flight = in_flight
        self._queue: deque[tuple[list[_Item], asyncio.Future[list[Blocked | Admitted]]]] = (
            deque())
        self._in_flight: set[asyncio.Task[None]] = set()

    @classmethod
    def connect(cls, url: str, prefix: str = "yizhan:rate:") -> RedisRateCounter:
        """A counter on a new connection pool (call from a running event loop)."""
        return cls(aioredis.Redis.from_url(url), prefix)

    async def admit(self, messages: Sequence[Sequence[RateCheck]],
                    now_ms: int) -> list[Blocked | None]:
        return [v if type(v) is Blocked else None for v in await self.decide(messages, now_ms)]

    async def decide(self, messages: Sequence[Sequence[RateCheck]],
                     now_ms: int) -> list[Blocked | Admitted]:
        if not messages:
            return []
        future: asyncio.Future[list[Blocked | Admitted]] = (
            asyncio.get_running_loop().create_future())
        self._queue.append(([(checks, now_ms) for checks in messages], future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight:
            taken = [self._queue.popleft()]
            size = len(taken[0][0])
            while self._queue and size + len(self._queue[0][0]) <= self._max_batch:
                taken.append(self._queue.popleft())
                size += len(taken[-1][0])
            task = asyncio.create_task(self._call(taken))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._pump()

    async def _call(self, taken: list[tuple[list[_Item],
                                            asyncio.Future[list[Blocked | Admitted]]]],
                    ) -> None:
        try:
            answers = await self._admit_batch([item for items, _ in taken for item in items])
        except Exception as exc:  # every caller of this call learns of it
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for items, future in taken:
            if not future.done():
                future.set_result(answers[start:start + len(items)])
            start += len(items)

    async def _admit_batch(self, items: Sequence[_Item]) -> list[Blocked | Admitted]:
        prefix = self._prefix
        args = [SEPARATOR.join([str(now_ms), *(
            f"{prefix}{c.key}{_SPEC[c.window]}\x1f{c.limit}" for c in checks)])
            for checks, now_ms in items]
        answers = await self._admit(args=args)
        return [Admitted(tuple(answer[1:])) if answer[0] == -1
                else Blocked(answer[0], answer[1], answer[2], tuple(answer[3:]))
                for answer in answers]

    async def release(self, messages: Sequence[Sequence[RateCheck]], admitted_ms: int) -> None:
        args: list[Any] = [admitted_ms]
        for checks in messages:
            for check in checks:
                args += (self._key(check), 1 if check.window.clock else 0,
                         check.window.length_ms)
        if len(args) > 1:
            await self._release(args=args)

    async def peek(self, checks: Sequence[RateCheck], now_ms: int) -> list[WindowCount]:
        if not checks:
            return []
        held = await self._client.mget([self._key(c) for c in checks])
        return [current(c.window, _parse(value), now_ms) for c, value in zip(checks, held,
                                                                             strict=True)]

    def _key(self, check: RateCheck) -> str:
        """One Redis key per counter and window: the checks of a rule family share a key."""
        return f"{self._prefix}{check.key}:{check.window.value[0]}"

    async def close(self) -> None:
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self._client.aclose()


def _parse(value: bytes | str | None) -> tuple[int, ...] | None:
    text = value.decode() if isinstance(value, bytes) else value
    return tuple(int(part) for part in text.split(":")) if text else None
