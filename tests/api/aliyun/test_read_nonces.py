"""Signed reads do not wait on the write path: their nonce is decided in memory and written
afterwards (storage/nonces.py), while a send's nonce stays durable with its messages."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.api.aliyun.sdk import SdkClient
from tests.conftest import ManualClock, Running, eventually, opened_store, start_running
from yizhan.domain.timezone import china_today
from yizhan.storage.tables import nonce_log


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Running]:
    async with (opened_store("sqlite", tmp_path) as store,
                start_running(store, tmp_path, ManualClock(datetime.now(UTC))) as running):
        yield running


async def logged_nonces(running: Running) -> int:
    async with running.yz.store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(nonce_log)) or 0)


async def test_signed_reads_answer_while_another_writer_holds_the_store(
        embedded: Running) -> None:
    """issue 14 point 9: QuerySendDetails and QuerySendStatistics through the SDK answer
    while the SQLite write lock is held elsewhere (before: their nonce waited for it)."""
    port = int(embedded.base_url.rsplit(":", 1)[1])
    sdk = SdkClient("v4-acs3", port, embedded.demo.key.id, embedded.demo.key.secret)
    day = china_today(embedded.yz.clock.now())
    before = await logged_nonces(embedded)
    holder = sqlite3.connect(str(embedded.yz.store.engine.url.database), timeout=1)
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")  # another writer (say the CLI) holds the store
    try:
        details = await asyncio.wait_for(asyncio.to_thread(
            sdk.call, "QuerySendDetails", PhoneNumber="13800138000",
            SendDate=day.strftime("%Y%m%d"), PageSize=10, CurrentPage=1), 5)
        statistics = await asyncio.wait_for(asyncio.to_thread(
            sdk.call, "QuerySendStatistics", IsGlobe=1, StartDate=day.strftime("%Y%m%d"),
            EndDate=day.strftime("%Y%m%d"), PageIndex=1, PageSize=10), 5)
        assert (details.code, statistics.code) == ("OK", "OK")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    async def saved() -> bool:  # written once the store is free again
        return await logged_nonces(embedded) == before + 2
    await eventually(saved, what="the reads' nonces in nonce_log")
