"""The leases of the store: the one process that keeps the embedded frequency counters, and
the one that runs the send-task engine (`SoleStage`).

With `rate_backend = "sql"` the frequency counters (and, on SQLite, the signature nonces'
replay window) live in the memory of the process that accepts messages: a second accepting
process on the same store would count apart and let through what the limits forbid. So a
serving process that accepts messages with those counters holds the lease row
`rate_counters` of the store (`Leases`, `storage/leases.py`) for as long as it serves,
whatever its data folder or machine; a second is refused at start with a message naming the
holder. The holder renews the lease every `RENEW_SECONDS`; it lasts `LEASE_SECONDS`, and
is released on a clean stop.

The send-task engine runs in every process that accepts messages, but must run in one at a
time (two would send the same pending rows): `SoleStage` holds the lease `task_engine` for
it. Every API process tries to take it at start and, while another holds it, again every
few seconds; the holder renews it, and stops the engine should it lose it.

A lease is free for another process when it has expired (its holder stopped renewing: it
was killed, or its machine is gone), or at once when its holder ran on the same node (this
machine, the same process namespace) and that pid is no longer alive: a server restarted
after `kill -9` starts without waiting for the expiry. Times come from the injected clock.

Processes that accept messages with the counters in Redis (rate_backend = "redis") hold a
lease row each (`SHARED` + a random suffix): a process with the embedded counters is refused
while one of them lives (`SharedCountersRefused`), and one of them is refused while a
process keeps the counters in its memory, so the two kinds never count apart on one store.
The check and the take are two transactions: two such processes started in the same instant
may both pass; start them one after the other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

from yizhan.domain.ports import Clock, LeaseHolder, Leases
from yizhan.runtime.pausing import pause

NAME = "rate_counters"
SHARED = "accepting "
"""The prefix of the leases of processes that accept messages with the frequency counters
in Redis (rate_backend = "redis"): one row each, `accepting <random>`. A process that would
keep the counters in its memory (`NAME`) is refused while any lives, and such a process is
refused while one keeps them (`ProcessLease.acquire`)."""
LEASE_SECONDS = 30.0
"""How long a lease holds without renewal: how long a holder killed on another machine
keeps others out."""
RENEW_SECONDS = 10.0


class LeaseRefused(Exception):
    """Another process holds the lease; the text is the one-line answer for the operator."""

    def __init__(self, holder: LeaseHolder) -> None:
        self.holder = holder
        where = f"pid {holder.pid} on {holder.host}" + (f", {holder.url}" if holder.url else "")
        until = holder.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"another yizhan serve ({where}) keeps the frequency counters of this store "
            "(rate_backend = \"sql\"), and only one process may accept messages with them: "
            "stop it, or set rate_backend = \"redis\" on every API process to run several "
            f"(docs/deployment.md); its lease ends at {until} unless it renews it")


class SharedCountersRefused(LeaseRefused):
    """Processes accept messages on this store with the counters in Redis: one that would
    keep them in its memory must not run beside them."""

    def __init__(self, holder: LeaseHolder) -> None:
        self.holder = holder
        where = f"pid {holder.pid} on {holder.host}" + (f", {holder.url}" if holder.url else "")
        Exception.__init__(
            self, f"another yizhan serve ({where}) accepts messages on this store with the "
            "frequency counters in Redis (rate_backend = \"redis\"); this one would keep "
            "them in its memory (rate_backend = \"sql\") and count apart: set "
            "rate_backend = \"redis\" and the same redis_url on it too (docs/deployment.md)")


class ProcessLease:
    """This process's claim on the lease `name` of `store` (default `NAME`; a channel's
    bind slots are leases too, `runtime/bind_slots.py`, and so is the send-task engine's
    turn, `SoleStage`)."""

    def __init__(self, store: Leases, clock: Clock, url: str = "", name: str = NAME) -> None:
        self._store = store
        self.name = name
        self._clock = clock
        self._ttl = timedelta(seconds=LEASE_SECONDS)
        self.me = LeaseHolder(uuid.uuid4().hex, os.getpid(), socket.gethostname(), node(),
                              url, clock.now(), clock.now())
        self.held = False

    async def acquire(self) -> None:
        """Take the lease, or raise `LeaseRefused` naming the process that holds it."""
        now = self._clock.now()
        me = LeaseHolder(self.me.holder, self.me.pid, self.me.host, self.me.node, self.me.url,
                         now, now + self._ttl)

        def free(holder: LeaseHolder) -> bool:
            return holder.expires_at <= now or (holder.node == me.node
                                                and not alive(holder.pid))

        if self.name.startswith(SHARED):  # none may keep the counters in memory meanwhile
            for _, keeper in await self._store.lease_holders(NAME):
                if not free(keeper):
                    raise LeaseRefused(keeper)
        holder = await self._store.take_lease(self.name, me, free)
        if holder is not None:
            raise LeaseRefused(holder)
        self.me, self.held = me, True
        if self.name == NAME:  # nor beside processes that keep them in Redis
            others = [h for _, h in await self._store.lease_holders(SHARED) if not free(h)]
            if others:
                await self.release()
                raise SharedCountersRefused(others[0])
        elif self.name.startswith(SHARED):  # the rows of sharers that died: gone
            for name, other in await self._store.lease_holders(SHARED):
                if other.holder != me.holder and free(other):
                    await self._store.release_lease(name, other.holder)

    async def renew(self) -> bool:
        """Extend the lease; False when another process took it over meanwhile (this one
        stopped renewing for longer than the lease)."""
        self.held = await self._store.renew_lease(self.name, self.me.holder,
                                                  self._clock.now() + self._ttl)
        return self.held

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self._store.release_lease(self.name, self.me.holder)


class Stage(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class SoleStage:
    """Runs `stage` only while this process holds `lease`: a background stage of the
    pipeline (`stages.Background`) that must run in one process of the store at a time.
    `start` tries the lease once (a sole process starts the stage at once); then every
    `check_seconds` a process without it tries again (its holder died on this machine: at
    once; elsewhere: once its lease expired), and the holder renews it every
    `RENEW_SECONDS`, stopping the stage if another process took it over meanwhile."""

    def __init__(self, stage: Stage, lease: ProcessLease, clock: Clock, what: str,
                 check_seconds: float = 1.0) -> None:
        self._stage = stage
        self._lease = lease
        self._clock = clock
        self._what = what
        self._check = check_seconds
        self._renewed: datetime | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._log = logging.getLogger("yizhan.leases")

    @property
    def running(self) -> bool:
        return self._renewed is not None

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        await self.step()
        self._task = asyncio.create_task(self._loop(), name=f"lease {self._lease.name}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.running:
            self._renewed = None
            await self._stage.stop()
            await self._lease.release()

    async def step(self) -> None:
        """Take the lease and start the stage, or renew it when due (stopping the stage if
        it was lost)."""
        now = self._clock.now()
        if not self.running:
            try:
                await self._lease.acquire()
            except LeaseRefused:
                return
            self._log.info("this process runs the %s (lease %s)", self._what,
                           self._lease.name)
            self._renewed = now
            await self._stage.start()
        elif (now - self._renewed).total_seconds() >= RENEW_SECONDS:  # type: ignore[operator]
            if await self._lease.renew():
                self._renewed = now
                return
            self._log.error("another process took over the %s (this one could not renew "
                            "its lease in time): stopping it here", self._what)
            self._renewed = None
            await self._stage.stop()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await pause(self._clock, self._check, self._stopping)
            if self._stopping.is_set():
                return
            try:
                await self.step()
            except Exception:
                self._log.exception("lease %s: trying again in %gs", self._lease.name,
                                    self._check)


def node() -> str:
    """This machine and process namespace: pids compare only within one."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()} {namespace}".strip()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
