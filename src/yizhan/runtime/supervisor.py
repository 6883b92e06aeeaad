"""The supervisor of `yizhan serve --workers N`: the platform in several processes of one
machine, started, watched and stopped by one command (docs/deployment.md "Every core of
one machine").

The supervisor runs no stage itself. It starts its children (`Child`: N API processes and
one dispatch process, each a `yizhan serve --role ...`), each in a process group of its own
so that a Ctrl-C at the terminal reaches only the supervisor, which then stops them in
order. Each child reports once it serves by writing one byte to a pipe the supervisor
reads (`ready_pipe`); `start` waits for all of them, and a child that exits before it is
ready ends the start (a wrong setting would fail again at every restart).

Once running, a child that exits is started again after a back-off: `backoff_min` seconds,
doubled at each exit in a row up to `backoff_max`, back to `backoff_min` once a child has run
for `stable_seconds`. On SIGINT or SIGTERM the children are stopped by groups in order
(`Child.stop_order`: the API processes first, so that every request they accepted is
committed to the outbox, then the dispatcher, which finishes its round): SIGTERM, and
SIGKILL for one still running after `grace` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("yizhan.supervisor")

TICK = 0.05
"""How often the supervisor looks at its children and the ready pipe."""


@dataclass
class Child:
    name: str
    argv: list[str]
    """The command; `{ready_fd}` in an argument is replaced by the ready pipe's descriptor."""
    stop_order: int = 0
    """Children with a lower number are stopped (and waited for) first."""
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    """Exits in a row without `stable_seconds` of running between them."""
    restart_at: float | None = None
    restarts: int = 0


class StartFailed(Exception):
    """A child exited, or did not report ready in time, while the supervisor started."""


@dataclass
class Supervisor:
    children: Sequence[Child]
    env: dict[str, str] | None = None
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    stable_seconds: float = 30.0
    grace: float = 30.0
    ready_seconds: float = 120.0
    clock: Callable[[], float] = time.monotonic
    _stopping: bool = False
    _ready_read: int = -1
    _ready_write: int = -1
    _exits: list[str] = field(default_factory=list)

    # Starting

    def start(self) -> None:
        """Start every child and wait until each has reported ready (`StartFailed` if one
        exits first or the wait exceeds `ready_seconds`; the others are stopped then)."""
        self._ready_read, self._ready_write = os.pipe()
        os.set_blocking(self._ready_read, False)
        for child in self.children:
            self._spawn(child)
        deadline = self.clock() + self.ready_seconds
        ready = 0
        while True:
            ready += self._drain_ready()
            if ready >= len(self.children):
                return
            for child in self.children:
                assert child.process is not None
                code = child.process.poll()
                if code is not None:
                    self.stop()
                    raise StartFailed(f"the {child.name} process exited with status {code} "
                                      "before it was ready")
            if self._stopping:
                self.stop()
                raise StartFailed("stopped while starting")
            if self.clock() > deadline:
                self.stop()
                raise StartFailed(f"not every process was ready after {self.ready_seconds:g}s")
            time.sleep(TICK)

    def _spawn(self, child: Child) -> None:
        argv = [arg.replace("{ready_fd}", str(self._ready_write)) for arg in child.argv]
        child.process = subprocess.Popen(argv, env=self.env, pass_fds=(self._ready_write,),
                                         process_group=0)
        child.started_at = self.clock()
        child.restart_at = None
        log.info("started the %s process (pid %d)", child.name, child.process.pid)

    def _drain_ready(self) -> int:
        count = 0
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._ready_read, 512):
                count += len(chunk)
        return count

    # Running

    def request_stop(self, *_: object) -> None:
        """The signal handler: `run` stops the children and returns."""
        self._stopping = True

    def run(self) -> None:
        """Watch the children until `request_stop`, restarting those that exit; then stop
        them all."""
        while not self._stopping:
            self.watch_once()
            time.sleep(TICK)
        self.stop()

    def watch_once(self) -> None:
        """One look: restart children whose back-off has passed, note those that exited."""
        now = self.clock()
        self._drain_ready()
        for child in self.children:
            assert child.process is not None
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            if now - child.started_at >= self.stable_seconds:
                child.failures = 0
            delay = min(self.backoff_max, self.backoff_min * 2 ** child.failures)
            child.failures += 1
            child.restart_at = now + delay
            self._exits.append(child.name)
            log.error("the %s process (pid %d) exited with status %d: starting it again in "
                      "%gs", child.name, child.process.pid, code, delay)

    # Stopping

    def stop(self) -> None:
        """SIGTERM each group of children in `stop_order`, waiting for one group before
        the next; SIGKILL what still runs after `grace` seconds."""
        self._stopping = True
        for order in sorted({child.stop_order for child in self.children}):
            group = [c.process for c in self.children
                     if c.stop_order == order and c.process is not None
                     and c.process.poll() is None and c.restart_at is None]
            for process in group:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            deadline = self.clock() + self.grace
            for process in group:
                try:
                    process.wait(max(0.0, deadline - self.clock()))
                except subprocess.TimeoutExpired:
                    log.warning("process %d did not stop within %gs: killed", process.pid,
                                self.grace)
                    process.kill()
                    process.wait()
        for fd in (self._ready_read, self._ready_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._ready_read = self._ready_write = -1

