"""Twilio's Programmable Messaging (API 2010-04-01, the Message resource) as an upstream
(docs/channels.md "Cloud providers and other Yizhans").

A `Provider` of `http_upstream.py`: a message is created by POST
`/2010-04-01/Accounts/{AccountSid}/Messages.json` (form To, From or MessagingServiceSid, Body:
the whole text, signature included), authenticated with HTTP basic auth (the Account SID and
its auth token); its status is read back with GET `.../Messages/{sid}.json` until it is
final: `delivered`, or `undelivered` / `failed` with an `error_code`, kept as `TW:<code>`.
A 429 (error 20429) is never processed (Twilio's own words) and pauses the channel for its
Retry-After. What the error codes mean is data (`domain/data/upstream_twilio.toml`).
`status_signature` computes X-Twilio-Signature, for a status callback endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

import httpx
import orjson

from yizhan.dispatch.channels.http_upstream import (
    DELIVERED,
    Pending,
    Poll,
    Push,
    Report,
    Throttled,
    json_object,
    retry_after,
    retryable_status,
)
from yizhan.dispatch.channels.provider_wire import ProviderWire, raw_of
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, SubmitRequest, SubmitResult

DEFAULT_URL = "https://api.twilio.com"
FINAL = frozenset({"delivered", "undelivered", "failed"})
TOO_MANY = "20429"


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    from_number: str = ""
    """The sender (E.164 number, short code or alphanumeric id); or:"""
    messaging_service_sid: str = ""
    """A Messaging Service that picks the sender (MG...)."""
    url: str = DEFAULT_URL


def status_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature of a callback: base64 HMAC-SHA1 of the URL followed by every
    POST parameter's name and value, sorted by name."""
    text = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()).decode()


class TwilioProvider(ProviderWire[TwilioSettings]):
    kind = "twilio"
    polls_idle = False
    push_answer = ("text/plain", b"")
    """A status callback wants a 200; the body is ignored."""

    def __init__(self, settings: TwilioSettings) -> None:
        if not settings.from_number and not settings.messaging_service_sid:
            raise ValueError("a twilio channel needs from_number or messaging_service_sid")
        super().__init__(settings)
        self._auth = "Basic " + base64.b64encode(
            f"{settings.account_sid}:{settings.auth_token}".encode()).decode()
        self._base = (f"{settings.url.rstrip('/')}/2010-04-01/Accounts/"
                      f"{settings.account_sid}/Messages")

    def submit_request(self, request: SubmitRequest, now: datetime) -> httpx.Request:
        s = self.settings
        sender = ({"MessagingServiceSid": s.messaging_service_sid}
                  if s.messaging_service_sid else {"From": s.from_number})
        return httpx.Request("POST", f"{self._base}.json", headers={
            "authorization": self._auth, "accept": "application/json"},
            data={"To": request.phone, **sender, "Body": request.content})

    def read_submit(self, response: httpx.Response) -> SubmitResult | Throttled:
        answer = json_object(response)
        if response.status_code in (200, 201) and answer is not None:
            sid = str(answer.get("sid") or "")
            if not sid:
                return Ambiguous("created without a sid")
            if answer.get("status") == "failed" and answer.get("error_code"):
                return Rejected(f"TW:{answer['error_code']}",
                                str(answer.get("error_message") or "")[:300])
            return Accepted(sid)
        code = str(answer.get("code") or "") if answer else ""
        if response.status_code == 429 or code == TOO_MANY:
            return Throttled(f"HTTP 429 ({code or 'too many requests'})",
                             retry_after(response))
        if not code or response.status_code >= 500:
            return retryable_status(response)
        result = self.codes.answer(code, str(answer.get("message", "")) if answer else "")
        if isinstance(result, Rejected):
            return Rejected(f"TW:{code}", result.reason)
        return result

    def polls(self, pending: Sequence[Pending], now: datetime) -> list[Poll]:
        return [Poll(httpx.Request("GET", f"{self._base}/{p.remote_id}.json", headers={
            "authorization": self._auth, "accept": "application/json"}), [p])
            for p in pending]

    def read_poll(self, response: httpx.Response, asked: Sequence[Pending]) -> list[Report]:
        answer = json_object(response)
        if response.status_code != 200 or answer is None or len(asked) != 1:
            return []
        status = str(answer.get("status") or "")
        if status not in FINAL:
            return []
        raw = raw_of(answer, ("sid", "status", "error_code", "error_message"))
        return [_final(asked[0].remote_id, status, answer.get("error_code"), raw)]

    def read_push(self, push: Push) -> list[Report] | str:
        """A status callback: a form with MessageSid, MessageStatus and ErrorCode, signed
        with X-Twilio-Signature over the callback URL and the sorted parameters."""
        params = dict(parse_qsl(push.body.decode("utf-8", "replace"), keep_blank_values=True))
        given = push.headers.get("x-twilio-signature", "")
        expected = status_signature(self.settings.auth_token, push.url, params)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return "X-Twilio-Signature does not match (callback_url must be the URL Twilio calls)"
        sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
        if not sid or status not in FINAL:
            return []
        error = params.get("ErrorCode")
        raw = orjson.dumps({"sid": sid, "status": status, "error_code": error}).decode()
        return [_final(sid, status, error, raw)]


def _final(sid: str, status: str, error: object, raw: str) -> Report:
    """The report of a message in a final status: `delivered`, else `TW:<error code>`."""
    if status == "delivered":
        return Report(sid, DELIVERED, raw=raw)
    return Report(sid, f"TW:{error}" if error else "TW:FAILED", raw=raw)
