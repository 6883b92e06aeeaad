"""The Alibaba Cloud SMS API (Dysmsapi 2017-05-25) as an upstream: Alibaba Cloud itself, or
another Yizhan's Dysmsapi endpoint (docs/channels.md "Cloud providers and other Yizhans").

A `Provider` of `http_upstream.py`: SendSms for one number, signed with the RPC signature v1
(HMAC-SHA1 over the sorted, RFC 3986-encoded parameters: the signature every Alibaba Cloud
SDK and Yizhan's own endpoint accept); receipts by QuerySendDetails for that number, day and
BizId. Dysmsapi sends a template, not free text: the channel sends the message's text
without its signature as one parameter of a pass-through template of the upstream account
(`template_code`, whose content is `${content}`), under the message's own signature (or
`sign_name`). What the answers' codes mean is data (`domain/data/upstream_aliyun.toml`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

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
    raw_of,
    template_text,
    unreadable,
)
from yizhan.domain.ports import Accepted, Ambiguous, SubmitRequest, SubmitResult
from yizhan.domain.timezone import china_today

VERSION = "2017-05-25"
MAINLAND = "+86"
DEFAULT_URL = "https://dysmsapi.aliyuncs.com"
DETAIL = ("SendStatus", "ErrCode", "ReceiveDate")
"""The fields of a QuerySendDetails answer a receipt keeps (its `raw`)."""


@dataclass(frozen=True, slots=True)
class AliyunSettings:
    access_key_id: str
    access_key_secret: str
    template_code: str
    """The upstream account's pass-through template (content `${content}`)."""
    url: str = DEFAULT_URL
    content_param: str = "content"
    """The template's variable that carries the text."""
    sign_name: str = ""
    """The signature to send under; empty: the message's own (registered upstream too)."""
    region: str = "cn-hangzhou"


def pct(text: str) -> str:
    """RFC 3986 percent-encoding of the UTF-8 bytes, as the RPC signature wants it."""
    return quote(text, safe="-_.~")


def sign_v1(method: str, params: dict[str, str], secret: str) -> str:
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    text = f"{method}&{pct('/')}&{pct(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def aliyun_number(phone: str) -> str:
    """Mainland numbers as their 11 digits; others with their country code, without `+`
    (Dysmsapi's form), except a North American number, whose 11 digits starting with 1
    could read as a mainland number: `00` + its digits."""
    if phone.startswith(MAINLAND):
        return phone[len(MAINLAND):]
    digits = phone.lstrip("+")
    return "00" + digits if len(digits) == 11 and digits.startswith("1") else digits


class AliyunProvider(ProviderWire[AliyunSettings]):
    kind = "aliyun"
    polls_idle = False
    push_answer = ("application/json", orjson.dumps({"code": 0, "msg": "成功"}))
    """What Alibaba Cloud's SmsReport push (and a Yizhan's) expects back."""

    def _request(self, action: str, params: dict[str, str], now: datetime) -> httpx.Request:
        s = self.settings
        signed = {"Action": action, "Version": VERSION, "Format": "JSON",
                  "AccessKeyId": s.access_key_id, "SignatureMethod": "HMAC-SHA1",
                  "SignatureVersion": "1.0", "SignatureNonce": uuid.uuid4().hex,
                  "Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "RegionId": s.region, **params}
        signed["Signature"] = sign_v1("POST", signed, s.access_key_secret)
        body = "&".join(f"{pct(k)}={pct(v)}" for k, v in signed.items()).encode()
        return httpx.Request("POST", s.url.rstrip("/") + "/", content=body, headers={
            "content-type": "application/x-www-form-urlencoded", "accept": "application/json"})

    def submit_request(self, request: SubmitRequest, now: datetime) -> httpx.Request:
        s = self.settings
        sign = s.sign_name or request.sign_name
        text = template_text(request.content, request.sign_name)
        return self._request("SendSms", {
            "PhoneNumbers": aliyun_number(request.phone), "SignName": sign,
            "TemplateCode": s.template_code,
            "TemplateParam": orjson.dumps({s.content_param: text}).decode(),
            "OutId": str(request.message_id)}, now)

    def read_submit(self, response: httpx.Response) -> SubmitResult | Throttled:
        answer = json_object(response)
        if answer is None or not isinstance(answer.get("Code"), str):
            return unreadable(response, "Dysmsapi JSON")
        code = answer["Code"]
        if code == "OK":
            biz_id = str(answer.get("BizId") or "")
            return Accepted(biz_id) if biz_id else Ambiguous("OK without a BizId")
        return self.codes.answer(code, str(answer.get("Message", "")))

    def polls(self, pending: Sequence[Pending], now: datetime) -> list[Poll]:
        return [Poll(self._request("QuerySendDetails", {
            "PhoneNumber": aliyun_number(p.phone),
            "SendDate": china_today(p.submitted_at).strftime("%Y%m%d"),
            "PageSize": "10", "CurrentPage": "1", "BizId": p.remote_id}, now), [p])
            for p in pending]

    def read_poll(self, response: httpx.Response, asked: Sequence[Pending]) -> list[Report]:
        answer = json_object(response)
        if answer is None or answer.get("Code") != "OK" or len(asked) != 1:
            return []
        found = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        for dto in found if isinstance(found, list) else []:
            status = dto.get("SendStatus")
            if status == 3:
                return [Report(asked[0].remote_id, DELIVERED, raw=raw_of(dto, DETAIL))]
            if status == 2:
                return [Report(asked[0].remote_id, str(dto.get("ErrCode") or "UNDELIV"),
                               raw=raw_of(dto, DETAIL))]
        return []

    def read_push(self, push: Push) -> list[Report] | str:
        """An SmsReport push: a JSON array of items with `biz_id`, `success`, `err_code`
        (Alibaba Cloud's HTTP batch push, and a Yizhan's push to its tenant)."""
        items = push_items(push.body, "biz_id", "SmsReport items")
        if isinstance(items, str):
            return items
        return [Report(str(item["biz_id"]), DELIVERED if item.get("success") is True
                       else str(item.get("err_code") or "UNDELIV"),
                       raw=raw_of(item, ("biz_id", "success", "err_code", "report_time")))
                for item in items]
