"""AccessKey authentication of the native REST API: HTTP Basic, the AccessKey id as user
name and the secret as password (`curl -u ID:SECRET`), over TLS in production.

Keys and accounts are cached for `ttl` seconds (default 1) so that the hot path does not
read them on every request; disabling a key or suspending an account therefore takes effect
within that time. Secrets are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Protocol

from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccessKey, Account, AccountId, KeyStatus
from yizhan.domain.ports import Clock
from yizhan.runtime.caching import TtlCache


class KeyStore(Protocol):
    async def access_key(self, key_id: str) -> AccessKey | None: ...
    async def account(self, account_id: AccountId) -> Account | None: ...


class Authenticator:
    def __init__(self, store: KeyStore, clock: Clock, ttl: float = 1.0) -> None:
        self._store = store
        self._keys: TtlCache[str, tuple[AccessKey | None, Account | None]] = TtlCache(
            self._load, clock, ttl)

    async def basic(self, header: str | None) -> Account | Refusal:
        if not header or not header.lower().startswith("basic "):
            return Refusal("Unauthorized", "no Authorization: Basic header")
        try:
            key_id, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode() \
                .partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Refusal("Unauthorized", "the Authorization header is not valid Basic")
        key, account = await self.lookup(key_id)
        if key is None or account is None or not hmac.compare_digest(
                key.secret.encode(), secret.encode()):
            return Refusal("Unauthorized", "unknown AccessKey id or wrong secret")
        if key.status is not KeyStatus.ENABLED:
            return Refusal("InvalidAccessKeyId.Inactive", key.id)
        return account

    async def lookup(self, key_id: str) -> tuple[AccessKey | None, Account | None]:
        return await self._keys.get(key_id)

    async def _load(self, key_id: str) -> tuple[AccessKey | None, Account | None]:
        key = await self._store.access_key(key_id)
        account = await self._store.account(key.account_id) if key else None
        return key, account
