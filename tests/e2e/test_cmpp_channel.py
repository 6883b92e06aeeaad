"""A message routed to a CMPP channel reaches its final status in the records, through the
API: Yizhan runs with a channel file whose one channel is `kind = "cmpp"`, connected over
real CMPP 3.0 on loopback to the simulated gateway (`simulator/ismg.py`) running the
per-number script; receipts come back in CMPP_DELIVER status reports, their Stat through the
CMPP code table, and a refused submit's Result is explained too; a handset's reply `R`
comes back in a CMPP_DELIVER, attributed by its extension, and opts the number out of the
signature's promotions (issue 21)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.test_rest import final_messages, send_body
from tests.conftest import Running, eventually, start_running
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.domain.ports import SystemClock
from yizhan.simulator.ismg import IsmgServer
from yizhan.storage.store import SqlStore

SCRIPT = Script(default=Outcome(delay=0.0), numbers={
    "+8613800000001": Outcome(code="MK:0001", delay=0.0),
    "+8613800000002": Outcome(code="EXPIRED", delay=0.0),
    "+8613800000003": Outcome(submit="reject:13"),
    "+8613800000005": Outcome(delay=0.0, uplink="R"),  # the handset replies R: opt-out
})
EXPECTED = {  # number -> status, error code, reason, suggestion
    "13800000001": ("failed", "MK:0001", "no such subscriber (empty number)",
                    "remove the number"),
    "13800000002": ("failed", "EXPIRED", "not delivered within the validity period (handset "
                    "off or out of coverage)", "try again when the user is reachable"),
    "13800000003": ("failed", "CMPP_BAD_DEST_TERMINAL_ID", "channel cmcc-cmpp refused the "
                    "submit: CMPP_BAD_DEST_TERMINAL_ID", "check the number"),
    "13800000004": ("success", "DELIVERED", "", ""),
    "13800000005": ("success", "DELIVERED", "", ""),
}


@pytest.fixture
async def gateway() -> AsyncIterator[int]:
    ismg = IsmgServer(SCRIPT, accounts={"901234": "s3cret"})
    port = await ismg.start()
    yield port
    await ismg.stop()


@pytest.fixture
async def running(store: SqlStore, tmp_path: Path, gateway: int) -> AsyncIterator[Running]:
    path = tmp_path / "channels.toml"
    path.write_text(f'''
[[channel]]
name = "cmcc-cmpp"
kind = "cmpp"
host = "127.0.0.1"
port = {gateway}
source_addr = "901234"
password = "s3cret"
version = "3.0"
service_code = "1069001"
reconnect_min = 0.05

[[route]]
name = "all"
channels = ["cmcc-cmpp"]
''')
    async with start_running(store, tmp_path, SystemClock(), embedded=True,
                             channels_file=path, cache_seconds=0) as started:
        yield started


async def test_messages_over_cmpp_reach_their_final_status_with_reasons(
        running: Running) -> None:
    answer = await running.client.post("/v1/messages", json=send_body(running, list(EXPECTED)))
    assert answer.status_code == 200, answer.text
    records = await final_messages(running, answer.json()["biz_id"])
    assert {m["phone_number"]: (m["status"], m["error_code"], m["reason"], m["suggestion"])
            for m in records} == EXPECTED
    assert {m["channel"] for m in records} == {"cmcc-cmpp"}


async def test_a_reply_r_over_cmpp_opts_the_number_out_of_the_signature_it_answered(
        running: Running, store: SqlStore) -> None:
    answer = await running.client.post("/v1/messages",
                                       json=send_body(running, ["13800000005"]))
    assert answer.status_code == 200, answer.text
    await final_messages(running, answer.json()["biz_id"])
    account, sign = running.demo.account.id, running.demo.signature.name

    async def opted() -> list[str]:
        return [o.phone for o in await store.opt_outs(account, sign)]

    assert await eventually(opted, what="the opt-out") == ["+8613800000005"]
