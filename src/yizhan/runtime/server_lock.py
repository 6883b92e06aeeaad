"""The lock file by which a running `yizhan serve` tells other processes on the same data
folder that it is there, and where its API listens.

A serving process that accepts messages (role `all` or `api`) holds an exclusive `flock` on
`serve.lock` in the data folder (mode 0600) for as long as it lives, and writes its pid and
API URL into it. The kernel drops the lock when the process ends, however it ends (kill -9
too), so a lock file nobody holds means no server: the file itself is never removed.

`yizhan send` reads it (`holder`): a send accepted beside a running server must go through
that server, since with the embedded counters (rate_backend = "sql") the frequency limits
live in the serving process, and a send accepted elsewhere would not count against them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FILE_NAME = "serve.lock"
_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class Holder:
    """The process that holds the lock; `url` is empty while it is still writing it."""

    pid: int
    url: str
    store: str = ""
    """The server's store (URL without password): a CLI on another store ignores it."""


class ServerLock:
    """Held by `serve` from start to exit."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME
        self._fd: int | None = None

    def acquire(self, url: str, store: str = "") -> Holder | None:
        """Take the lock and record this process; the current holder when another has it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        for attempt in range(_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # `holder` takes a shared lock for an instant; only a lock still held after
                # a few tries is another server's.
                if attempt == _ATTEMPTS - 1:
                    os.close(fd)
                    return _read(self.path) or Holder(0, "")
                time.sleep(0.01)
        os.fchmod(fd, 0o600)
        record = json.dumps({"pid": os.getpid(), "url": url, "store": store,
                             "started_at": datetime.now(UTC).isoformat()})
        os.ftruncate(fd, 0)
        os.write(fd, record.encode())
        self._fd = fd
        return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock


def holder(data_dir: Path) -> Holder | None:
    """The running server of this data folder, or None when no process holds the lock."""
    path = data_dir / FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        # A shared lock is refused while a server holds the exclusive one, and does not
        # disturb a server that starts meanwhile (it would then simply wait for no one).
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(path) or Holder(0, "")
    finally:
        os.close(fd)
    return None


def _read(path: Path) -> Holder | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["url"]), str(data.get("store", "")))
    return None
