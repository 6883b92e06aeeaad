"""The server an SGIP channel runs: where China Unicom's gateway (SMG) connects back to the
SP to deliver Reports (the status of our Submits) and Delivers (handsets' replies).

In SGIP the SP's own connection carries Submits only; the gateway opens its own
connections to the SP's listener, Binds with Login Type 2 (SMG -> SP) and the login name and
password agreed with the carrier, sends its Reports and Delivers, and Unbinds. This module
accepts those connections and checks the Bind (`sgip_link.admit`): a wrong login type is
answered Result 4 (BAD_LOGIN_TYPE), wrong credentials Result 1 (ILLEGAL_LOGIN), a second
Bind on one connection Result 2; a refusal closes the connection. A Report or Deliver before
the Bind is refused the same way as a wrong login.

Each Report or Deliver of a bound connection goes to `on_inbound` unanswered: the channel's
deliver loop (`session.Session._on_deliver`) answers it once the sink has stored what it
carries (Result 0: the gateway may forget it), or with Result 11 (NODE_BUSY) when it was not
stored, so that the gateway offers it again (docs/contributing.md, style 5: nothing
accepted is lost).

The passwords are compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .sgip_link import Link, admit
from .sgip_pdu import Bind, Command, LoginType, Pdu, Result

log = logging.getLogger("yizhan.sgip")

MAX_CONNECTIONS = 32
"""Bound connections at most: a further Bind is answered 3 (TOO_MANY_CONNECTIONS)."""
BIND_SECONDS = 10.0
"""A connection that has not bound within this time is closed (someone knocking)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the gateway must Bind with (agreed with the carrier)."""

    login_name: str
    login_password: str

    def accept(self, bind: Bind) -> int:
        """The Bind_Resp Result for `bind`."""
        if bind.login_type != LoginType.SMG_TO_SP:
            return Result.BAD_LOGIN_TYPE
        name_ok = hmac.compare_digest(bind.login_name.encode("latin-1"),
                                      self.login_name.encode("latin-1"))
        password_ok = hmac.compare_digest(bind.login_password.encode("latin-1"),
                                          self.login_password.encode("latin-1"))
        return Result.OK if name_ok and password_ok else Result.ILLEGAL_LOGIN


class SgipListener:
    def __init__(self, credentials: Credentials, *, node: int,
                 on_inbound: Callable[[Link, Pdu], None], name: str = "sgip-listener",
                 wall: Callable[[], datetime] = _utc_now) -> None:
        self.credentials = credentials
        self.node = node
        self.name = name
        self._on_inbound = on_inbound
        self._wall = wall
        self._server: asyncio.Server | None = None
        self._links: set[Link] = set()
        self.refused_binds = 0
        """Binds refused since start (wrong type or credentials): a misconfigured gateway,
        or someone else knocking."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (0 picks a free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    def _accept(self) -> Link:
        link = Link(self._on_request, node=self.node, name=self.name, wall=self._wall)
        self._links.add(link)
        # guards against a peer that never binds: the loop's clock, not the injected one
        timer = asyncio.get_running_loop().call_later(BIND_SECONDS, _unless_bound, link)

        def forget(_: object) -> None:
            self._links.discard(link)
            timer.cancel()

        link.closed.add_done_callback(forget)
        return link

    @property
    def connections(self) -> int:
        """Connections bound now."""
        return sum(1 for link in self._links if link.bound and link.is_open)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _on_request(self, link: Link, pdu: Pdu) -> None:
        if not admit(link, pdu, self._check):
            return
        if pdu.command in (Command.REPORT, Command.DELIVER):
            self._on_inbound(link, pdu)
        else:
            link.respond(pdu, Result.BAD_COMMAND_ID)

    def _check(self, bind: Bind) -> int:
        result = self.credentials.accept(bind)
        if result == Result.OK and self.connections >= MAX_CONNECTIONS:
            log.warning("%s: Bind refused: %d connections already", self.name,
                        self.connections)
            return Result.TOO_MANY_CONNECTIONS
        if result != Result.OK:
            self.refused_binds += 1
            log.warning("%s: Bind as %r refused: %s", self.name, bind.login_name,
                        f"login type {bind.login_type} is not SMG -> SP (2)"
                        if result == Result.BAD_LOGIN_TYPE else "wrong login name or password")
        return result


def _unless_bound(link: Link) -> None:
    if not link.bound:
        log.warning("%s: no Bind within %gs; closing the connection", link.name, BIND_SECONDS)
        link.abort()
