"""The submit journal: which claimed messages may have left the process.

A dispatch round marks every message it claims `submitting` in the claim's commit, and a
message found `submitting` after a crash is resolved as status unknown, never submitted
again (`storage/messages.py`). Most messages of a round cut off by kill -9 never reached the
carrier, though. This journal tells them apart: an append-only file in the data folder
(mode 0600) that holds, for the current round only,

    c <message id> <outbox id> <attempts>    a message the round claimed, written inside
                                             the claim's transaction before it commits
    s <message id>                           a message whose submit may leave: written by
                                             the channel immediately before it hands the
                                             submit's bytes to its carrier connection
    e                                        the round's outcomes are committed

Only what follows the last `e` counts; the file is emptied at start and whenever it passes
`MAX_BYTES` at the end of a round (truncating after every round cost ~12 µs, four times the
one write of `e`). On start (`Pipeline.start`) the
dispatcher reads what a killed predecessor left and puts the claimed messages with no `s`
line back on the outbox (`SqlStore.requeue_unsent`, only while their claim is still the one
journaled), to be submitted once; every other message left `submitting` is resolved as
unknown as before.

Each write is one `os.write` without fsync: what a killed process wrote is in the kernel and
survives it. A power loss or OS crash can lose the last writes, so a journal written before
the machine last booted (the header holds the kernel's boot id) is not trusted at all: its
messages become unknown, never submitted twice. Without a boot id (not Linux) the journal
is never trusted. Several dispatchers on one host each lock a journal of their own
(`dispatch.journal`, `dispatch-2.journal`, ...); a dispatcher that finds none free runs
without one, which only makes its crashes conservative.

Takeover: dispatchers on one machine that share a data folder watch each other's journals
(`orphans`, every `ADOPT_SECONDS`): a journal that nobody holds locked belongs to a process
that died (the kernel drops a killed process's lock), so the first dispatcher to lock it
recovers it as a restart would, at once, without waiting for the dead one's outbox leases
to expire (docs/deployment.md "N API and M dispatch processes").
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from yizhan.domain.ports import Claim, Unsent

log = logging.getLogger("yizhan.dispatch")

MAX_JOURNALS = 16
"""Dispatch processes sharing one data folder, each with a journal of its own."""
ADOPT_SECONDS = 1.0
"""How often a dispatcher looks for the journals of dead dispatchers in its data folder."""
MAX_BYTES = 1 << 20
"""A journal this long is emptied at the end of the round that made it so."""
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class SubmitJournal:
    """One dispatcher's journal file, locked for as long as it is open."""

    def __init__(self, path: Path, fd: int, header: bytes, left: bytes) -> None:
        self.path = path
        self._fd = fd
        self._header = header
        self._left = left
        self._size = 0
        self._broken = False

    @classmethod
    def open(cls, folder: Path) -> SubmitJournal | None:
        """Lock the first free journal in `folder`; None when every one is taken or the
        folder cannot hold one (the dispatcher then runs without)."""
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("no submit journal in %s (%s): a crash makes the whole round "
                        "unknown", folder, exc)
            return None
        boot = _boot_id()
        header = f"yizhan submit journal 1 boot={boot}\n".encode()
        for n in range(1, MAX_JOURNALS + 1):
            path = folder / ("dispatch.journal" if n == 1 else f"dispatch-{n}.journal")
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                log.warning("cannot open the submit journal %s: %s", path, exc)
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another dispatcher's
                os.close(fd)
                continue
            left = _read_all(fd)
            return cls(path, fd, header if boot else b"", left)
        log.warning("all %d submit journals in %s are in use: this dispatcher runs without",
                    MAX_JOURNALS, folder)
        return None

    @classmethod
    def orphans(cls, folder: Path) -> list[SubmitJournal]:
        """The journals in `folder` that no process holds and that hold claims of a round
        never settled (their dispatcher died), each locked now: the caller recovers its
        `left_over`, then `restart`s and `close`s it."""
        found: list[SubmitJournal] = []
        if not folder.is_dir():
            return found
        for path in sorted(folder.glob("dispatch*.journal")):
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live dispatcher's
                os.close(fd)
                continue
            left = _read_all(fd)
            last = left.rsplit(b"\ne\n", 1)[-1]
            if not last.startswith(b"c ") and b"\nc " not in last:  # nothing unsettled
                os.close(fd)
                continue
            boot = _boot_id()
            found.append(cls(path, fd, f"yizhan submit journal 1 boot={boot}\n".encode()
                             if boot else b"", left))
        return found

    def left_over(self) -> list[Unsent]:
        """The claims a killed predecessor left whose submit never left the process; empty
        when the journal was written before the last boot (or no boot id is known)."""
        lines = self._left.split(b"\n")
        if not self._header or lines[0] + b"\n" != self._header:
            if len(lines) > 2:
                log.warning("submit journal %s predates this boot: its messages are resolved "
                            "as unknown", self.path)
            return []
        claimed: dict[int, Unsent] = {}
        sent: set[int] = set()
        for line in lines[1:-1]:  # the last is what follows the last newline: cut short
            if line == b"e":  # an earlier round, settled
                claimed.clear()
                sent.clear()
                continue
            fields = line.split()
            if len(fields) == 4 and fields[0] == b"c" and all(f.isdigit() for f in fields[1:]):
                claimed[int(fields[1])] = Unsent(int(fields[1]), int(fields[2]),
                                                 int(fields[3]))
            elif len(fields) == 2 and fields[0] == b"s" and fields[1].isdigit():
                sent.add(int(fields[1]))
        return [u for message_id, u in claimed.items() if message_id not in sent]

    def claimed(self, claims: Sequence[Claim]) -> None:
        """Journal a round's claims (one write), inside the claim's transaction just before
        it commits (`claim_dispatch`): journaled after the commit, a crash in between left
        the whole round `submitting` and unjournaled, so unknown though none of it left."""
        if claims:
            self._write(b"".join(b"c %d %d %d\n" % (c.message.id, c.outbox_id, c.attempts)
                                 for c in claims))

    def sending(self, message_id: int) -> None:
        """Journal that this message's submit may leave; call it immediately before its
        bytes are handed to the carrier's connection."""
        self._write(b"s %d\n" % message_id)

    def leaving(self, message_ids: Sequence[int]) -> None:
        """`sending` for the submits a connection is about to write together (one write)."""
        self._write(b"".join([b"s %d\n" % message_id for message_id in message_ids]))

    def settled(self) -> None:
        """The round's outcomes are committed: what it journaled counts no more."""
        if self._size < MAX_BYTES:
            self._write(b"e\n")
        else:
            self.restart()

    def restart(self) -> None:
        """Empty the journal (at start, once what was left over is recovered)."""
        self._left = b""
        self._size = 0
        try:
            os.ftruncate(self._fd, 0)
        except OSError as exc:
            self._fail(exc)
        if self._header:
            self._write(self._header)

    def _write(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            self._fail(exc)
            return
        self._size += written
        if written < len(data):
            self._fail(OSError(f"wrote {written} of {len(data)} bytes"))

    def _fail(self, exc: OSError) -> None:
        """A write failed (disk full): a line may be missing, so the journal must not be
        read after a crash. It is emptied (or removed) and kept no more: this process's
        crashes are conservative again, and its submits go on."""
        if self._broken:
            return
        self._broken = True
        log.error("submit journal %s failed (%s): it is no longer kept; after a crash the "
                  "messages of the round cut off become unknown", self.path, exc)
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing releases the lock
            self._fd = -1


def _read_all(fd: int) -> bytes:
    chunks = []
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""
