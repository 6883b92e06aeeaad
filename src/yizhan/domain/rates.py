"""Counting windows of frequency control, and the state machine every counter backend keeps.

DOMAIN.md "Frequency control": minute and hour windows are whole clock units in China time
(11:00:00-11:59:59 is one hour window); a day window opens at the first counted message and
lasts 24 hours. A `RateCheck` is one counter a message must pass (key, window, limit); a
message passes when every one of its checks is below its limit, and then counts in all of
them at once. `Windows` is that rule over an in-memory table, used as it is by the embedded
SQL backend (`storage/rate_counters.py`) and restated in Lua by the Redis backend
(`backends/redis_rates.py`); the contract tests hold both to the same answers.

Times here are integer milliseconds since the Unix epoch: exact at every edge (11:59:59.999
and 12:00:00.000 are different windows), and the same integers in Python, SQL and Lua.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
CHINA_OFFSET_MS = 8 * 3_600_000
"""Asia/Shanghai is UTC+8 all year (no daylight saving since 1991): whole clock minutes and
hours there start at these offsets from the epoch."""


class Window(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def length_ms(self) -> int:
        return _LENGTH[self]

    @property
    def clock(self) -> bool:
        """Whole clock units (minute, hour) rather than opened by the first message (day)."""
        return self is not Window.DAY


_LENGTH = {Window.MINUTE: 60_000, Window.HOUR: 3_600_000, Window.DAY: 86_400_000}


def to_ms(moment: datetime) -> int:
    since = moment - _EPOCH  # exact integer arithmetic (a float timestamp can be off by 1 ms)
    return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def clock_start(window: Window, now_ms: int) -> int:
    """Start of the clock minute or hour (China time) that holds `now_ms`."""
    length = _LENGTH[window]
    return (now_ms + CHINA_OFFSET_MS) // length * length - CHINA_OFFSET_MS


@dataclass(frozen=True, slots=True)
class FrequencyProfile:
    """An account's own frequency settings (policy/frequency.py applies them)."""

    limits: Mapping[str, int] = field(default_factory=dict)
    """rule id -> the account's lower limit"""
    whitelist: frozenset[str] = frozenset()
    """numbers (E.164) exempt from the platform's limits (enterprise accounts only)"""
    enterprise: bool = False


class RateCheck(NamedTuple):
    """One counter a message must pass: at most `limit` counted messages per `window`.
    (A named tuple: intake makes several per message.)"""

    key: str
    window: Window
    limit: int


@dataclass(frozen=True, slots=True)
class Blocked:
    """A message was not admitted: its check number `index` is at `count` >= its limit
    until `resets_at` (ms)."""

    index: int
    count: int
    resets_at: int


@dataclass(frozen=True, slots=True)
class WindowCount:
    """What a counter holds now: the count in its current window, and that window's bounds
    (None when no window is open: a day window not opened yet)."""

    count: int
    start: int | None
    end: int | None


def current(window: Window, state: tuple[int, ...] | None, now_ms: int) -> WindowCount:
    """The count of a counter whose stored state is (window start, count, ...) at `now_ms`."""
    length = _LENGTH[window]
    if window is not Window.DAY:
        start = clock_start(window, now_ms)
        count = state[1] if state is not None and state[0] == start else 0
        return WindowCount(count, start, start + length)
    if state is not None and state[0] <= now_ms < state[0] + length:
        return WindowCount(state[1], state[0], state[0] + length)
    return WindowCount(0, None, None)


_SLOT = {Window.MINUTE: 1, Window.HOUR: 3, Window.DAY: 5}
_SLOT_LENGTH = {window: (_SLOT[window], _LENGTH[window]) for window in Window}
Entry = list[int]
"""The windows of one key: [row, minute start, minute count, hour start, hour count, day
start, day count]; a count of 0 means no open window of that kind. `row` is the owner's
reference of where the entry is persisted (0: not yet)."""


def entry_window(entry: Entry | None, window: Window, now_ms: int) -> WindowCount:
    """The window of kind `window` of an entry at `now_ms`."""
    if entry is None:
        return current(window, None, now_ms)
    slot = _SLOT[window]
    return current(window, (entry[slot], entry[slot + 1]) if entry[slot + 1] else None,
                   now_ms)


def entry_end(entry: Entry) -> int:
    """When the last open window of an entry ends (0: none is open)."""
    return max(entry[1] + 60_000 if entry[2] else 0, entry[3] + 3_600_000 if entry[4] else 0,
               entry[5] + 86_400_000 if entry[6] else 0)


class Windows:
    """The counters of one process, in memory: key -> entry (`Entry`), each key holding its
    minute, hour and day windows (the checks of one rule family share a key).

    `admit` is synchronous: in one event loop no other decision can interleave between a
    message's check and its count, which makes each decision atomic. The owner persists
    what `dirty` names (keys changed since it last looked) and deletes what `dropped` holds
    (entries a `release` emptied: key -> row)."""

    def __init__(self) -> None:
        self.state: dict[str, Entry] = {}
        self.dirty: set[str] = set()
        self.dropped: dict[str, int] = {}

    def admit(self, checks: Sequence[RateCheck], now_ms: int) -> Blocked | None:
        state = self.state
        after: list[tuple[str, int, int, int]] = []
        for index, check in enumerate(checks):
            key, window, limit = check[0], check[1], check[2]  # a RateCheck, or longer
            entry = state.get(key)
            slot, length = _SLOT_LENGTH[window]
            if window is Window.DAY:
                if entry is not None and entry[6] and entry[5] <= now_ms < entry[5] + length:
                    start, count = entry[5], entry[6]
                else:
                    start, count = now_ms, 0
            else:
                start = (now_ms + CHINA_OFFSET_MS) // length * length - CHINA_OFFSET_MS
                count = entry[slot + 1] if entry is not None and entry[slot] == start else 0
            if count >= limit:
                return Blocked(index, count, start + length)
            after.append((key, slot, start, count + 1))
        for key, slot, start, count in after:
            entry = state.get(key)
            if entry is None:
                entry = state[key] = [0, 0, 0, 0, 0, 0, 0]
            entry[slot] = start
            entry[slot + 1] = count
        self.dirty.update([key for key, *_ in after])
        return None

    def release(self, checks: Iterable[RateCheck], admitted_ms: int) -> None:
        """Take back one count of a message admitted at `admitted_ms` whose commit failed,
        from each window that is still the one it was counted in."""
        for check in checks:
            entry = self.state.get(check.key)
            if entry is None:
                continue
            slot = _SLOT[check.window]
            start, count = entry[slot], entry[slot + 1]
            if check.window is Window.DAY:
                same = start <= admitted_ms < start + check.window.length_ms
            else:
                same = start == clock_start(check.window, admitted_ms)
            if not same or count <= 0:
                continue
            entry[slot + 1] = count - 1  # at 0: as if never counted (no window opened)
            self.dirty.add(check.key)
            if not (entry[2] or entry[4] or entry[6]):
                del self.state[check.key]
                if entry[0]:
                    self.dropped[check.key] = entry[0]

    def peek(self, checks: Sequence[RateCheck], now_ms: int) -> list[WindowCount]:
        return [entry_window(self.state.get(c.key), c.window, now_ms) for c in checks]

    def forget_before(self, now_ms: int) -> None:
        """Drop entries whose every window ended at or before `now_ms`."""
        gone = [key for key, entry in self.state.items() if entry_end(entry) <= now_ms]
        for key in gone:
            del self.state[key]
            self.dirty.discard(key)
