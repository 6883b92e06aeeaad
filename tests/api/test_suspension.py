"""A suspended account (issue 14 point 20): its sends are refused with isv.OUT_OF_SERVICE in
the native API and through the official Alibaba SDK, its reads keep working, and the
change reaches a running server within `cache_seconds`; resuming lets it send again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.api.aliyun.sdk import SdkClient
from tests.api.test_rest import fresh_number, send_body
from tests.conftest import ManualClock, Running, start_running
from yizhan.domain.model import AccountStatus
from yizhan.domain.timezone import china_today
from yizhan.storage.store import SqlStore

CACHE_SECONDS = 0.5


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


async def _rest_send(running: Running, number: str | None = None) -> tuple[int, str]:
    sent = await running.client.post("/v1/messages",
                                     json=send_body(running, [number or fresh_number()]))
    return sent.status_code, sent.json()["code"]


async def _sdk_send(running: Running, sdk: SdkClient) -> str:
    outcome = await asyncio.to_thread(
        sdk.call, "SendSms", PhoneNumbers=fresh_number(),
        SignName=running.demo.signature.name, TemplateCode=running.verification,
        TemplateParam='{"code":"0207"}')
    return outcome.code


async def test_suspended_account_cannot_send_but_reads(store: SqlStore, tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))  # the SDK signs with the real time
    async with start_running(store, tmp_path, clock, cache_seconds=CACHE_SECONDS) as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        sdk = SdkClient("v4-acs3", port, running.demo.key.id, running.demo.key.secret)
        first = fresh_number()
        assert await _rest_send(running, first) == (200, "OK")
        account = running.demo.account.id

        await store.set_account_status(account, AccountStatus.SUSPENDED, "unpaid invoice",
                                       "ops", clock.now())
        # The documented bound: the AccessKey cache keeps the account `cache_seconds`, and
        # no longer.
        clock.advance(seconds=CACHE_SECONDS)
        assert await _rest_send(running) == (403, "isv.OUT_OF_SERVICE")
        assert await _sdk_send(running, sdk) == "isv.OUT_OF_SERVICE"
        # Reads keep working, in both APIs.
        listed = await running.client.get("/v1/messages", params={"phone_number": first})
        assert listed.status_code == 200 and listed.json()["total"] == 1
        day = china_today(clock.now()).strftime("%Y%m%d")
        details = await asyncio.to_thread(sdk.call, "QuerySendDetails",
                                          PhoneNumber=first, SendDate=day,
                                          PageSize=10, CurrentPage=1)
        assert details.code == "OK" and details.body["TotalCount"] == 1

        await store.set_account_status(account, AccountStatus.ACTIVE, "paid", "ops",
                                       clock.now())
        clock.advance(seconds=CACHE_SECONDS)
        assert await _sdk_send(running, sdk) == "OK"
