"""The Twilio upstream channel (dispatch/channels/twilio.py) against a provider on loopback
serving recorded answers of the documented format (tests/fixtures/upstream/twilio.json):
the create request and its basic auth, success, a refused number, 429 with Retry-After as a
pause, a 500 as ambiguous, a refused account as retryable, receipts read back from the
Message resource, and the status callback's signature against the official library's."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

import pytest

from tests.conftest import ManualClock
from tests.dispatch.fake_provider import FakeProvider, recorded
from tests.dispatch.test_tencent import Sink
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel, Push
from yizhan.dispatch.channels.twilio import status_signature
from yizhan.dispatch.channels.upstream_push import take_push
from yizhan.dispatch.upstreams import upstream_channel
from yizhan.domain.events import Receipt
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
REQUEST = SubmitRequest(7, "+15558675310", "【驿站】hello", 1, sign_name="驿站")
MESSAGE = "SM1f0e8ae6ade43cb3c0ce4525424e404f"


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
    made = upstream_channel("tw", "twilio", {
        "url": provider.url, "account_sid": SID, "auth_token": "token",
        "from_number": "+15557122661", "allow_networks": ["127.0.0.1/32"],
        "poll_seconds": 0, "timeout": 2.0}, ManualClock(NOW))
    await made.start(sink)
    yield made
    await made.stop()


async def test_a_message_is_created_with_basic_auth(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("twilio", "created"))
    assert await channel.submit(REQUEST) == Accepted(MESSAGE)
    sent = provider.requests[0]
    assert (sent.method, sent.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(
        f"{SID}:token".encode()).decode()
    assert parse_qs(sent.body.decode()) == {"To": ["+15558675310"], "From": ["+15557122661"],
                                            "Body": ["【驿站】hello"]}


async def test_a_refused_number_is_rejected_with_its_code(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("twilio", "invalid_to"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Rejected) and result.code == "TW:21211"
    assert channel.settings.codes.explain("TW:21211") is not None


async def test_429_pauses_the_channel_for_retry_after(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("twilio", "too_many"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Retryable) and result.after == 2.0
    assert not channel.ready
    clock = channel._clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds=2)
    assert channel.ready


async def test_a_server_error_may_have_sent_it(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("twilio", "server_error"))
    assert isinstance(await channel.submit(REQUEST), Ambiguous)


async def test_a_refused_account_is_retryable_elsewhere(
        provider: FakeProvider, channel: HttpUpstreamChannel) -> None:
    provider.then(recorded("twilio", "unauthorized"))
    result = await channel.submit(REQUEST)
    assert isinstance(result, Retryable) and "20003" in result.reason


async def test_receipts_are_read_back_until_final(
        provider: FakeProvider, channel: HttpUpstreamChannel, sink: Sink) -> None:
    provider.then(recorded("twilio", "created"), recorded("twilio", "sent"),
                  recorded("twilio", "undelivered"))
    await channel.submit(REQUEST)
    assert await channel.poll() == 0  # "sent" is not final: still pending
    assert channel.pending == 1
    assert await channel.poll() == 1
    assert provider.requests[1].path == f"/2010-04-01/Accounts/{SID}/Messages/{MESSAGE}.json"
    receipt = sink.events[0]
    assert isinstance(receipt, Receipt)
    assert (receipt.remote_id, receipt.code, receipt.status, receipt.phone) == (
        MESSAGE, "TW:30003", "failed", "+15558675310")
    explained = channel.settings.codes.explain("TW:30003")
    assert explained is not None and "unreachable" in explained.cause
    assert channel.pending == 0


async def test_delivered_is_a_success(provider: FakeProvider, channel: HttpUpstreamChannel,
                                      sink: Sink) -> None:
    provider.then(recorded("twilio", "created"), recorded("twilio", "delivered"))
    await channel.submit(REQUEST)
    assert await channel.poll() == 1
    assert [(e.code, e.status) for e in sink.events if isinstance(e, Receipt)] == [
        ("DELIVERED", "success")]


def test_the_status_callback_signature_is_twilios() -> None:
    validator = pytest.importorskip("twilio.request_validator")
    url = "https://yizhan.example.com/callbacks/twilio/tw"
    params = {"MessageSid": MESSAGE, "MessageStatus": "delivered", "To": "+15558675310",
              "AccountSid": SID, "ErrorCode": ""}
    expected = validator.RequestValidator("token").compute_signature(url, params)
    assert status_signature("token", url, params) == expected


async def test_a_status_callback_needs_twilios_signature(provider: FakeProvider) -> None:
    validator = pytest.importorskip("twilio.request_validator")
    sink = Sink()
    url = "https://yizhan.example.com/callbacks/tw/twilio-callback-token"
    made = upstream_channel("tw", "twilio", {
        "url": provider.url, "account_sid": SID, "auth_token": "token",
        "from_number": "+15557122661", "poll_seconds": 0,
        "callback_token": "twilio-callback-token", "callback_url": url}, ManualClock(NOW))
    await made.start(sink)
    params = {"MessageSid": MESSAGE, "MessageStatus": "undelivered", "ErrorCode": "30005",
              "To": "+15558675310", "AccountSid": SID}
    body = urlencode(params).encode()
    signed = validator.RequestValidator("token").compute_signature(url, params)
    # Behind a proxy the URL we see differs: the signature is checked on callback_url.
    seen = "http://127.0.0.1:8080/callbacks/tw/twilio-callback-token"
    forged = await take_push(made, "twilio-callback-token",
                             Push(seen, {"x-twilio-signature": "AAAA"}, body))
    assert forged.status == 403 and not sink.events
    taken = await take_push(made, "twilio-callback-token",
                            Push(seen, {"x-twilio-signature": signed}, body))
    await made.stop()
    assert taken.status == 200
    assert [(e.remote_id, e.code, e.status) for e in sink.events if isinstance(e, Receipt)] \
        == [(MESSAGE, "TW:30005", "failed")]
