"""The push stage: push outbox -> signed JSON batches -> the tenant's URL.

Claims due items (`storage/push.py`: only those whose topic has a URL, and never a
message's later item while an earlier one waits), groups them per account, URL and topic,
posts each group in batches of at most `batch_size` items, signed (`signing.py`). A batch
succeeds only on HTTP 200 with a JSON body whose `code` is 0; anything else, or no answer
within `timeout`, puts its items back with exponential back-off (`retry_base` doubling up to
`retry_max`) until `retry_period` has passed since the item was written; then the items go
to the dead letters (`yizhan deadletters replay` puts them back). Items are durable in the
store, so a restart only delays them. Connections go only to addresses the operator's rule
allows (`destinations.py`, checked after DNS resolution); a refused one is a failed push.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import httpx
import orjson

from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.ports import Bus, Clock
from yizhan.domain.push import SIGN_REPORT, SMS_REPORT, SMS_UP, PushClaim, PushRetry
from yizhan.domain.timezone import china_text
from yizhan.runtime.addresses import ForbiddenAddress, GuardedTransport, PushNetworks
from yizhan.runtime.pausing import pause
from yizhan.webhooks import items, signing

log = logging.getLogger("yizhan.push")
PUSH = "push"


class PushStore(Protocol):
    async def claim_pushes(self, now: datetime, limit: int,
                           lease: timedelta) -> list[PushClaim]: ...
    async def finish_pushes(self, delivered: Sequence[int], retry: Sequence[PushRetry],
                            dead: Sequence[tuple[PushClaim, str]], now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class PushConfig:
    batch_size: int = 100
    batch_delay: float = 0.2
    """After a wake-up, how long to let more items gather before claiming."""
    claim_batch: int = 2000
    timeout: float = 5.0
    retry_base: float = 60.0
    retry_max: float = 3600.0
    retry_period: float = 86400.0
    poll_seconds: float = 1.0
    concurrency: int = 32
    networks: PushNetworks = field(default_factory=PushNetworks)
    """Which addresses pushes may reach (`push_allowed_networks`)."""
    codes: CodeBook = PLATFORM_BOOK
    """The channels' code tables: an SmsReport's err_msg comes from its channel's."""

    @property
    def lease(self) -> timedelta:
        """Long enough for one round: every batch waits at most `timeout` for a slot and
        `timeout` for its answer."""
        return timedelta(seconds=self.timeout * 4 + 30)


class PushStage:
    def __init__(self, store: PushStore, clock: Clock, bus: Bus, config: PushConfig) -> None:
        self._store = store
        self._clock = clock
        self._bus = bus
        self._config = config
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def open(self) -> None:
        """Make the HTTP client (`start` does; tests drive rounds with `run_once`)."""
        limits = httpx.Limits(max_connections=self._config.concurrency * 2,
                              max_keepalive_connections=self._config.concurrency)
        self._client = httpx.AsyncClient(
            timeout=self._config.timeout, trust_env=False,
            transport=GuardedTransport(self._config.networks, limits))

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        await self.open()
        self._task = asyncio.create_task(self.run(), name="push")

    async def stop(self) -> None:
        """Finish the current round (its posts time out within `timeout`), then stop."""
        self._stopping.set()
        self._bus.notify(PUSH)
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, self._config.timeout * 3)
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # store unavailable: the items stay, try again shortly
                log.exception("push round failed")
                handled = 0
            if handled < self._config.claim_batch and not self._stopping.is_set():
                await self._bus.wait(PUSH, self._config.poll_seconds)
                if self._config.batch_delay and not self._stopping.is_set():
                    await pause(self._clock, self._config.batch_delay, self._stopping)

    async def run_once(self) -> int:
        """One round: claim, post every batch, record. Returns how many items were handled."""
        claims = await self._store.claim_pushes(self._clock.now(), self._config.claim_batch,
                                                self._config.lease)
        if not claims:
            return 0
        batches = self._batches(claims)
        slots = asyncio.Semaphore(self._config.concurrency)

        async def post(batch: list[PushClaim]) -> str | None:
            async with slots:
                return await self._post(batch)

        errors = await asyncio.gather(*(post(b) for b in batches))
        now = self._clock.now()
        delivered: list[int] = []
        retry: list[PushRetry] = []
        dead: list[tuple[PushClaim, str]] = []
        for batch, error in zip(batches, errors, strict=True):
            if error is None:
                delivered.extend(c.id for c in batch)
                continue
            for claim in batch:
                later = self._retry_at(claim, now)
                if later is None:
                    dead.append((claim, error))
                else:
                    retry.append(PushRetry(claim.id, claim.attempts + 1, later, error))
        await self._store.finish_pushes(delivered, retry, dead, now)
        if dead:
            log.warning("push: %d items dead-lettered after %gs of retries", len(dead),
                        self._config.retry_period)
        return len(claims)

    def _batches(self, claims: Sequence[PushClaim]) -> list[list[PushClaim]]:
        """Claims per (account, URL, topic), in id order, cut in batches of `batch_size`."""
        groups: dict[tuple[int, str, str], list[PushClaim]] = {}
        for claim in claims:
            groups.setdefault((claim.account_id, claim.url, claim.topic), []).append(claim)
        size = self._config.batch_size
        return [group[i:i + size] for group in groups.values()
                for i in range(0, len(group), size)]

    def _retry_at(self, claim: PushClaim, now: datetime) -> datetime | None:
        """When to try again, or None when the retry period is over (dead letter). The last
        attempt falls at the end of the period."""
        end = claim.created_at + timedelta(seconds=self._config.retry_period)
        if now >= end:
            return None
        delay = min(self._config.retry_base * 2 ** claim.attempts, self._config.retry_max)
        return min(now + timedelta(seconds=delay), end)

    async def _post(self, batch: Sequence[PushClaim]) -> str | None:
        """Push one batch; None when the tenant took it, else what went wrong."""
        first = batch[0]
        body = items.body(first.topic, [c.payload for c in batch], self._config.codes)
        assert self._client is not None
        try:
            answer = await self._client.post(
                first.url, content=body,
                headers=signing.headers(first.secret, int(self._clock.now().timestamp()), body,
                                        first.topic))
        except httpx.TimeoutException:
            return f"no answer within {self._config.timeout:g}s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        error = _refused(answer)
        log.info("push %s x%d to account %s: %s", first.topic, len(batch), first.account_id,
                 error or "ok")
        return error


@dataclass(frozen=True, slots=True)
class TrialPush:
    """What a test push met: the receiver's HTTP status (None: no answer), how long it took,
    and why it counts as a failure (None: the receiver took it, as a real batch would be)."""

    topic: str
    url: str
    status: int | None
    seconds: float
    error: str | None
    forbidden: bool = False
    """Refused by the operator's network rule (the address the URL's host resolves to)."""


def trial_items(topic: str, now: datetime) -> bytes:
    """The body of a test push: one item of `topic` with `"test": true`, in the fields a
    real item of that kind carries (docs/push.md "Items"), a fresh idempotency_key."""
    at = china_text(now)
    key = f"test-{topic}-{int(now.timestamp() * 1000)}"
    item: dict[str, object]
    if topic == SMS_REPORT:
        item = {"phone_number": "13800138000", "send_time": at, "report_time": at,
                "success": True, "err_code": "DELIVERED", "err_msg": items.DELIVERED_TEXT,
                "sms_size": "1", "biz_id": "test", "out_id": "", "sign_name": "",
                "template_code": "", "message_id": "test", "status": "success"}
    elif topic == SMS_UP:
        item = {"phone_number": "13800138000", "send_time": at, "content": "test",
                "sign_name": "", "dest_code": "", "sequence_id": 0}
    elif topic == SIGN_REPORT:
        item = {"sign_name": "", "order_id": "test", "audit_status": "AUDIT_STATE_PASS",
                "audit_remark": "test", "audit_time": at}
    else:
        item = {"template_code": "", "template_name": "", "template_type": "",
                "order_id": "test", "audit_status": "AUDIT_STATE_PASS",
                "audit_remark": "test", "audit_time": at}
    return orjson.dumps([{**item, "idempotency_key": key, "test": True}])


async def trial_push(url: str, secret: str, topic: str, networks: PushNetworks,
                     timeout: float, clock: Clock) -> TrialPush:
    """One real, signed push of a test item to `url`, through the same guarded transport as
    the push stage (the operator's network rule checked after DNS resolution), judged as a
    batch is. Nothing is stored or retried."""
    now = clock.now()
    body = trial_items(topic, now)
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, transport=GuardedTransport(
            networks, httpx.Limits(max_connections=1))) as client:
        try:
            answer = await client.post(url, content=body, headers=signing.headers(
                secret, int(now.timestamp()), body, topic))
        except httpx.TimeoutException:
            return TrialPush(topic, url, None, time.monotonic() - started,
                             f"no answer within {timeout:g}s")
        except httpx.HTTPError as exc:
            return TrialPush(topic, url, None, time.monotonic() - started,
                             f"{type(exc).__name__}: {exc}"[:500],
                             isinstance(exc.__cause__, ForbiddenAddress))
    return TrialPush(topic, url, answer.status_code, time.monotonic() - started,
                     _refused(answer))


def _refused(answer: httpx.Response) -> str | None:
    """None if the answer means "taken" (HTTP 200 and `{"code": 0}`), else why not."""
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    try:
        code = orjson.loads(answer.content).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return "answer is not a JSON object"
    return None if code == 0 else f"answer code {code!r}, expected 0"
