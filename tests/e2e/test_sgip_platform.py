"""The platform as `yizhan serve` runs it from a channel file with an SGIP channel to a
(simulated) China Unicom gateway: a message sent through the API leaves as a Submit, its
Report comes back over the gateway's connection to the channel's listener and gives the
message its final status, and the handset's `R` reply, attributed by its extension, opts the
number out of the signature's promotions."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_policy_state import ChinaNoonClock, promotion
from tests.api.test_rest import final_messages, send_body
from tests.conftest import Running, eventually, start_running
from yizhan.dispatch.channels.simulator import Outcome, Script
from yizhan.domain.model import PhoneNumber
from yizhan.simulator.sgip_smg import ConnectBack, SmgServer
from yizhan.storage.store import SqlStore

REPLIES_R = "13000130111"
UNKNOWN_USER = "13000130029"


@dataclass
class Platform:
    running: Running
    smg: SmgServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def platform(store: SqlStore, tmp_path: Path) -> AsyncIterator[Platform]:
    listen = _free_port()
    smg = SmgServer(Script(Outcome(delay=0.01), {
        REPLIES_R: Outcome(uplink="R", delay=0.01),
        UNKNOWN_USER: Outcome(code="29", delay=0.01)}),
        accounts={"yizhan": "s3cret"},
        connect_back={"yizhan": ConnectBack("127.0.0.1", listen, "unicom", "back")})
    port = await smg.start()
    (tmp_path / "channels.toml").write_text(f"""
[[channel]]
name = "cucc-sgip"
kind = "sgip"
host = "127.0.0.1"
port = {port}
login_name = "yizhan"
password = "s3cret"
node = 3010012345
corp_id = "12345"
channel_code = "9001"
listen_host = "127.0.0.1"
listen_port = {listen}
listen_login_name = "unicom"
listen_password = "back"
reconnect_min = 0.05
""")
    try:
        async with start_running(store, tmp_path, ChinaNoonClock(), embedded=True,
                                 channels_file=tmp_path / "channels.toml",
                                 cache_seconds=0) as running:
            yield Platform(running, smg)
    finally:
        await smg.stop()


async def test_a_message_reaches_its_final_status_through_sgip(platform: Platform) -> None:
    running = platform.running
    sent = await running.client.post("/v1/messages", json=send_body(
        running, ["13000130000", UNKNOWN_USER]))
    assert sent.status_code == 200, sent.text
    await final_messages(running, sent.json()["biz_id"])
    found = await running.yz.store.messages_by_biz(running.demo.account.id,
                                                   sent.json()["biz_id"])
    assert sorted((m.phone, m.status.value, m.error_code, m.channel) for m in found) == [
        ("+8613000130000", "success", "DELIVERED", "cucc-sgip"),
        ("+86" + UNKNOWN_USER, "failed", "MK:0001", "cucc-sgip")]
    assert platform.smg.submitted == 2


async def test_a_reply_r_over_sgip_opts_the_number_out(platform: Platform) -> None:
    running = platform.running
    store, demo = running.yz.store, running.demo
    sent = await running.client.post("/v1/messages", json=promotion(running, [REPLIES_R]))
    assert sent.status_code == 200, sent.text

    async def opted_out() -> list[Any]:
        return await store.opt_outs(demo.account.id, demo.signature.name,
                                    PhoneNumber("+86" + REPLIES_R))

    found = await eventually(opted_out, what="the opt-out of the R reply")
    signature = await store.signature(demo.account.id, demo.signature.name)
    assert signature is not None
    assert found[0].source == f"uplink 'R' (extension {signature.id})"
    refused = await running.client.post("/v1/messages", json=promotion(running, [REPLIES_R]))
    assert refused.status_code == 400 and refused.json()["code"] == "isv.MOBILE_OPTED_OUT"
