"""Backpressure as clients see it: Alibaba's `Throttling` answer with a retry hint, through
REST and the official SDK, while one-number sends are still accepted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ManualClock, Running, start_running
from yizhan.storage.store import SqlStore

NUMBERS = [f"1380013{n:04d}" for n in range(20)]
OTHERS = [f"1390013{n:04d}" for n in range(20)]
"""Numbers not sent to yet (a verification code goes to a number once a minute)."""


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def backlogged(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    """An API process (no delivery here) whose outbox holds 20 messages and delivered none
    in the last second: past a bound of 1 s of delivery and 10 messages."""
    clock = ManualClock(datetime.now(UTC))  # the SDK signs with the real time
    async with start_running(store, tmp_path, clock, role="api", backlog_max_seconds=1,
                             backlog_min_messages=10) as running:
        sent = await running.client.post("/v1/messages", json=send_body(running, NUMBERS))
        assert sent.json()["code"] == "OK"
        gauge = running.yz.backpressure
        assert gauge is not None
        await gauge.refresh()
        clock.advance(seconds=1)
        await gauge.refresh()
        yield running


def send_body(running: Running, numbers: list[str]) -> dict[str, object]:
    return {"phone_numbers": numbers, "sign_name": running.demo.signature.name,
            "template_code": running.verification, "template_param": {"code": "1234"}}


async def test_rest_refuses_bulk_with_a_retry_hint_and_accepts_one_number(
        backlogged: Running) -> None:
    """issue 14 point 8"""
    held = await backlogged.client.post("/v1/messages",
                                        json=send_body(backlogged, OTHERS[:2]))
    assert held.status_code == 400 and held.json()["code"] == "Throttling"
    assert held.headers["Retry-After"] == "60"
    one = await backlogged.client.post("/v1/messages", json=send_body(backlogged, OTHERS[:1]))
    assert one.status_code == 200 and one.json()["code"] == "OK"


async def test_the_sdk_raises_its_throttling_exception_with_the_hint(
        backlogged: Running) -> None:
    """issue 14 point 8: the v4 SDK turns the answer into `ThrottlingException(retry_after)`."""
    from alibabacloud_dysmsapi20170525 import models
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_openapi.exceptions import ThrottlingException

    port = backlogged.base_url.rsplit(":", 1)[1]
    client = Client(open_api_models.Config(
        access_key_id=backlogged.demo.key.id, access_key_secret=backlogged.demo.key.secret,
        endpoint=f"127.0.0.1:{port}", protocol="HTTP", region_id="cn-hangzhou"))

    def send(numbers: list[str]) -> object:
        return client.send_sms(models.SendSmsRequest(
            phone_numbers=",".join(numbers), sign_name=backlogged.demo.signature.name,
            template_code=backlogged.verification, template_param='{"code":"1234"}'))

    with pytest.raises(ThrottlingException) as raised:
        await asyncio.to_thread(send, OTHERS[:3])
    assert raised.value.code == "Throttling" and raised.value.retry_after == 60
    accepted = await asyncio.to_thread(send, OTHERS[3:4])
    assert accepted.body.code == "OK"  # type: ignore[attr-defined]
