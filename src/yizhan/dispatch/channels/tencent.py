"""Tencent Cloud SMS (API 2021-01-11) as an upstream (docs/channels.md "Cloud providers and
other Yizhans").

A `Provider` of `http_upstream.py`: SendSms for one number, signed with TC3-HMAC-SHA256
(the canonical request over content-type and host, a key derived from the secret, the day
and the service); receipts by PullSmsSendStatus, which hands out every
report of the SMS app not yet pulled (a queue: the channel polls even with nothing pending,
so reports of messages sent before a restart still come). Like Dysmsapi, Tencent sends a
template: the channel sends the text without its signature as the one parameter of a
pass-through template (`template_id`, content `{1}`). What the answers' codes mean is data
(`domain/data/upstream_tencent.toml`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

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
)
from yizhan.dispatch.channels.provider_wire import (
    ProviderWire,
    push_items,
    template_text,
    unreadable,
)
from yizhan.domain.ports import Accepted, Ambiguous, SubmitRequest, SubmitResult

VERSION = "2021-01-11"
SERVICE = "sms"
ALGORITHM = "TC3-HMAC-SHA256"
DEFAULT_URL = "https://sms.tencentcloudapi.com"
JSON = "application/json"
SIGNED_HEADERS = "content-type;host"
PULL_LIMIT = 100
"""PullSmsSendStatus's most reports per call."""


@dataclass(frozen=True, slots=True)
class TencentSettings:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    """The SMS application (SmsSdkAppId, e.g. 1400006666)."""
    template_id: str
    """The application's pass-through template (content `{1}`)."""
    url: str = DEFAULT_URL
    region: str = "ap-guangzhou"
    sign_name: str = ""
    """The signature to send under; empty: the message's own."""


def tc3_authorization(secret_id: str, secret_key: str, host: str, payload: bytes,
                      timestamp: int) -> str:
    """The Authorization header of TencentCloud API 3.0 (signature v3, TC3-HMAC-SHA256),
    signing content-type and host as the official SDKs do."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join([
        "POST", "/", "", f"content-type:{JSON}\nhost:{host}\n", SIGNED_HEADERS,
        hashlib.sha256(payload).hexdigest()])
    scope = f"{day}/{SERVICE}/tc3_request"
    to_sign = "\n".join([ALGORITHM, str(timestamp), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"TC3{secret_key}".encode(), day)
    key = _hmac(_hmac(key, SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"{ALGORITHM} Credential={secret_id}/{scope}, "
            f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class TencentProvider(ProviderWire[TencentSettings]):
    kind = "tencent"
    polls_idle = True
    push_answer = ("application/json", orjson.dumps({"result": 0, "errmsg": "OK"}))
    """What Tencent's status callback expects back."""

    def _request(self, action: str, body: dict[str, Any], now: datetime) -> httpx.Request:
        s = self.settings
        payload = orjson.dumps(body)
        host = urlsplit(s.url).netloc
        timestamp = int(now.timestamp())
        return httpx.Request("POST", s.url.rstrip("/") + "/", content=payload, headers={
            "content-type": JSON, "host": host,
            "x-tc-action": action, "x-tc-version": VERSION, "x-tc-region": s.region,
            "x-tc-timestamp": str(timestamp),
            "authorization": tc3_authorization(s.secret_id, s.secret_key, host, payload,
                                               timestamp)})

    def submit_request(self, request: SubmitRequest, now: datetime) -> httpx.Request:
        s = self.settings
        return self._request("SendSms", {
            "PhoneNumberSet": [request.phone], "SmsSdkAppId": s.sdk_app_id,
            "SignName": s.sign_name or request.sign_name, "TemplateId": s.template_id,
            "TemplateParamSet": [template_text(request.content, request.sign_name)],
            "SessionContext": str(request.message_id)}, now)

    def read_submit(self, response: httpx.Response) -> SubmitResult | Throttled:
        answer = _response(response)
        if answer is None:
            return unreadable(response, "TencentCloud API JSON")
        error = answer.get("Error")
        if isinstance(error, dict):
            return self.codes.answer(str(error.get("Code", "")), str(error.get("Message", "")))
        sent = answer.get("SendStatusSet")
        if not isinstance(sent, list) or len(sent) != 1 or not isinstance(sent[0], dict):
            return Ambiguous("SendSms answered without one SendStatus")
        status = sent[0]
        if status.get("Code") == "Ok":
            serial = str(status.get("SerialNo") or "")
            return Accepted(serial) if serial else Ambiguous("Ok without a SerialNo")
        return self.codes.answer(str(status.get("Code", "")), str(status.get("Message", "")))

    def polls(self, pending: Sequence[Pending], now: datetime) -> list[Poll]:
        return [Poll(self._request("PullSmsSendStatus", {
            "Limit": PULL_LIMIT, "SmsSdkAppId": self.settings.sdk_app_id}, now), pending)]

    def read_poll(self, response: httpx.Response, asked: Sequence[Pending]) -> list[Report]:
        answer = _response(response)
        found = answer.get("PullSmsSendStatusSet") if answer else None
        reports = []
        for item in found if isinstance(found, list) else []:
            serial = str(item.get("SerialNo") or "")
            if not serial:
                continue
            success = item.get("ReportStatus") == "SUCCESS"
            code = DELIVERED if success else str(item.get("Description") or "UNDELIV")
            reports.append(Report(serial, code, str(item.get("PhoneNumber") or ""),
                                  orjson.dumps(item).decode()))
        return reports

    def read_push(self, push: Push) -> list[Report] | str:
        """A status callback: a JSON array of {sid, report_status, errmsg, nationcode,
        mobile, ...} ("SMS Sending Status Notification")."""
        items = push_items(push.body, "sid", "status reports")
        if isinstance(items, str):
            return items
        reports = []
        for item in items:
            code = DELIVERED if item.get("report_status") == "SUCCESS" else str(
                item.get("errmsg") or item.get("description") or "UNDELIV")
            phone = f"+{item.get('nationcode', '')}{item.get('mobile', '')}"
            reports.append(Report(str(item["sid"]), code,
                                  phone if item.get("mobile") else "",
                                  orjson.dumps(item).decode()))
        return reports


def _response(response: httpx.Response) -> dict[str, Any] | None:
    """The `Response` object of a TencentCloud API answer."""
    value = json_object(response)
    inner = value.get("Response") if value else None
    return inner if isinstance(inner, dict) else None
