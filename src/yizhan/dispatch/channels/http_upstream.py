"""HTTP upstream channels: a cloud SMS provider (Alibaba Cloud Dysmsapi, Tencent Cloud SMS,
Twilio), or another Yizhan through its Dysmsapi endpoint, as a `Channel`
(docs/channels.md "Cloud providers and other Yizhans").

What every provider shares lives here: one pooled HTTP client per channel with bounded
timeouts, the address rule (an upstream on an internal address is refused unless the
channel's `allow_networks` lets it through: `runtime/addresses.py`), the answer of a
request that did not come back, throttling as a pause of the channel, and receipts by
polling (or pushed by the provider: `upstream_push.py`). What differs, each provider's
module says (`aliyun_upstream.py`, `tencent.py`, `twilio.py`, a `Provider`, with the
pieces they share in `provider_wire.py`): how a request is signed and written, what its
answer means, how its delivery reports are read.

Consumes `SubmitRequest`s from the dispatch worker and answers each with a value:
`Accepted(remote id)`; `Retryable` when nothing was taken (the request never left, or the
provider said so: throttled, busy, the channel's account refused); `Rejected(code)` when the
provider refused this one message; `Ambiguous` when the request may have reached it and no
usable answer came back (a read timeout, a connection lost after the request was written,
a 5xx that does not say "not processed"): such a message is never sent again
(docs/architecture.md "No duplicate submits"). Receipts leave as `Receipt` events to the
sink, classified by the channel's code table (`domain/codes.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tomllib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Protocol

import httpx
import orjson

from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    Clock,
    EventSink,
    Rejected,
    Retryable,
    SubmitRequest,
    SubmitResult,
)
from yizhan.runtime.addresses import GuardedTransport, PushNetworks

log = logging.getLogger("yizhan.dispatch.upstream")

DELIVERED = "DELIVERED"
MAX_PENDING = 200_000
"""Messages waiting for their receipt that a channel remembers (the oldest forgotten first:
the receipt stage's 72-hour rule then makes them unknown)."""


@dataclass(frozen=True, slots=True)
class Throttled:
    """A provider's "too many requests": not taken, and the channel pauses `after` seconds."""

    reason: str
    after: float = 0.0
    """Seconds the provider asked for (Retry-After); 0: the channel's `throttle_backoff`."""


@dataclass(frozen=True, slots=True)
class Pending:
    """An accepted message whose final receipt has not come yet."""

    remote_id: str
    phone: str
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class Report:
    """A provider's final word on one message, before the channel's code table reads it."""

    remote_id: str
    code: str
    """`DELIVERED` for a delivery; else the provider's failure code (`MK:0001`, `TW:30003`)."""
    phone: str = ""
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Poll:
    """One request that asks for reports, and the pending messages it asks about."""

    request: httpx.Request
    asked: Sequence[Pending]


@dataclass(frozen=True, slots=True)
class Push:
    """Receipts a provider pushed (`upstream_push.py`): the URL as the provider called it,
    the headers (lower-case names) and the body."""

    url: str
    headers: Mapping[str, str]
    body: bytes


class Provider(Protocol):
    """One provider's wire: writes signed requests, reads answers and pushed receipts."""

    kind: str
    polls_idle: bool
    """True when one poll asks for every report of the account (Tencent's pull): the
    channel polls even with nothing pending, so reports of messages sent before a restart
    still come."""

    def submit_request(self, request: SubmitRequest, now: datetime) -> httpx.Request: ...

    def read_submit(self, response: httpx.Response) -> SubmitResult | Throttled: ...

    def polls(self, pending: Sequence[Pending], now: datetime) -> list[Poll]: ...

    def read_poll(self, response: httpx.Response, asked: Sequence[Pending]) -> list[Report]:
        ...

    def read_push(self, push: Push) -> list[Report] | str:
        """The reports of a push, or why it is refused (a signature that does not match,
        a body that is not the provider's format)."""
        ...

    push_answer: tuple[str, bytes]
    """Content type and body the provider expects when a push was taken."""


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """What every HTTP upstream channel takes (docs/channels.md, the table of settings)."""

    timeout: float = 10.0
    """Seconds to wait for an answer once the request is written: past it, ambiguous."""
    connect_timeout: float = 3.0
    """Seconds to connect (or wait for a pooled connection): past it, retryable."""
    max_connections: int = 20
    """Requests in flight at once on this channel (the pool's size)."""
    allow_networks: tuple[str, ...] = ()
    """Internal networks (CIDR) the channel may reach: empty, public addresses only. A
    Yizhan upstream on this machine needs `["127.0.0.0/8"]`."""
    poll_seconds: float = 5.0
    """How often the channel asks for receipts; 0: never (the provider pushes them)."""
    poll_batch: int = 50
    """Pending messages asked about per round (for providers asked one message at a time)."""
    throttle_backoff: float = 1.0
    """Seconds the channel takes no submit after a throttling answer."""
    codes: CodeTable = field(default_factory=CodeTable)
    """The provider's codes: what a failure code means (a data file per provider)."""
    callback_token: str = ""
    """The secret last part of the URL the provider pushes receipts to
    (`/callbacks/<channel>/<token>`, `upstream_push.py`); empty: no pushes taken."""
    callback_url: str = ""
    """The callback URL as the provider calls it (behind a proxy, its public form): what
    Twilio signs (X-Twilio-Signature)."""
    push_secret: str = ""
    """An upstream Yizhan's push secret (its account's `GET /v1/push`): its pushes must then
    carry a valid X-Yizhan-Signature."""


class HttpUpstreamChannel:
    journals_sends = False
    """The worker journals each submit before the call: an HTTP request has no moment
    between "written" and "not written" the channel could tell apart cheaply."""

    def __init__(self, name: str, provider: Provider, settings: UpstreamSettings,
                 clock: Clock, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.provider = provider
        self.settings = settings
        self._clock = clock
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._sink: EventSink | None = None
        self._paused_until = 0.0
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._poller: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """False while a throttling answer's pause lasts: the router sends elsewhere."""
        return self._clock.monotonic() >= self._paused_until

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def wait_ready(self) -> None:
        return

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            settings = self.settings
            limits = httpx.Limits(max_connections=settings.max_connections,
                                  max_keepalive_connections=settings.max_connections)
            transport = self._transport or GuardedTransport(
                PushNetworks(settings.allow_networks), limits,
                what=f"channel {self.name}", setting="allow_networks")
            self._client = httpx.AsyncClient(
                transport=transport, trust_env=False, follow_redirects=False,
                timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout,
                                      pool=settings.connect_timeout))
        return self._client

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self.client()
        if self.settings.poll_seconds > 0:
            self._poller = asyncio.create_task(self._poll_loop(), name=f"{self.name}:poll")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._sink = None

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        if not self.ready:
            return Retryable(f"channel {self.name}: throttled by the provider; paused",
                             after=self._paused_until - self._clock.monotonic())
        now = self._clock.now()
        outgoing = self.provider.submit_request(request, now)
        try:
            response = await self.client().send(outgoing)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.UnsupportedProtocol) as exc:
            # Nothing was written: sending it again (here or elsewhere) is no duplicate.
            return Retryable(f"channel {self.name}: {_error(exc)}", after=1.0)
        except httpx.HTTPError as exc:
            return Ambiguous(f"channel {self.name}: no answer after the request was sent "
                             f"({_error(exc)})")
        result = self.provider.read_submit(response)
        if isinstance(result, Throttled):
            pause = result.after or self.settings.throttle_backoff
            self._paused_until = self._clock.monotonic() + pause
            log.warning("channel %s: throttled by the provider (%s); pausing %.1fs",
                        self.name, result.reason, pause)
            return Retryable(f"channel {self.name}: {result.reason}", after=pause)
        if isinstance(result, Accepted):
            self._remember(Pending(result.remote_id, request.phone, now))
        return result

    def _remember(self, item: Pending) -> None:
        self._pending[item.remote_id] = item
        if len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # a provider's outage must not end the loop
                log.exception("channel %s: polling for receipts failed", self.name)
            await asyncio.sleep(self.settings.poll_seconds)

    async def poll(self) -> int:
        """One round of asking for receipts: hands what came to the sink; returns how many.
        Messages pending longer than 72 hours are given up (the receipt stage's rule)."""
        sink = self._sink
        if sink is None or (not self._pending and not self.provider.polls_idle):
            return 0
        now = self._clock.now()
        self._forget_before(now - timedelta(hours=72))
        asked = list(self._pending.values())[: self.settings.poll_batch]
        for item in asked:  # the next round asks about the others first
            self._pending.move_to_end(item.remote_id)
        reports: list[Report] = []
        for poll in self.provider.polls(asked, now):
            try:
                response = await self.client().send(poll.request)
            except httpx.HTTPError as exc:
                log.warning("channel %s: receipt poll failed: %s", self.name, _error(exc))
                continue
            reports.extend(self.provider.read_poll(response, poll.asked))
        return await self.report(reports)

    async def report(self, reports: Sequence[Report]) -> int:
        """Hand the final ones of `reports` (polled, or pushed: `upstream_push.py`) to the
        sink as receipts; returns how many. Raises when the sink did not store them (a
        pushing provider is then answered an error and pushes again)."""
        sink = self._sink
        if sink is None:
            raise RuntimeError(f"channel {self.name} is not running")
        now = self._clock.now()
        receipts = [r for r in (self._receipt(report, now) for report in reports) if r]
        if receipts:
            await sink.many(receipts)  # raises if not stored: they stay pending
            for receipt in receipts:
                self._pending.pop(receipt.remote_id, None)
        return len(receipts)

    @property
    def running(self) -> bool:
        """Started and not stopped: it can take pushed receipts."""
        return self._sink is not None

    def _receipt(self, report: Report, now: datetime) -> Receipt | None:
        status, code = self.settings.codes.read(report.code)
        if status is MessageStatus.WAITING:
            return None
        if status is MessageStatus.SUCCESS:
            code = DELIVERED
        known = self._pending.get(report.remote_id)
        return Receipt(self.name, report.remote_id, code, now, report.raw[:500], status.value,
                       report.phone or (known.phone if known else ""),
                       known.submitted_at if known else None)

    def _forget_before(self, cut: datetime) -> None:
        while self._pending:
            oldest = next(iter(self._pending.values()))
            if oldest.submitted_at >= cut:
                return
            self._pending.popitem(last=False)


def _error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def retryable_status(response: httpx.Response) -> SubmitResult | Throttled:
    """The answer of an HTTP status a provider's body did not explain: 429 throttled, 503
    "not processed" (retryable), any other 5xx ambiguous, any other status refused."""
    status = response.status_code
    if status == 429:
        return Throttled("HTTP 429", retry_after(response))
    if status == 503:
        return Retryable("HTTP 503 from the provider", after=retry_after(response) or 1.0)
    if status >= 500:
        return Ambiguous(f"HTTP {status} from the provider: it may have taken the message")
    return Rejected(f"HTTP{status}", f"the provider answered HTTP {status}")


def retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (0: none, or a date, which the channel's back-off replaces)."""
    try:
        return max(0.0, min(float(response.headers.get("retry-after", "")), 300.0))
    except ValueError:
        return 0.0


@dataclass(frozen=True, slots=True)
class SubmitCodes:
    """What a provider's refusal codes mean for a submit, from its data file's `[submit]`
    table (`domain/data/upstream_*.toml`, each with its source): `throttle` pauses the
    channel, `retryable` was not taken (the account or the channel, not this message:
    another channel may take it), `ambiguous` may have been taken; any other code refuses
    the message with that code."""

    throttle: frozenset[str] = frozenset()
    retryable: frozenset[str] = frozenset()
    ambiguous: frozenset[str] = frozenset()

    @classmethod
    def from_data(cls, data: dict[str, object]) -> SubmitCodes:
        submit = data.get("submit", {})
        if not isinstance(submit, dict):
            raise ValueError("[submit] must be a table")

        def names(key: str) -> frozenset[str]:
            value = submit.get(key, [])
            if not isinstance(value, list):
                raise ValueError(f"[submit] {key} must be a list of codes")
            return frozenset(str(v) for v in value)

        return cls(names("throttle"), names("retryable"), names("ambiguous"))

    def answer(self, code: str, message: str, channel_after: float = 5.0
               ) -> SubmitResult | Throttled:
        # The provider's words, cut: some echo the whole request (a string to sign).
        text = f"{code}: {message[:120]}" if message else code
        if code in self.throttle:
            return Throttled(text)
        if code in self.retryable:
            return Retryable(f"the provider refused the channel's request ({text})",
                             after=channel_after)
        if code in self.ambiguous:
            return Ambiguous(f"the provider's error may follow a send ({text})")
        return Rejected(code, message[:300])


def provider_data(kind: str) -> dict[str, Any]:
    """A provider's data file (`domain/data/upstream_<kind>.toml`): its `[submit]` codes
    and its receipt `codes`, with their source."""
    text = resources.files("yizhan.domain").joinpath(f"data/upstream_{kind}.toml")
    return tomllib.loads(text.read_text("utf-8"))


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's body as a JSON object; None when it is not one."""
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
