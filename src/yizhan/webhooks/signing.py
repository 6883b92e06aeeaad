"""The signature on every push: HMAC-SHA256 of `<timestamp>.<body>` with the account's push
secret, in the headers `X-Yizhan-Timestamp` (Unix seconds) and `X-Yizhan-Signature`
(`v1=<hex>`). Receivers recompute it over the raw body and compare in constant time, and
refuse old timestamps (docs/push.md shows the snippet; `verify` is the same check).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TIMESTAMP = "X-Yizhan-Timestamp"
SIGNATURE = "X-Yizhan-Signature"
TOPIC = "X-Yizhan-Topic"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(secret: str, timestamp: int, body: bytes, topic: str) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", TIMESTAMP: str(timestamp),
            SIGNATURE: sign(secret, timestamp, body), TOPIC: topic}


def verify(secret: str, received: Mapping[str, str], body: bytes, now: float,
           tolerance: float = 300) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    lowered = {k.lower(): v for k, v in received.items()}
    try:
        timestamp = int(lowered[TIMESTAMP.lower()])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body),
                               lowered.get(SIGNATURE.lower(), ""))
