"""A message routed to a Tencent Cloud or a Twilio channel reaches its final status in the
records, through the whole platform: the API accepts it, dispatch sends it to the provider
(on loopback, answering with recorded answers of its documented format), the receipt the
channel reads back (Tencent's PullSmsSendStatus, Twilio's fetch of the Message) is stored
and the tenant reads the status and its explanation. The test drives the poll itself
(`poll_seconds = 0`: no background round), as it would drive a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Running, eventually, start_running
from tests.dispatch.fake_provider import FakeProvider, recorded
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel
from yizhan.domain.ports import SystemClock
from yizhan.storage.store import SqlStore

TENCENT = """
[[channel]]
name = "tx"
kind = "tencent"
url = "{url}"
secret_id = "AKIDtest"
secret_key = "secret"
sdk_app_id = "1400006666"
template_id = "449739"
allow_networks = ["127.0.0.0/8"]
poll_seconds = 0
"""
TWILIO = """
[[channel]]
name = "tx"
kind = "twilio"
url = "{url}"
account_sid = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
auth_token = "token"
from_number = "+15017122661"
allow_networks = ["127.0.0.0/8"]
poll_seconds = 0
"""


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()
    await fake.start()
    yield fake
    await fake.stop()


async def platform(store: SqlStore, tmp_path: Path, provider: FakeProvider,
                   channel: str) -> AsyncIterator[Running]:
    path = tmp_path / "channels.toml"
    path.write_text(channel.replace("{url}", provider.url)
                    + '\n[[route]]\nname = "all"\nchannels = ["tx"]\n', "utf-8")
    async with start_running(store, tmp_path, SystemClock(), embedded=True,
                             channels_file=path) as running:
        yield running


async def sent_and_polled(running: Running, provider: FakeProvider,
                          report: Any) -> dict[str, Any]:
    answer = (await running.client.post("/v1/messages", json={
        "phone_numbers": ["13800138000"], "sign_name": running.demo.signature.name,
        "template_code": running.verification, "template_param": {"code": "4321"}})).json()
    assert answer["code"] == "OK", answer
    biz_id = answer["biz_id"]

    async def status(*wanted: str) -> dict[str, Any] | None:
        found = (await running.client.get("/v1/messages", params={"biz_id": biz_id})).json()
        message: dict[str, Any] = found["messages"][0]
        sent = message["submitted_at"] is not None
        return message if message["status"] in wanted and sent else None

    await eventually(lambda: status("waiting"), 20, "the message at the provider")
    [channel] = [c for c in running.yz.channels if isinstance(c, HttpUpstreamChannel)]
    provider.then(report)
    assert await channel.poll() >= 1
    return dict(await eventually(lambda: status("success", "failed"), 20, "its final status"))


async def test_a_message_through_tencent_cloud_reaches_its_final_status(
        store: SqlStore, tmp_path: Path, provider: FakeProvider) -> None:
    provider.then(recorded("tencent", "sent"))
    async for running in platform(store, tmp_path, provider, TENCENT):
        message = await sent_and_polled(running, provider, recorded("tencent", "pulled"))
        assert (message["status"], message["channel"]) == ("success", "tx")
        assert [r.headers["x-tc-action"] for r in provider.requests] == [
            "SendSms", "PullSmsSendStatus"]


async def test_a_message_through_twilio_fails_with_its_explained_code(
        store: SqlStore, tmp_path: Path, provider: FakeProvider) -> None:
    provider.then(recorded("twilio", "created"))
    async for running in platform(store, tmp_path, provider, TWILIO):
        message = await sent_and_polled(running, provider, recorded("twilio", "undelivered"))
        assert (message["status"], message["error_code"]) == ("failed", "TW:30003")
        assert "unreachable" in str(message).lower()
