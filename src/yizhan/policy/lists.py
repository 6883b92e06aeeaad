"""In-memory copies of the number lists the per-number checks consult, kept fresh cheaply.

The platform blacklist and the promotion opt-outs may hold millions of numbers and are
consulted for every number of every request, so reading them from the store per request is
out of the question (the send path's budget is a few microseconds per check). Each process
keeps a copy in memory and, at most every `ttl` seconds (`cache_seconds`), asks the store
only for the rows changed since the version it has (`storage/lists.py` explains why that
never misses a row). A change made anywhere (CLI, another process, the uplink stage)
therefore takes effect within `cache_seconds`. Memory: roughly 100 bytes per number.

An account's bound test numbers are few; they are cached per account for `ttl` seconds and
read only when a request uses a test signature or template.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from yizhan.domain.model import AccountId, BlacklistEntry, BoundTestNumber, OptOut, PhoneNumber
from yizhan.domain.ports import Clock
from yizhan.runtime.caching import AHEAD, TtlCache


class Blacklist:
    """Blacklisted numbers and the signature names each is blacklisted for (empty: all)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, ...]] = {}

    def apply(self, changes: Iterable[BlacklistEntry]) -> None:
        for entry in changes:
            if entry.removed:
                self._entries.pop(entry.phone, None)
            else:
                self._entries[entry.phone] = entry.signatures

    def signatures(self, phone: str) -> tuple[str, ...] | None:
        """The signatures `phone` is blacklisted for (empty: all), or None if it is not."""
        return self._entries.get(phone)

    def __len__(self) -> int:
        return len(self._entries)


class OptOuts:
    """Numbers that refused an account's signature's promotions, by (account, signature)."""

    def __init__(self) -> None:
        self._phones: dict[tuple[int, str], set[str]] = {}

    def apply(self, changes: Iterable[OptOut]) -> None:
        for o in changes:
            self._phones.setdefault((o.account_id, o.sign_name), set()).add(o.phone)

    def refused(self, account_id: int, sign_name: str, phone: str) -> bool:
        phones = self._phones.get((account_id, sign_name))
        return phones is not None and phone in phones

    def __len__(self) -> int:
        return sum(len(p) for p in self._phones.values())


EMPTY_BLACKLIST = Blacklist()
NO_OPT_OUTS = OptOuts()

log = logging.getLogger("yizhan.policy.lists")
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Changeable(Protocol[T_contra]):
    def apply(self, changes: Iterable[T_contra]) -> None: ...


L = TypeVar("L", bound=Changeable[Any])


class Snapshot(Generic[L, T]):
    """A list held in memory, brought up to date at most every `ttl` seconds by applying
    what `changes(version)` returns. One refresh at a time: concurrent requests that find
    it stale share it."""

    def __init__(self, held: L, changes: Callable[[int], Awaitable[tuple[int, list[T]]]],
                 clock: Clock, ttl: float) -> None:
        self._held = held
        self._monotonic = clock.monotonic
        self._changes = changes
        self._ttl = ttl
        self._version = 0
        self._fresh_until = 0.0
        self._refreshing: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self) -> L:
        left = self._fresh_until - self._monotonic()
        if left > 0:
            if left < self._ttl * AHEAD and self._refreshing is None:
                self._start()  # read the changes in the background (caching.AHEAD)
            return self._held
        await asyncio.shield(self._refreshing or self._start())
        return self._held

    def _start(self) -> asyncio.Future[None]:
        """Apply the changes since the held version, in a task of its own; its future
        resolves when they are applied (a failure reaches only the requests awaiting it:
        one in the background is logged, and the copy goes stale as it would have)."""
        done = self._refreshing = asyncio.get_running_loop().create_future()

        async def refresh() -> None:
            try:
                version, changes = await self._changes(self._version)
                self._held.apply(changes)
                self._version = version
                self._fresh_until = self._monotonic() + self._ttl
            except BaseException as exc:
                if not isinstance(exc, Exception):  # cancelled (a stop): so are its waiters
                    done.cancel()
                    raise
                log.warning("refreshing a number list failed", exc_info=True)
                done.set_exception(exc)
                done.exception()  # retrieved: waiters get it, nobody else must
                return
            finally:
                self._refreshing = None
            done.set_result(None)

        task = asyncio.create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return done


class ListStore(Protocol):
    async def test_numbers(self, account_id: AccountId) -> list[BoundTestNumber]: ...
    async def blacklist_changes(self, since: int) -> tuple[int, list[BlacklistEntry]]: ...
    async def opt_out_changes(self, since: int) -> tuple[int, list[OptOut]]: ...


class PolicyLists:
    """What intake loads for the per-number checks, each refreshed within `ttl` seconds."""

    def __init__(self, store: ListStore, clock: Clock, ttl: float = 1.0) -> None:
        self.blacklist: Snapshot[Blacklist, BlacklistEntry] = Snapshot(
            Blacklist(), store.blacklist_changes, clock, ttl)
        self.opt_outs: Snapshot[OptOuts, OptOut] = Snapshot(
            OptOuts(), store.opt_out_changes, clock, ttl)

        async def load(account_id: AccountId) -> frozenset[PhoneNumber]:
            return frozenset(t.phone for t in await store.test_numbers(account_id))

        self._test_numbers: TtlCache[AccountId, frozenset[PhoneNumber]] = TtlCache(load, clock, ttl)

    async def test_numbers(self, account_id: AccountId) -> frozenset[PhoneNumber]:
        return await self._test_numbers.get(account_id)
