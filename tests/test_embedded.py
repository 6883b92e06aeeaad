"""The platform as `yizhan serve` runs it without a channel file: the SMPP simulator in
process, one SMPP bind per carrier, routed by carrier; uplinks mapped by extension code;
`R` opting the number out of the signature's promotions; counters at /metrics.

The server runs at 12:00 China time (promotions are inside their sending hours)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.test_policy_state import ChinaNoonClock, promotion
from tests.api.test_rest import final_messages, send_body
from tests.conftest import Running, eventually, start_running
from yizhan.domain.model import AccountId, PhoneNumber
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import uplinks

REPLIES_R = "13800138111"


@pytest.fixture
async def embedded(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    script = tmp_path / "carriers.toml"
    script.write_text(f'[numbers.{REPLIES_R}]\nuplink = "R"\n\n'
                      '[numbers.13800138222]\nuplink = "谢谢"\n')
    async with start_running(store, tmp_path, ChinaNoonClock(), embedded=True,
                             simulator_script=script, cache_seconds=0) as started:
        yield started


async def messages_of(running: Running, biz_id: str) -> list[Any]:
    await final_messages(running, biz_id)
    return await running.yz.store.messages_by_biz(running.demo.account.id, biz_id)


async def test_each_carrier_goes_to_its_own_smpp_channel(embedded: Running) -> None:
    sent = await embedded.client.post("/v1/messages", json=send_body(
        embedded, ["13800138000", "13000130000", "18900189000"]))
    assert sent.status_code == 200, sent.text
    found = await messages_of(embedded, sent.json()["biz_id"])
    assert [(m.status.value, m.channel) for m in found] == [
        ("success", "cmcc"), ("success", "cucc"), ("success", "ctcc")]
    assert [m.route for m in found] == ["route china-mobile: cmcc", "route china-unicom: cucc",
                                        "route china-telecom: ctcc"]
    metrics = (await embedded.client.get("/metrics")).text
    for channel in ("cmcc", "cucc", "ctcc"):
        assert f'yizhan_channel_submits_total{{channel="{channel}",result="accepted"}} 1.0' \
            in metrics
        assert f'yizhan_channel_receipts_total{{channel="{channel}"}} 1.0' in metrics
        assert f'yizhan_channel_up{{channel="{channel}"}} 1.0' in metrics


async def test_a_reply_r_opts_the_number_out_of_that_signatures_promotions(
        embedded: Running) -> None:
    store, demo = embedded.yz.store, embedded.demo
    sent = await embedded.client.post("/v1/messages", json=promotion(
        embedded, [REPLIES_R, "13800138222"]))
    assert sent.status_code == 200, sent.text
    assert all(m.status.value == "success" for m in await messages_of(
        embedded, sent.json()["biz_id"]))

    async def opted_out() -> list[Any]:
        return await store.opt_outs(demo.account.id, demo.signature.name,
                                    PhoneNumber("+86" + REPLIES_R))

    found = await eventually(opted_out, what="the opt-out of the R reply")
    signature = await store.signature(demo.account.id, demo.signature.name)
    assert signature is not None
    assert found[0].source == f"uplink 'R' (extension {signature.id})"
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(uplinks).order_by(uplinks.c.id))).all()
    assert sorted((r.phone, r.content, r.account_id, r.sign_name, r.dest_code) for r in rows) \
        == [("+86" + REPLIES_R, "R", demo.account.id, demo.signature.name,
             f"1069001{signature.id}"),
            ("+8613800138222", "谢谢", demo.account.id, demo.signature.name,
             f"1069001{signature.id}")]
    # the next promotion to that number is refused; other numbers and types still go
    refused = await embedded.client.post("/v1/messages", json=promotion(embedded, [REPLIES_R]))
    assert refused.status_code == 400 and refused.json()["code"] == "isv.MOBILE_OPTED_OUT"
    other = await embedded.client.post("/v1/messages", json=promotion(embedded,
                                                                       ["13800138222"]))
    assert other.status_code == 200
    code = await embedded.client.post("/v1/messages", json=send_body(embedded, [REPLIES_R]))
    assert code.status_code == 200
    assert not await store.opt_outs(AccountId(demo.account.id), demo.signature.name,
                                    PhoneNumber("+8613800138222"))
    metrics = (await embedded.client.get("/metrics")).text
    counted = re.search(r'yizhan_channel_uplinks_total\{channel="cmcc"\} (\d+)', metrics)
    assert counted and int(counted[1]) >= 2  # the second 谢谢 may be in by now
