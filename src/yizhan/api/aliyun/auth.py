"""Authentication of the Alibaba-compatible API, in the order of docs/aliyun.md "Check
order": signature parameters present -> AccessKey known and enabled -> signature -> timestamp ->
nonce.

The nonce is recorded only after the signature verified, so unauthenticated junk cannot
burn nonces; the nonce store is shared by every process on the same store and remembers a
nonce for 30 minutes (`storage/nonces.py`: the ±15 minute timestamp window, both ways).
Sending actions defer it (`record_nonce=False`): intake records it in the transaction that
accepts the messages, and `remember` records it when the request is refused before that.
Reads (`read=True`) have it decided in memory where the store allows, and written after the
answer, so that a query never waits for the message writes (`storage/nonces.py`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol

from yizhan.api.aliyun import signing
from yizhan.domain.errors import Refusal
from yizhan.domain.frozen import per_request
from yizhan.domain.model import AccessKey, Account, KeyStatus
from yizhan.domain.ports import Clock
from yizhan.runtime.batching import Batcher

log = logging.getLogger("yizhan.api")
TIMESTAMP_WINDOW = timedelta(minutes=15)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class KeyLookup(Protocol):
    async def lookup(self, key_id: str) -> tuple[AccessKey | None, Account | None]: ...


class NonceStore(Protocol):
    async def remember_nonce(self, key_id: str, nonce: str, now: datetime) -> bool:
        """Record the nonce; False when this key used it already (a replay)."""
        ...

    async def remember_read_nonce(self, key_id: str, nonce: str, now: datetime) -> bool:
        """The same for a read, which may be answered before the nonce is durable."""
        ...


class NonceLog(Protocol):
    """The store's record of nonces (storage/nonces.py)."""

    async def remember_nonces(self, items: Sequence[tuple[str, str]],
                              now: datetime) -> set[tuple[str, str]]:
        """Record the pairs; returns those that were new (first occurrence only)."""
        ...

    def decide_read_nonce(self, key_id: str, nonce: str, now: datetime) -> bool | None:
        """Whether a read's pair is new, decided in memory; None: the store has no window
        (the nonce table decides)."""
        ...

    def unsaved_read_nonces(self) -> bool: ...

    async def save_read_nonces(self) -> None: ...


class BatchedNonces:
    """Group commit for nonces: the nonces of concurrent requests are recorded in one
    transaction, so replay protection does not cost a commit per request."""

    def __init__(self, store: NonceLog, clock: Clock, max_delay: float = 0.0) -> None:
        self._store = store
        self.batcher: Batcher[tuple[str, str]] = Batcher("nonces", self._flush, clock,
                                                         max_delay=max_delay)
        self._now: datetime | None = None
        self._saving: asyncio.Task[None] | None = None

    async def remember_nonce(self, key_id: str, nonce: str, now: datetime) -> bool:
        self._now = now
        [new] = await self.batcher.submit([(key_id, nonce)])
        return bool(new)

    async def remember_read_nonce(self, key_id: str, nonce: str, now: datetime) -> bool:
        """Decided in memory at once when the store keeps a nonce window, then written in
        the background; otherwise as any nonce."""
        decided = self._store.decide_read_nonce(key_id, nonce, now)
        if decided is None:
            return await self.remember_nonce(key_id, nonce, now)
        if decided and (self._saving is None or self._saving.done()):
            self._saving = asyncio.create_task(self._save(), name="nonces:reads")
        return bool(decided)

    async def start(self) -> None:
        """(With the API's loops: `stop` lets the last background write finish.)"""

    async def stop(self) -> None:
        if self._saving is not None:
            await self._saving

    async def _save(self) -> None:
        try:
            while self._store.unsaved_read_nonces():  # (reads decided while saving too)
                await self._store.save_read_nonces()
        except Exception:  # the store is down: the pairs stay decided in memory
            log.exception("could not record the nonces of signed reads")

    async def _flush(self, items: Sequence[tuple[str, str]]) -> list[bool]:
        assert self._now is not None
        fresh = await self._store.remember_nonces(items, self._now)
        first: set[tuple[str, str]] = set()
        results = []
        for item in items:  # a pair twice in one batch: only the first is new
            results.append(item in fresh and item not in first)
            first.add(item)
        return results


@per_request
class Authenticated:
    account: Account
    key: AccessKey
    nonce: str


@per_request
class SignatureMismatch:
    """The refusal for a wrong signature carries the server's string to sign (SPEC §3.4)."""

    refusal: Refusal
    string_to_sign: str


class AliyunAuthenticator:
    def __init__(self, keys: KeyLookup, nonces: NonceStore, clock: Clock) -> None:
        self._keys = keys
        self._nonces = nonces
        self._clock = clock

    async def authenticate(self, request: signing.SignedRequest, record_nonce: bool = True,
                           read: bool = False) -> Authenticated | Refusal | SignatureMismatch:
        creds = signing.credentials(request)
        if isinstance(creds, Refusal):
            return creds
        key, account = await self._keys.lookup(creds.access_key_id)
        if key is None or account is None:
            return Refusal("InvalidAccessKeyId.NotFound", creds.access_key_id)
        if key.status is not KeyStatus.ENABLED:
            return Refusal("InvalidAccessKeyId.Inactive", key.id)
        text = signing.string_to_sign(request, creds)
        if isinstance(text, Refusal):
            return text
        if not signing.matches(creds, key.secret, text):
            return SignatureMismatch(Refusal("SignatureDoesNotMatch"), text)
        refusal = self._fresh(creds.timestamp)
        if refusal is not None:
            return refusal
        authenticated = Authenticated(account, key, creds.nonce)
        if read:
            if not await self._nonces.remember_read_nonce(key.id, creds.nonce,
                                                          self._clock.now()):
                return Refusal("SignatureNonceUsed", creds.nonce)
            return authenticated
        if record_nonce:
            return await self.remember(authenticated) or authenticated
        return authenticated

    async def remember(self, auth: Authenticated) -> Refusal | None:
        """Record the request's nonce: `SignatureNonceUsed` when it is a replay."""
        if not await self._nonces.remember_nonce(auth.key.id, auth.nonce, self._clock.now()):
            return Refusal("SignatureNonceUsed", auth.nonce)
        return None

    def _fresh(self, timestamp: str) -> Refusal | None:
        moment = _moment(timestamp)
        if moment is None:
            return Refusal("InvalidTimeStamp.Format", timestamp)
        if abs(self._clock.now() - moment) > TIMESTAMP_WINDOW:
            return Refusal("InvalidTimeStamp.Expired", timestamp)
        return None


@lru_cache(maxsize=64)
def _moment(timestamp: str) -> datetime | None:
    """The instant of a request timestamp, None when it is not one. Requests of the same
    second share their timestamp, so each is parsed once: the exact shape first, then the C
    parser (strptime costs ~10x more)."""
    if not TIMESTAMP.fullmatch(timestamp):
        return None
    try:
        return datetime.fromisoformat(timestamp[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None
