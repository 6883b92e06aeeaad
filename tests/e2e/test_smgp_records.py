"""A message routed to an SMGP channel reaches a final status in the records: Yizhan runs
with a channel file whose one channel is `kind = "smgp"`, logged in to the SMGP simulator
over loopback, and the records show what the gateway answered and reported; a handset's `R`
reply over SMGP opts the number out of that signature's promotions (issue 21)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_policy_state import ChinaNoonClock, promotion
from tests.api.test_rest import final_messages, send_body
from tests.conftest import Running, eventually, start_running
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.domain.model import PhoneNumber
from yizhan.simulator.smgw import SmgwServer
from yizhan.storage.store import SqlStore

SCRIPT = Script(Outcome(delay=0.0), {
    "+8613300000001": Outcome(code="UNDELIV", delay=0.0),
    "+8613300000002": Outcome(submit="reject:47"),
    "+8613300000003": Outcome(delay=0.0, uplink="R"),
})


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[SmgwServer, int]]:
    sim = SmgwServer(SCRIPT, accounts={"SP000001": "s3cret"})
    port = await sim.start()
    yield sim, port
    await sim.stop()


@pytest.fixture
async def running(store: SqlStore, tmp_path: Path,
                  gateway: tuple[SmgwServer, int]) -> AsyncIterator[Running]:
    path = tmp_path / "channels.toml"
    path.write_text(
        '[[channel]]\nname = "ctcc"\nkind = "smgp"\n'
        f'host = "127.0.0.1"\nport = {gateway[1]}\nclient_id = "SP000001"\n'
        'secret = "s3cret"\nchannel_code = "5901"\nservice_id = "MYZ0001"\n'
        'reconnect_min = 0.05\n\n[[route]]\nname = "all"\nchannels = ["ctcc"]\n')
    async with start_running(store, tmp_path, ChinaNoonClock(), embedded=True,
                             channels_file=path, cache_seconds=0) as started:
        yield started


async def test_messages_over_smgp_reach_their_final_status_in_the_records(
        running: Running, gateway: tuple[SmgwServer, int]) -> None:
    numbers = ["13300000000", "13300000001", "13300000002"]
    answer = await running.client.post("/v1/messages", json=send_body(running, numbers))
    assert answer.status_code == 200, answer.text
    records = await final_messages(running, answer.json()["biz_id"])
    got = {m["phone_number"]: (m["status"], m["error_code"], m["channel"]) for m in records}
    assert got == {"13300000000": ("success", "DELIVERED", "ctcc"),
                   "13300000001": ("failed", "UNDELIV", "ctcc"),
                   "13300000002": ("failed", "SMGP:47", "ctcc")}
    assert gateway[0].submitted == 2 and gateway[0].receipts_acked == 2


async def test_an_r_reply_over_smgp_opts_the_number_out(running: Running) -> None:
    store, demo = running.yz.store, running.demo
    sent = await running.client.post("/v1/messages", json=promotion(running, ["13300000003"]))
    assert sent.status_code == 200, sent.text
    await final_messages(running, sent.json()["biz_id"])

    async def opted_out() -> list[Any]:
        return await store.opt_outs(demo.account.id, demo.signature.name,
                                    PhoneNumber("+8613300000003"))

    [found] = await eventually(opted_out, what="the opt-out of the R reply")
    signature = await store.signature(demo.account.id, demo.signature.name)
    assert signature is not None
    assert found.source == f"uplink 'R' (extension {signature.id})"
    again = await running.client.post("/v1/messages", json=promotion(running, ["13300000003"]))
    assert again.status_code == 400 and again.json()["code"] == "isv.MOBILE_OPTED_OUT"
