"""A channel's bind limit shared by every dispatcher on the store.

A carrier allows an account a few binds (`max_binds` in the channel file, docs/channels.md);
with several dispatch processes, each binding every channel, the account would hold one
bind per process and the carrier would refuse the rest, or worse, cut the older ones. So a
channel with `max_binds = k` binds only while this process holds one of the store's `k`
lease rows `bind <channel> <n>` (`ProcessLease`, the same rows and the same take-over rule
as the frequency counters' lease): a dispatcher that finds all `k` held keeps the channel
unbound and tries again every `RETRY_SECONDS`; its dispatch worker claims nothing while
none of its channels is bound, so the messages go to the dispatchers that hold a bind.

A slot is renewed every `RENEW_SECONDS` while bound, given back on a clean stop (after the
unbind) and when the link drops; a holder killed on this machine frees its slot at once
(its pid is gone), one on another machine when its lease expires (`LEASE_SECONDS`). A
holder that could not renew in time and finds its slot taken over unbinds at once.
"""

from __future__ import annotations

import logging

from yizhan.domain.ports import Clock, Leases
from yizhan.runtime.process_lease import LeaseRefused, ProcessLease

log = logging.getLogger("yizhan.dispatch")

RETRY_SECONDS = 1.0
"""How often a dispatcher without a slot looks for a free one."""
NAME_LIMIT = 64
"""The lease row's name column."""


class BindSlots:
    """This process's hold on one of the `limit` bind slots of channel `channel`."""

    def __init__(self, store: Leases, clock: Clock, channel: str, limit: int,
                 url: str = "") -> None:
        if limit < 1:
            raise ValueError("max_binds must be at least 1")
        self.channel = channel
        self.limit = limit
        self._leases = [ProcessLease(store, clock, url, slot_name(channel, n))
                        for n in range(1, limit + 1)]
        self._held: ProcessLease | None = None

    @property
    def held(self) -> bool:
        return self._held is not None

    async def take(self) -> bool:
        """Hold a free slot (True), or none when all `limit` are held by others (False)."""
        if self._held is not None:
            return True
        for lease in self._leases:
            try:
                await lease.acquire()
            except LeaseRefused:
                continue
            self._held = lease
            return True
        return False

    async def keep(self) -> bool:
        """Renew the slot held; False when it was taken over (this process must unbind)."""
        if self._held is None:
            return False
        if await self._held.renew():
            return True
        log.error("channel %s: its bind slot was taken over by another dispatcher (this one "
                  "could not renew it in time): unbinding", self.channel)
        self._held = None
        return False

    async def give_back(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            await held.release()


def slot_name(channel: str, n: int) -> str:
    suffix = f" {n}"
    return "bind " + channel[:NAME_LIMIT - 5 - len(suffix)] + suffix
