"""Where the platform's outbound HTTP may go: public addresses only, unless the operator
allows a network (issue 14 point 4, docs/push.md). Pushes to tenants use it, and so do the
HTTP upstream channels (docs/channels.md "Cloud providers"), with their own setting.

A push URL is chosen by a tenant, and the platform connects to it from inside the operator's
network: without a rule a tenant could make it post to the cloud metadata service or to
internal hosts. Refused: loopback, link-local, private, unique-local, multicast, unspecified,
cloud metadata and every other address that is not global (shared, reserved, documentation
ranges), in IPv4 and IPv6, including IPv4 carried inside IPv6 (mapped, NAT64, 6to4, Teredo).
`push_allowed_networks` (CIDRs) lets chosen networks through, e.g. a receiver on this machine.

Checked twice: when a URL is set (`check_url`: an address written in the URL, or a name of
this machine, answers `PushAddressForbidden`), and when the push stage connects
(`GuardedBackend`: the name is resolved, every address is checked, and the connection goes
to a checked address, so a name that later resolves elsewhere (DNS rebinding) cannot slip
through; TLS still verifies the certificate against the URL's host name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from yizhan.domain.errors import Refusal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Metadata services of the clouds Yizhan is deployed on: Alibaba Cloud (100.100.100.200),
# AWS, Azure, Google Cloud, Tencent Cloud and most others (169.254.169.254, fd00:ec2::254).
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "100.100.100.200", "169.254.169.254", "169.254.170.2", "fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class PushNetworks:
    """The rule: which addresses a push may reach (`push_allowed_networks` let through)."""

    def __init__(self, allowed: Iterable[IPNetwork | str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n) if isinstance(n, str) else n for n in allowed)

    def refused(self, address: IPAddress) -> str | None:
        """Why `address` is not a push target (e.g. "loopback"), None when it may be."""
        inner = _embedded_ipv4(address)
        if any(a in n for n in self.allowed for a in (address, inner) if a is not None
               and a.version == n.version):
            return None
        if inner is not None:
            return self.refused(inner)
        return _kind(address)

    def check_url(self, name: str, url: str) -> Refusal | None:
        """The check when a URL is set: its host if written as an address (any form the
        resolver reads: 127.1, 2130706433, [::ffff:127.0.0.1]) or a name of this machine."""
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            address: IPAddress | None = ipaddress.ip_address("127.0.0.1")
        else:
            address = _literal(host)
        kind = self.refused(address) if address is not None else None
        if kind is None:
            return None
        return Refusal("PushAddressForbidden", f"{name}: {host} is {_article(kind)} address")


def _kind(address: IPAddress) -> str | None:
    if address in METADATA:
        return "cloud metadata"
    for kind, test in (("unspecified", address.is_unspecified),
                       ("loopback", address.is_loopback),
                       ("link-local", address.is_link_local),
                       ("multicast", address.is_multicast),
                       ("unique-local", address.version == 6 and address in _UNIQUE_LOCAL),
                       ("private", address.is_private),
                       ("non-public", not address.is_global)):
        if test:
            return kind
    return None


_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to (mapped, NAT64, 6to4, Teredo)."""
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address.teredo[1] if address.teredo is not None else None


def _literal(host: str) -> IPAddress | None:
    """`host` as an address if it is one, in any form the resolver would read as one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the legacy forms getaddrinfo accepts without DNS: 127.1, 0x7f000001, 2130706433
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, UnicodeError):
        return None


class ForbiddenAddress(httpcore.ConnectError):
    """A push refused at connect time; httpx reports it as a ConnectError with this text."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the rule at connect time: resolve the host, refuse
    if any of its addresses is refused, else connect to a checked address."""

    def __init__(self, networks: PushNetworks,
                 inner: httpcore.AsyncNetworkBackend | None = None, *,
                 what: str = "push", setting: str = "push_allowed_networks") -> None:
        self._networks = networks
        self._inner = inner or httpcore.AnyIOBackend()
        self._what = what
        """Who connects, as refusals name it ("push", "channel aliyun-a")."""
        self._setting = setting
        """The setting that lets a network through, as refusals name it."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            kind = self._networks.refused(address)
            if kind is not None:
                raise ForbiddenAddress(
                    f"{self._what} refused: {host} resolves to {address}, "
                    f"{_article(kind)} address (allow its network with {self._setting})")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout,
                                                     local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenAddress(f"{self._what} refused: a Unix socket is not a target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def _resolve(self, host: str, port: int,
                       timeout: float | None) -> Sequence[IPAddress]:
        literal = _literal(host.strip("[]"))
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(
            ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        return addresses


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `GuardedBackend`. httpx has no parameter for httpcore's
    network backend, so the pool it made is replaced by one that has it (same limits, the
    same certificate verification)."""

    def __init__(self, networks: PushNetworks, limits: httpx.Limits,
                 ssl_context: ssl.SSLContext | None = None, *, what: str = "push",
                 setting: str = "push_allowed_networks") -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(networks, what=what, setting=setting))
