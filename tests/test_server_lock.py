"""The data folder's server lock (issue 14 point 15): held by one process at a time, mode
0600, naming the holder's pid and URL, and free again once the holder lets go."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from yizhan.runtime.server_lock import FILE_NAME, Holder, ServerLock, holder


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    assert holder(tmp_path) is None  # no file: no server
    first = ServerLock(tmp_path)
    assert first.acquire("http://127.0.0.1:8080") is None
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    mine = Holder(os.getpid(), "http://127.0.0.1:8080")
    assert holder(tmp_path) == mine
    assert ServerLock(tmp_path).acquire("http://127.0.0.1:9090") == mine
    first.release()
    assert holder(tmp_path) is None  # the file stays, nobody holds it
    second = ServerLock(tmp_path)
    assert second.acquire("http://127.0.0.1:9090", "sqlite+aiosqlite:///x.db") is None
    assert holder(tmp_path) == Holder(os.getpid(), "http://127.0.0.1:9090",
                                      "sqlite+aiosqlite:///x.db")
    second.release()
