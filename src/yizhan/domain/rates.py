"""Counting windows of frequency control, and the state machine every counter backend keeps.

docs/domain.md "Frequency control": minute and hour windows are whole clock units in China time
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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of an account's frequency settings: who, when, what, old and new value."""

    at: datetime
    actor: str
    item: str
    old: str
    new: str


class Shape(NamedTuple):
    """The checks of a message as a pattern over its counter keys: per check, the index of
    its key in the message's keys, its window and its limit (a rule family's checks share a
    key, so a verification code has four checks on two keys). The keys of one message are
    distinct."""

    slots: tuple[tuple[int, Window, int], ...]

    def checks(self, keys: Sequence[str]) -> list[RateCheck]:
        return [RateCheck(keys[i], window, limit) for i, window, limit in self.slots]


class RateCheck(NamedTuple):
    """One counter a message must pass: at most `limit` counted messages per `window`.
    (A named tuple: intake makes several per message.)"""

    key: str
    window: Window
    limit: int


@dataclass(frozen=True, slots=True)
class Blocked:
    """A message was not admitted: its check number `index` is at `count` >= its limit
    until `resets_at` (ms). `seen`: the checks before it, which it passed, as `Admitted`
    gives them."""

    index: int
    count: int
    resets_at: int
    seen: tuple[int, ...] = field(default=(), compare=False)


class Admitted(NamedTuple):
    """A message was admitted and counted: per check, in order, the count its window held
    before this message and that window's start (ms), flat: (count, start, count, start,
    ...). What the policy trail keeps of the moment (policy/frequency.py `record`)."""

    seen: tuple[int, ...]


FRESH: Admitted | None = None
"""`Windows.decide_keys`'s answer for a message whose keys were all new: admitted, every
window opened by it (every count 0, every start the moment of the check)."""


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


Entry = int
"""The windows of one key, packed into one integer (one object per key instead of a list of
seven: the table holds a day of keys, and its size is what the server pays for; see
docs/benchmarks.md "Frequency control"). Fields, from the lowest bit:

- 16 bits each: the minute, hour and day counts (a count of 0: no open window of that kind);
- 32 bits each: the minute and the hour window's start, in minutes and in hours since the
  epoch (clock windows start on whole minutes and hours, so the division is exact);
- 48 bits: the day window's start in milliseconds;
- the rest: `row`, the owner's reference of where the entry is persisted (0: not yet).
"""

_COUNT = 0xFFFF
_INDEX = 0xFFFF_FFFF
_MS48 = (1 << 48) - 1
_H_COUNT, _D_COUNT, _M_START, _H_START, _D_START, _ROW = 16, 32, 48, 80, 112, 160
ROW_SHIFT = _ROW
_MINUTE_MS, _HOUR_MS, _DAY_MS = 60_000, 3_600_000, 86_400_000
_MINUTE_FIELDS = ~(_INDEX << _M_START | _COUNT)
_HOUR_FIELDS = ~(_INDEX << _H_START | _COUNT << _H_COUNT)
_DAY_FIELDS = ~(_MS48 << _D_START | _COUNT << _D_COUNT)
_MINUTE, _HOUR, _DAY = Window.MINUTE, Window.HOUR, Window.DAY


def pack(row: int, minute_start: int, minute_count: int, hour_start: int, hour_count: int,
         day_start: int, day_count: int) -> Entry:
    """An entry from its fields (times in ms; a window with count 0 may have any start)."""
    return (row << _ROW | day_start << _D_START | hour_start // _HOUR_MS << _H_START
            | minute_start // _MINUTE_MS << _M_START | day_count << _D_COUNT
            | hour_count << _H_COUNT | minute_count)


def unpack(entry: Entry) -> tuple[int, int, int, int, int, int, int]:
    """(row, minute start, minute count, hour start, hour count, day start, day count),
    times in ms: `pack`'s arguments."""
    return (entry >> _ROW, (entry >> _M_START & _INDEX) * _MINUTE_MS, entry & _COUNT,
            (entry >> _H_START & _INDEX) * _HOUR_MS, entry >> _H_COUNT & _COUNT,
            entry >> _D_START & _MS48, entry >> _D_COUNT & _COUNT)


def with_row(entry: Entry, row: int) -> Entry:
    return entry & ((1 << _ROW) - 1) | row << _ROW


def persisted(key: str, entry: Entry) -> tuple[int, str, int, int, int, int, int, int, int]:
    """The stored row of an entry: (row, key, minute start, minute count, hour start, hour
    count, day start, day count, expires at: when its last open window ends, 0 if none is).
    Written out rather than through `unpack`: it runs for every changed key of a commit."""
    m_count, h_count = entry & _COUNT, entry >> _H_COUNT & _COUNT
    d_count = entry >> _D_COUNT & _COUNT
    m_start = (entry >> _M_START & _INDEX) * _MINUTE_MS
    h_start = (entry >> _H_START & _INDEX) * _HOUR_MS
    d_start = entry >> _D_START & _MS48
    expires = d_start + _DAY_MS if d_count else 0
    if h_count and h_start + _HOUR_MS > expires:
        expires = h_start + _HOUR_MS
    if m_count and m_start + _MINUTE_MS > expires:
        expires = m_start + _MINUTE_MS
    return (entry >> _ROW, key, m_start, m_count, h_start, h_count, d_start, d_count, expires)


def _window_of(entry: Entry, window: Window) -> tuple[int, int]:
    """(start in ms, count) of the window of kind `window` an entry holds."""
    if window is _DAY:
        return entry >> _D_START & _MS48, entry >> _D_COUNT & _COUNT
    if window is _HOUR:
        return (entry >> _H_START & _INDEX) * _HOUR_MS, entry >> _H_COUNT & _COUNT
    return (entry >> _M_START & _INDEX) * _MINUTE_MS, entry & _COUNT


def entry_window(entry: Entry | None, window: Window, now_ms: int) -> WindowCount:
    """The window of kind `window` of an entry at `now_ms`."""
    if entry is None:
        return current(window, None, now_ms)
    start, count = _window_of(entry, window)
    return current(window, (start, count) if count else None, now_ms)


def entry_end(entry: Entry) -> int:
    """When the last open window of an entry ends (0: none is open)."""
    return persisted("", entry)[-1]


def _last_end(m_start: int, m_count: int, h_start: int, h_count: int, d_start: int,
              d_count: int) -> int:
    return max(m_start + _MINUTE_MS if m_count else 0, h_start + _HOUR_MS if h_count else 0,
               d_start + _DAY_MS if d_count else 0)


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
        self._fresh_ms = -1
        self._fresh: dict[Window, Entry] = {}
        self._opened: dict[Shape, tuple[Entry, ...]] = {}
        """Per shape, the entries its keys get when all are new, at `_fresh_ms`."""

    def _fresh_at(self, now_ms: int) -> dict[Window, Entry]:
        """Per window kind, the entry bits of a window opened at `now_ms` with a count of 1."""
        if now_ms != self._fresh_ms:
            self._fresh_ms = now_ms
            self._fresh = {_MINUTE: now_ms // _MINUTE_MS << _M_START | 1,
                           _HOUR: now_ms // _HOUR_MS << _H_START | 1 << _H_COUNT,
                           _DAY: now_ms << _D_START | 1 << _D_COUNT}
            self._opened.clear()
        return self._fresh

    def _open(self, slots: Iterable[tuple[int, Window, int]], now_ms: int,
              ) -> dict[int, Entry] | None:
        """The entries of a message's keys if all are new: each key's checks (key index,
        window, limit) open their windows at `now_ms` with a count of 1, no count is read.
        None when the general way decides otherwise (a limit of 0 refuses, a window checked
        twice counts twice)."""
        fresh = self._fresh_at(now_ms)
        entries: dict[int, Entry] = {}
        for slot, window, limit in slots:
            opened = fresh[window]
            have = entries.get(slot, 0)
            if limit <= 0 or have & opened:
                return None
            entries[slot] = have | opened
        return entries

    def admit_keys(self, shape: Shape, keys: Sequence[str], now_ms: int) -> Blocked | None:
        verdict = self.decide_keys(shape, keys, now_ms)
        return verdict if type(verdict) is Blocked else None

    def decide_keys(self, shape: Shape, keys: Sequence[str], now_ms: int,
                    ) -> Blocked | Admitted | None:
        """`decide(shape.checks(keys), now_ms)`, without building the checks when every key
        is new (a number not seen in the last day: most numbers of a bulk send), which then
        only opens its windows and answers `FRESH` (None). This is the bulk send's
        per-number cost (docs/benchmarks.md, "Round 6")."""
        state = self.state
        for key in keys:
            if key in state:
                return self.decide(shape.checks(keys), now_ms)
        self._fresh_at(now_ms)  # (a new moment forgets the shapes' entries)
        opened = self._opened.get(shape)
        if opened is None:
            entries = self._open(shape.slots, now_ms)
            if entries is None:
                return self.decide(shape.checks(keys), now_ms)
            opened = self._opened[shape] = tuple(entries[i] for i in range(len(keys)))
        for key, entry in zip(keys, opened, strict=True):
            state[key] = entry
        self.dirty.update(keys)
        return None

    def admit(self, checks: Sequence[RateCheck], now_ms: int) -> Blocked | None:
        verdict = self.decide(checks, now_ms)
        return verdict if type(verdict) is Blocked else None

    def decide(self, checks: Sequence[RateCheck], now_ms: int) -> Blocked | Admitted:
        """Admit and count the message when every check is below its limit; either way,
        what each check it reached saw."""
        state = self.state
        after: dict[str, Entry] = {}  # the message's keys as they become if it passes
        seen: list[int] = []
        for index, check in enumerate(checks):
            key, window, limit = check[0], check[1], check[2]  # a RateCheck, or longer
            entry = after.get(key)
            if entry is None:
                entry = state.get(key, 0)
            if window is _DAY:
                start, count = entry >> _D_START & _MS48, entry >> _D_COUNT & _COUNT
                if count and start <= now_ms < start + _DAY_MS:
                    if count >= limit:
                        return Blocked(index, count, start + _DAY_MS, tuple(seen))
                    entry += 1 << _D_COUNT
                    seen += count, start
                else:
                    if limit <= 0:
                        return Blocked(index, 0, now_ms + _DAY_MS, tuple(seen))
                    entry = entry & _DAY_FIELDS | now_ms << _D_START | 1 << _D_COUNT
                    seen += 0, now_ms
            elif window is _MINUTE:
                start = now_ms // _MINUTE_MS  # China time is a whole number of hours ahead
                count = entry & _COUNT if entry >> _M_START & _INDEX == start else 0
                if count >= limit:
                    return Blocked(index, count, (start + 1) * _MINUTE_MS, tuple(seen))
                entry = entry & _MINUTE_FIELDS | start << _M_START | count + 1
                seen += count, start * _MINUTE_MS
            else:
                start = now_ms // _HOUR_MS
                count = entry >> _H_COUNT & _COUNT if entry >> _H_START & _INDEX == start else 0
                if count >= limit:
                    return Blocked(index, count, (start + 1) * _HOUR_MS, tuple(seen))
                entry = entry & _HOUR_FIELDS | start << _H_START | count + 1 << _H_COUNT
                seen += count, start * _HOUR_MS
            after[key] = entry
        state.update(after)
        self.dirty.update(after)
        return Admitted(tuple(seen))

    def release(self, checks: Iterable[RateCheck], admitted_ms: int) -> None:
        """Take back one count of a message admitted at `admitted_ms` whose commit failed,
        from each window that is still the one it was counted in."""
        for check in checks:
            entry = self.state.get(check.key)
            if entry is None:
                continue
            window = check.window
            start, count = _window_of(entry, window)
            if window is _DAY:
                same = start <= admitted_ms < start + _DAY_MS
            else:
                same = start == clock_start(window, admitted_ms)
            if not same or count <= 0:
                continue
            # at 0: as if never counted (no window opened)
            entry -= 1 << (_D_COUNT if window is _DAY else _H_COUNT if window is _HOUR else 0)
            self.dirty.add(check.key)
            if entry & (_COUNT | _COUNT << _H_COUNT | _COUNT << _D_COUNT):
                self.state[check.key] = entry
            else:
                del self.state[check.key]
                if entry >> _ROW:
                    self.dropped[check.key] = entry >> _ROW

    def peek(self, checks: Sequence[RateCheck], now_ms: int) -> list[WindowCount]:
        return [entry_window(self.state.get(c.key), c.window, now_ms) for c in checks]

    def forget_before(self, now_ms: int) -> None:
        """Drop entries whose every window ended at or before `now_ms`."""
        gone = [key for key, entry in self.state.items() if entry_end(entry) <= now_ms]
        for key in gone:
            del self.state[key]
            self.dirty.discard(key)
