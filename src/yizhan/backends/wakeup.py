"""Wake-ups between processes (docs/architecture.md "Wake-ups between processes").

A process that only accepts (`--role api`) and one that only dispatches (`--role dispatch`)
share the store but not the in-process bus: without a signal the dispatcher would see a
message only at its next poll. `CrossBus` is the in-process bus plus a `Link` to the other
processes: a notified topic that crosses (the dispatch outbox's) is also sent on the link
after the commit that queued the work, and what arrives on the link is notified locally.

Sends are coalesced: the acceptances resolved by one group commit all notify in the same
turn of the event loop, and cost one send; a notify while a send is in flight costs one more
send after it (the commit behind it may have missed the first), never more.

Two links: PostgreSQL's LISTEN/NOTIFY (`PostgresLink`), and for processes sharing one SQLite
data folder, Unix datagram sockets in that folder (`SocketLink`), one per listening process.
Either may lose a wake-up (a dropped connection, a full socket buffer): the poll stays as
the safety net, and a listener that reconnects wakes its stages once, as if notified.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from yizhan.backends.local import LocalBus

log = logging.getLogger("yizhan.wakeup")

Wake = Callable[[str], None]
"""Called with a topic that another process notified."""

RETRY_SECONDS = 1.0
"""Pause before a lost listener connects again (the poll covers meanwhile)."""
CHECK_SECONDS = 10.0
"""How often an idle listener checks that it still listens (a half-open connection, a
socket file removed)."""


class Link(Protocol):
    async def send(self, topics: Collection[str]) -> None:
        """Wake the processes listening for `topics` (best effort)."""
        ...

    async def listen(self, topics: Collection[str], wake: Wake,
                     stopping: asyncio.Event) -> None:
        """Call `wake(topic)` for each wake-up from another process until `stopping` is set;
        reconnect when the link drops (waking every topic then: some may have been lost)."""
        ...

    async def close(self) -> None: ...


class CrossBus:
    """The in-process bus, with `crossing` topics sent to (`sends`) and received from
    (`listens`) the other processes on `link`. A `Background` stage: `start` listens, `stop`
    sends what is pending and closes the link."""

    def __init__(self, link: Link, crossing: Collection[str], *, sends: bool,
                 listens: bool) -> None:
        self._local = LocalBus()
        self._link = link
        self._crossing = frozenset(crossing) if sends else frozenset()
        self._listens = listens
        self._topics = frozenset(crossing)
        self._wanted: set[str] = set()
        self._sending: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._running = False
        """Between `start` and `stop`: sends only then (no connection left open by a bus
        that was never started)."""
        self._failed_at = float("-inf")

    def notify(self, topic: str) -> None:
        self._local.notify(topic)
        if topic in self._crossing:
            self._wanted.add(topic)
            if self._sending is None and self._running:
                self._sending = asyncio.get_running_loop().create_task(self._send())

    async def wait(self, topic: str, timeout: float) -> None:
        await self._local.wait(topic, timeout)

    async def _send(self) -> None:
        try:
            while self._wanted:
                topics = tuple(self._wanted)
                self._wanted.clear()
                try:
                    await self._link.send(topics)
                except Exception as exc:  # the poll covers it; say so once a minute at most
                    now = time.monotonic()
                    if now - self._failed_at > 60:
                        self._failed_at = now
                        log.warning("could not wake the other processes (%s): they see new "
                                    "work at their next poll", exc)
        finally:
            self._sending = None

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._running = True
        if self._listens:
            self._listener = asyncio.create_task(
                self._link.listen(self._topics, self._local.notify, self._stopping),
                name="wake-up listener")

    async def stop(self) -> None:
        self._running = False
        self._stopping.set()
        for task in (self._listener, self._sending):
            if task is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, 5)
        self._listener = self._sending = None
        await self._link.close()


async def _until(stopping: asyncio.Event, seconds: float, *others: asyncio.Event) -> None:
    """Wait `seconds`, or until `stopping` or one of `others` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in (stopping, *others)]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


# ---- PostgreSQL: LISTEN/NOTIFY ----------------------------------------------------------


class PostgresLink:
    """NOTIFY after the commit, from one connection of the accepting process; LISTEN on one
    connection of the dispatching process. Both connections are taken out of the store's
    engine (same server, credentials, TLS and schema) and kept apart from its pool.
    The channel is `yizhan_<topic>`, with the schema's name when it is not `public`, so
    that stores sharing one database do not wake each other."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sender: tuple[AsyncConnection, Any, str] | None = None

    async def _connect(self) -> tuple[AsyncConnection, Any, str]:
        """A connection of the engine's, detached from its pool: (the SQLAlchemy side, to
        close it, asyncpg's connection, the schema)."""
        conn = await self._engine.connect()
        try:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            raw.detach()  # closed with `conn`, never returned to the pool
            await driver.execute("SET application_name = 'yizhan wake-ups'")
            schema = str(await driver.fetchval("SELECT current_schema()"))
        except BaseException:
            await conn.close()
            raise
        return conn, driver, schema

    @staticmethod
    def channel(topic: str, schema: str) -> str:
        name = f"yizhan_{topic}" if schema == "public" else f"yizhan_{topic}_{schema}"
        name = re.sub(r"[^a-z0-9_]", "_", name.lower())
        if len(name) > 63:  # PostgreSQL's identifiers: 63 bytes
            name = name[:50] + "_" + hashlib.sha256(name.encode()).hexdigest()[:12]
        return name

    async def send(self, topics: Collection[str]) -> None:
        if self._sender is None or self._sender[1].is_closed():
            await self._close_sender()
            self._sender = await self._connect()
        _, driver, schema = self._sender
        try:
            # One simple-protocol statement, one round trip, outside any transaction.
            await driver.execute(";".join(f'NOTIFY "{self.channel(t, schema)}"'
                                          for t in topics))
        except BaseException:
            await self._close_sender()
            raise

    async def _close_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender[0].close()

    async def listen(self, topics: Collection[str], wake: Wake,
                     stopping: asyncio.Event) -> None:
        again = False
        while not stopping.is_set():
            try:
                await self._listen_once(topics, wake, stopping, again)
            except Exception as exc:
                if stopping.is_set():
                    break
                log.warning("wake-up listener lost (%s): connecting again in %gs; the poll "
                            "covers meanwhile", exc or type(exc).__name__, RETRY_SECONDS)
                for topic in topics:
                    wake(topic)
                await _until(stopping, RETRY_SECONDS)
            again = True

    async def _listen_once(self, topics: Collection[str], wake: Wake,
                           stopping: asyncio.Event, again: bool) -> None:
        """Listen on one connection until `stopping`; raise when it drops."""
        conn, driver, schema = await self._connect()
        try:
            lost = asyncio.Event()
            names = {self.channel(t, schema): t for t in topics}
            driver.add_termination_listener(lambda _c: lost.set())
            for name in names:
                await driver.add_listener(name, lambda _c, _p, name, _m: wake(names[name]))
            if again:
                log.info("wake-up listener connected again")
                for topic in topics:  # what was notified meanwhile was lost: look now
                    wake(topic)
            while not stopping.is_set():
                await _until(stopping, CHECK_SECONDS, lost)
                if lost.is_set():
                    raise ConnectionError("the connection was closed")
                if not stopping.is_set():  # a half-open connection fails this
                    await asyncio.wait_for(driver.execute("SELECT 1"), CHECK_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        await self._close_sender()


# ---- One machine, one data folder: Unix datagram sockets --------------------------------


class SocketLink:
    """Each listening process binds a Unix datagram socket `<pid>.sock` in `folder` (0700,
    the socket 0600: only the platform's user can wake it); a sender sends each the topic's
    name, without blocking: a listener whose buffer is full is awake anyway, the file of one
    that died is removed. The folder is read again at most once a second."""

    SUFFIX = ".sock"
    LIST_SECONDS = 1.0

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._out: socket.socket | None = None
        self._peers: list[str] = []
        self._listed_at = float("-inf")
        self._dir_fd: int | None = None

    def _prepare(self) -> None:
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._folder, 0o700)
        if self._dir_fd is None and len(str(self._folder)) > 80:
            # AF_UNIX addresses hold 107 bytes: reach a deep folder through its descriptor.
            self._dir_fd = os.open(self._folder, os.O_RDONLY)

    def _address(self, name: str) -> str:
        if self._dir_fd is not None:
            return f"/proc/self/fd/{self._dir_fd}/{name}"
        return str(self._folder / name)

    async def send(self, topics: Collection[str]) -> None:
        if self._out is None:
            self._prepare()
            self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._out.setblocking(False)
        now = time.monotonic()
        if now - self._listed_at > self.LIST_SECONDS:
            self._listed_at = now
            self._peers = [e.name for e in os.scandir(self._folder)
                           if e.name.endswith(self.SUFFIX)]
        for name in list(self._peers):
            for topic in topics:
                try:
                    self._out.sendto(topic.encode(), self._address(name))
                except BlockingIOError:  # its buffer is full: it has wake-ups to read
                    break
                except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                    self._peers.remove(name)
                    with contextlib.suppress(OSError):
                        os.unlink(self._folder / name)
                    break

    async def listen(self, topics: Collection[str], wake: Wake,
                     stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        name = f"{os.getpid()}{self.SUFFIX}"
        path = self._folder / name
        known = frozenset(topics)

        def readable(sock: socket.socket) -> None:
            while True:
                try:
                    data = sock.recv(64)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                topic = data.decode(errors="replace")
                if topic in known:
                    wake(topic)

        first = True
        while not stopping.is_set():
            sock, inode = None, -1
            try:
                self._prepare()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # left by an earlier process of the same pid
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.bind(self._address(name))
                os.chmod(path, 0o600)
                inode = os.stat(path).st_ino
                loop.add_reader(sock.fileno(), readable, sock)
                if not first:
                    for topic in topics:
                        wake(topic)
                first = False
                while not stopping.is_set():
                    await _until(stopping, CHECK_SECONDS)
                    try:
                        info = os.stat(path)
                    except FileNotFoundError:
                        info = None
                    if info is None or info.st_ino != inode or not stat.S_ISSOCK(info.st_mode):
                        raise ConnectionError(f"{path} was removed")
            except Exception as exc:
                if stopping.is_set():
                    break
                log.warning("wake-up socket lost (%s): binding again in %gs; the poll covers "
                            "meanwhile", exc, RETRY_SECONDS)
                first = False
                await _until(stopping, RETRY_SECONDS)
            finally:
                if sock is not None:
                    loop.remove_reader(sock.fileno())
                    sock.close()
                    with contextlib.suppress(OSError):
                        if os.stat(path).st_ino == inode:
                            os.unlink(path)

    async def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
