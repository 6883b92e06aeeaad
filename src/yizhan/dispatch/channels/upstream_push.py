"""Receipts an upstream pushes: Alibaba Cloud's SmsReport push (and another Yizhan's push
to its tenant), Tencent Cloud's status callback, Twilio's status callback
(docs/channels.md "Cloud providers and other Yizhans", "Receipts pushed").

The API hands each POST to `/callbacks/<channel>/<token>` here with its body. The call is
authenticated by the channel's `callback_token` (the URL's last part, compared in constant
time; a channel without one takes no pushes: 404, as for an unknown channel), Twilio's
also by X-Twilio-Signature, a Yizhan's by X-Yizhan-Signature when `push_secret` is set;
the provider reads its reports, and the channel hands them to the receipt stage
(`HttpUpstreamChannel.report`). The answer is the provider's "taken"
only once they are stored: an error otherwise, and the provider pushes again. Nothing in a
push makes the platform connect anywhere.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel, Push

log = logging.getLogger("yizhan.dispatch.upstream")

MAX_PUSH_BYTES = 1_048_576
"""The largest push body taken (a batch of a few thousand reports)."""


@dataclass(frozen=True, slots=True)
class PushAnswer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


NOT_FOUND = PushAnswer(404, b"no such callback")


SignatureCheck = Callable[[str, Mapping[str, str], bytes], bool]
"""Whether a push carries a valid X-Yizhan-Signature under a secret (the push stage's own
rule, `webhooks/signing.py`, handed in by the API: dispatch does not import webhooks)."""


async def take_push(channel: HttpUpstreamChannel | None, token: str, push: Push,
                    yizhan_signed: SignatureCheck | None = None) -> PushAnswer:
    """Authenticate, read and store one push to `channel`."""
    expected = channel.settings.callback_token if channel is not None else ""
    if channel is None or not expected or not hmac.compare_digest(
            token.encode(), expected.encode()):
        return NOT_FOUND
    if len(push.body) > MAX_PUSH_BYTES:
        return PushAnswer(413, b"too large")
    secret = channel.settings.push_secret
    if secret and (yizhan_signed is None or not yizhan_signed(secret, push.headers, push.body)):
        log.warning("channel %s: push refused: X-Yizhan-Signature does not match", channel.name)
        return PushAnswer(403, b"X-Yizhan-Signature does not match the push secret")
    if not channel.running:
        return PushAnswer(503, b"this process runs no channels; push to a dispatch process")
    read = channel.provider.read_push(replace(push, url=channel.settings.callback_url
                                              or push.url))
    if isinstance(read, str):
        log.warning("channel %s: push refused: %s", channel.name, read)
        return PushAnswer(403 if "signature" in read.lower() else 400, read.encode())
    try:
        stored = await channel.report(read)
    except Exception:
        log.exception("channel %s: pushed receipts not stored", channel.name)
        return PushAnswer(503, b"not stored; push again")
    log.info("channel %s: %d pushed report(s), %d final", channel.name, len(read), stored)
    content_type, body = channel.provider.push_answer
    return PushAnswer(200, body, content_type)
