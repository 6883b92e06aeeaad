"""The Tencent Cloud SMS upstream channel (dispatch/channels/tencent.py) against a provider on
loopback serving recorded answers of the documented format (tests/fixtures/upstream/
tencent.json): signing (checked against the official SDK's), success, refusal of a number,
throttling as a pause, an answer that never came (ambiguous), a channel refused as a whole
(retryable), and receipts pulled with PullSmsSendStatus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import ManualClock
from tests.dispatch.fake_provider import CLOSE, FakeProvider, recorded
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel, Push
from yizhan.dispatch.channels.tencent import tc3_authorization
from yizhan.dispatch.channels.upstream_push import take_push
from yizhan.dispatch.upstreams import upstream_channel
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import (
    Accepted,
    Ambiguous,
    Rejected,
    Retryable,
    SubmitRequest,
)

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
REQUEST = SubmitRequest(1, "+8613800138000", "【驿站】您的验证码为1234", 1, sign_name="驿站")


class Sink:
    def __init__(self) -> None:
        self.events: list[Receipt | Uplink] = []

    async def __call__(self, event: Receipt | Uplink) -> None:
        self.events.append(event)

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        self.events.extend(events)


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def channel(provider: FakeProvider) -> AsyncIterator[HttpUpstreamChannel]:
    made = upstream_channel("tx", "tencent", {
        "url": provider.url, "secret_id": "AKIDtest", "secret_key": "secret",
        "sdk_app_id": "1400006666", "template_id": "449739", "allow_networks": ["127.0.0.1/32"],
        "poll_seconds": 0, "throttle_backoff": 2.0, "timeout": 2.0}, ManualClock(NOW))
    await made.start(Sink())
    yield made
    await made.stop()


def clock_of(channel: HttpUpstreamChannel) -> ManualClock:
    clock = channel._clock
    assert isinstance(clock, ManualClock)
    return clock


async def test_a_send_is_signed_and_written_as_tencent_documents_it(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("tencent", "sent"))
    assert await channel.submit(REQUEST) == Accepted("5000:1045710669157053657849499619")
    sent = provider.requests[0]
    body = json.loads(sent.body)
    assert body == {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400006666",
                    "SignName": "驿站", "TemplateId": "449739",
                    "TemplateParamSet": ["您的验证码为1234"], "SessionContext": "1"}
    assert sent.headers["x-tc-action"] == "SendSms"
    assert sent.headers["x-tc-version"] == "2021-01-11"
    timestamp = int(sent.headers["x-tc-timestamp"])
    assert timestamp == int(NOW.timestamp())
    assert sent.headers["authorization"] == tc3_authorization(
        "AKIDtest", "secret", f"127.0.0.1:{provider.port}", sent.body, timestamp)
    assert "Credential=AKIDtest/2026-12-07/sms/tc3_request" in sent.headers["authorization"]


async def test_the_signature_is_the_official_sdks(provider: FakeProvider) -> None:
    """The Tencent Cloud SDK's CommonClient sends a request to the fake provider; ours,
    for the same body, host and instant, carries the same Authorization."""
    common = pytest.importorskip("tencentcloud.common.common_client")
    credential = pytest.importorskip("tencentcloud.common.credential")
    profiles = pytest.importorskip("tencentcloud.common.profile.client_profile")
    http_profile = pytest.importorskip("tencentcloud.common.profile.http_profile")
    provider.then(recorded("tencent", "pulled_none"))
    profile = profiles.ClientProfile(httpProfile=http_profile.HttpProfile(
        protocol="http", endpoint=f"127.0.0.1:{provider.port}", reqMethod="POST"))
    client = common.CommonClient("sms", "2021-01-11",
                                 credential.Credential("AKIDsdk", "sdk-secret"),
                                 "ap-guangzhou", profile=profile)
    await asyncio.to_thread(client.call_json, "PullSmsSendStatus",
                            {"Limit": 100, "SmsSdkAppId": "1400006666"})
    sent = provider.requests[0]
    ours = tc3_authorization("AKIDsdk", "sdk-secret", f"127.0.0.1:{provider.port}",
                             sent.body, int(sent.headers["x-tc-timestamp"]))
    assert sent.headers["authorization"] == ours


async def test_a_refused_number_is_rejected_with_tencents_code(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("tencent", "wrong_number"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Rejected)
    assert result.code == "InvalidParameterValue.IncorrectPhoneNumber"


async def test_throttling_pauses_the_channel_for_its_back_off(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("tencent", "throttled"), recorded("tencent", "sent"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Retryable) and "RequestLimitExceeded" in result.reason
    assert result.after == 2.0
    assert not channel.ready  # the router sends elsewhere meanwhile
    paused = await channel.submit(REQUEST)
    assert isinstance(paused, Retryable) and len(provider.requests) == 1
    clock_of(channel).advance(seconds=2)
    assert channel.ready
    assert isinstance(await channel.submit(REQUEST), Accepted)


async def test_a_refused_account_is_retryable_elsewhere(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("tencent", "bad_key"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Retryable) and "AuthFailure.SignatureFailure" in result.reason


async def test_no_answer_after_the_request_left_is_ambiguous(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(CLOSE)
    result = await channel.submit(REQUEST)
    assert isinstance(result, Ambiguous) and "after the request was sent" in result.reason
    provider.then(recorded("tencent", "internal_timeout"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Ambiguous) and "InternalError.Timeout" in result.reason


async def test_an_unreachable_provider_is_retryable(channel: HttpUpstreamChannel,
                                                     provider: FakeProvider) -> None:
    await provider.stop()
    result = await channel.submit(REQUEST)
    assert isinstance(result, Retryable)


async def test_receipts_are_pulled_and_classified(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    sink = channel._sink
    assert isinstance(sink, Sink)
    provider.then(recorded("tencent", "sent"), recorded("tencent", "pulled"))
    await channel.submit(REQUEST)
    assert await channel.poll() == 2
    pulled = provider.requests[1]
    assert pulled.headers["x-tc-action"] == "PullSmsSendStatus"
    assert json.loads(pulled.body) == {"Limit": 100, "SmsSdkAppId": "1400006666"}
    got: list[Any] = [(e.remote_id, e.code, e.status, e.phone) for e in sink.events
                      if isinstance(e, Receipt)]
    assert got == [("5000:1045710669157053657849499619", "DELIVERED", "success",
                    "+8613800138000"),
                   # sent before a restart: still reported (the receipt stage matches it)
                   ("5000:1045710669157053657849499620", "MK:0001", "failed",
                    "+8613800138001")]
    assert channel.pending == 0
    # Tencent's pull is a queue of the whole app: it is asked even with nothing pending.
    provider.then(recorded("tencent", "pulled_none"))
    assert await channel.poll() == 0 and len(provider.requests) == 3


CALLBACK = [{"user_receive_time": "2026-12-07 18:03:04", "nationcode": "86",
             "mobile": "13800138000", "report_status": "FAIL", "errmsg": "MK:0005",
             "description": "the number is suspended", "sid": "5000:104571066915705365784949"}]
"""A status callback as "SMS Sending Status Notification" documents it (its sample, with a
failure)."""


async def test_a_status_callback_is_taken_with_the_channels_token(
        provider: FakeProvider) -> None:
    sink = Sink()
    made = upstream_channel("tx", "tencent", {
        "url": provider.url, "secret_id": "AKIDtest", "secret_key": "secret",
        "sdk_app_id": "1400006666", "template_id": "449739", "poll_seconds": 0,
        "callback_token": "tencent-callback-token"}, ManualClock(NOW))
    await made.start(sink)
    body = json.dumps(CALLBACK).encode()
    wrong = await take_push(made, "guess", Push("http://x/callbacks/tx/guess", {}, body))
    assert wrong.status == 404 and not sink.events
    # Not the documented format: refused, nothing stored.
    refused = await take_push(made, "tencent-callback-token", Push("u", {}, b"{}"))
    assert refused.status == 400 and not sink.events
    answer = await take_push(made, "tencent-callback-token",
                             Push("http://x/callbacks/tx/tencent-callback-token", {}, body))
    assert (answer.status, json.loads(answer.body)) == (200, {"result": 0, "errmsg": "OK"})
    assert [(e.remote_id, e.code, e.status, e.phone) for e in sink.events
            if isinstance(e, Receipt)] == [("5000:104571066915705365784949", "MK:0005",
                                            "failed", "+8613800138000")]
    await made.stop()  # a process whose channels do not run takes no pushes
    assert (await take_push(made, "tencent-callback-token", Push("u", {}, body))).status == 503
