"""The Alibaba Cloud upstream channel (dispatch/channels/aliyun_upstream.py) against a
provider on loopback serving recorded Dysmsapi answers (tests/fixtures/upstream/
aliyun.json): what the live Yizhan-to-Yizhan tests (test_upstream_yizhan.py) cannot show on
demand: throttling, a number's frequency limit, an internal error, and a report that is not
final yet. The request's signature is checked by Yizhan's own endpoint in those tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from tests.conftest import ManualClock
from tests.dispatch.fake_provider import FakeProvider, recorded
from tests.dispatch.test_tencent import Sink
from yizhan.dispatch.channels.aliyun_upstream import aliyun_number, sign_v1
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel
from yizhan.dispatch.upstreams import upstream_channel
from yizhan.domain.events import Receipt
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
REQUEST = SubmitRequest(1, "+8613800138000", "【驿站】您的验证码为1234", 1, sign_name="驿站")


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def channel(provider: FakeProvider, sink: Sink) -> AsyncIterator[HttpUpstreamChannel]:
    made = upstream_channel("ali", "aliyun", {
        "url": provider.url, "access_key_id": "LTAI-test", "access_key_secret": "secret",
        "template_code": "SMS_12345678", "allow_networks": ["127.0.0.1/32"],
        "poll_seconds": 0, "timeout": 2.0}, ManualClock(NOW))
    await made.start(sink)
    yield made
    await made.stop()


async def test_a_send_is_a_signed_sendsms_of_the_text_without_its_signature(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("aliyun", "sent"))
    assert await channel.submit(REQUEST) == Accepted("900619746936498440^0")
    form = {k: v[0] for k, v in parse_qs(provider.requests[0].body.decode()).items()}
    assert (form["Action"], form["PhoneNumbers"], form["SignName"], form["TemplateCode"],
            form["TemplateParam"]) == ("SendSms", "13800138000", "驿站", "SMS_12345678",
                                       '{"content":"您的验证码为1234"}')
    assert form["Timestamp"] == "2026-12-07T10:00:00Z"
    signature = form.pop("Signature")
    assert signature == sign_v1("POST", form, "secret")


async def test_throttling_pauses_the_channel(provider: FakeProvider,
                                            channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("aliyun", "throttled"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Retryable) and "Throttling.User" in result.reason
    assert not channel.ready


async def test_a_numbers_limit_is_the_messages_refusal_not_a_pause(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("aliyun", "number_limit"))  # HTTP 429, but about one number
    result = await channel.submit(REQUEST)
    assert isinstance(result, Rejected) and result.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert channel.ready


async def test_an_internal_error_is_ambiguous(provider: FakeProvider,
                                             channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("aliyun", "internal"))
    assert isinstance(await channel.submit(REQUEST), Ambiguous)


async def test_receipts_are_asked_per_message_until_final(
        provider: FakeProvider, channel: HttpUpstreamChannel, sink: Sink) -> None:
    provider.then(recorded("aliyun", "sent"), recorded("aliyun", "waiting"),
                  recorded("aliyun", "failed"))
    await channel.submit(REQUEST)
    assert await channel.poll() == 0 and channel.pending == 1
    form = {k: v[0] for k, v in parse_qs(provider.requests[1].body.decode()).items()}
    assert (form["Action"], form["PhoneNumber"], form["SendDate"], form["BizId"]) == (
        "QuerySendDetails", "13800138000", "20261207", "900619746936498440^0")
    assert await channel.poll() == 1
    assert [(e.remote_id, e.code, e.status) for e in sink.events if isinstance(e, Receipt)] \
        == [("900619746936498440^0", "MK:0001", "failed")]
    assert channel.pending == 0


def test_the_signature_is_the_official_sdks() -> None:
    """aliyun-python-sdk-core's RPC composer signs the same parameters to the same value
    (Chinese text, JSON, `+` and `*` included: the encodings SDKs get wrong)."""
    composer = pytest.importorskip("aliyunsdkcore.auth.composer.rpc_signature_composer")
    params = {"Action": "SendSms", "Version": "2017-05-25", "AccessKeyId": "LTAI-test",
              "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
              "SignatureNonce": "0f3e", "Timestamp": "2026-12-07T10:00:00Z", "Format": "JSON",
              "PhoneNumbers": "+8613800138000", "SignName": "驿站",
              "TemplateParam": '{"content":"验证码 1234*~ (5分钟)"}'}
    compose = getattr(composer, "__compose_string_to_sign")
    sign = getattr(composer, "__get_signature")
    assert sign_v1("POST", params, "secret") == sign(compose("POST", params), "secret")


@pytest.mark.parametrize(("phone", "written"), [
    ("+8613800138000", "13800138000"), ("+85251234567", "85251234567"),
    ("+13105551234", "0013105551234")])  # 13105551234 alone would be a mainland number
def test_numbers_are_written_as_dysmsapi_reads_them(phone: str, written: str) -> None:
    assert aliyun_number(phone) == written
