"""The simulated CMPP gateway runs the SMPP simulator's per-number scripts (docs/simulator.md)
against our CMPP channel over loopback: delays, failure codes, refused and throttled submits,
a handset's reply after its report, content keywords, and the real-name refusal of a
signature not registered on the sub-port; standalone (`yizhan simulator --protocol cmpp`)
too. And its fixed-part report writer writes what the codec writes."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.contract.gateways import Sink
from yizhan.cli.main import app
from yizhan.dispatch.channels.cmpp import CmppChannel, CmppConfig
from yizhan.dispatch.channels.cmpp_pdu import Deliver, Version, encode_body
from yizhan.dispatch.channels.simulator import REAL_NAME_CODE, Outcome, Script
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, Rejected, Retryable, SubmitRequest, SystemClock
from yizhan.simulator.ismg import IsmgServer, report_body

SCRIPT = Script(default=Outcome(delay=0.0), numbers={
    "+8613900000001": Outcome(code="MK:0001", delay=0.05),
    "+8613900000002": Outcome(submit="reject:13"),
    "+8613900000003": Outcome(submit="throttle"),
    "+8613900000004": Outcome(uplink="R", delay=0.0),
}, keywords={"贷款": "MK:0115"})


class Registered:
    """The carrier's registrations: only 【驿站】 on 10690010001."""

    def registered(self, sub_port: str, sign_name: str) -> bool:
        return (sub_port, sign_name) == ("10690010001", "驿站")


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[CmppChannel, Sink]]:
    ismg = IsmgServer(SCRIPT, accounts={"901234": "pw"}, records=Registered(),
                      enforcing=["901234"])
    port = await ismg.start()
    channel = CmppChannel(CmppConfig("cmcc", "127.0.0.1", port, "901234", password="pw",
                                     service_code="1069001"), SystemClock())
    sink = Sink()
    await channel.start(sink)
    await asyncio.wait_for(channel.bound.wait(), 5)
    yield channel, sink
    await channel.stop()
    await ismg.stop()


async def events(sink: Sink, count: int) -> list[Receipt | Uplink]:
    while len(sink.events) < count:
        sink.arrived.clear()
        await asyncio.wait_for(sink.arrived.wait(), 5)
    return sink.events


def request(phone: str, text: str = "【驿站】验证码 1234", extension: str = "0001"
            ) -> SubmitRequest:
    return SubmitRequest(1, phone, text, 1, extension=extension)


async def test_a_scripted_number_gets_its_report_code(
        scripted: tuple[CmppChannel, Sink]) -> None:
    channel, sink = scripted
    accepted = await channel.submit(request("+8613900000001"))
    assert isinstance(accepted, Accepted)
    (receipt,) = await events(sink, 1)
    assert isinstance(receipt, Receipt)
    assert (receipt.remote_id, receipt.code, receipt.status) == (
        accepted.remote_id, "MK:0001", "failed")
    assert receipt.phone == "+8613900000001"


async def test_refused_and_throttled_submits(scripted: tuple[CmppChannel, Sink]) -> None:
    channel, _ = scripted
    assert await channel.submit(request("+8613900000002")) == Rejected(
        "CMPP_BAD_DEST_TERMINAL_ID", "channel cmcc refused the submit: CMPP_BAD_DEST_TERMINAL_ID")
    throttled = await channel.submit(request("+8613900000003"))
    assert isinstance(throttled, Retryable) and "CMPP_FLOW_CONTROL" in throttled.reason


async def test_a_handset_replies_after_its_report(scripted: tuple[CmppChannel, Sink]) -> None:
    channel, sink = scripted
    assert isinstance(await channel.submit(request("+8613900000004")), Accepted)
    got = await events(sink, 2)
    uplink = next(e for e in got if isinstance(e, Uplink))
    assert (uplink.content, uplink.extension, uplink.phone) == ("R", "0001", "+8613900000004")


async def test_keywords_and_unregistered_signatures_fail_as_the_carrier_says(
        scripted: tuple[CmppChannel, Sink]) -> None:
    channel, sink = scripted
    await channel.submit(request("+8613800000001", "【驿站】低息贷款"))
    await channel.submit(request("+8613800000002", "【别家】验证码 1234"))
    await channel.submit(request("+8613800000003", extension="0002"))  # another sub-port
    got = await events(sink, 3)
    codes = {e.phone: e.code for e in got if isinstance(e, Receipt)}
    assert codes == {"+8613800000001": "MK:0115", "+8613800000002": "isv.SIGN_NOT_REGISTERED",
                     "+8613800000003": "isv.SIGN_NOT_REGISTERED"}
    assert REAL_NAME_CODE == "MB:1077"


@pytest.mark.parametrize("version", [Version.V20, Version.V30])
@given(msg_id=st.integers(0, 2**64 - 1), dest=st.text("0123456789", max_size=21),
       handset=st.text("0123456789", max_size=21), content=st.binary(max_size=71))
def test_the_report_writer_writes_what_the_codec_writes(
        version: Version, msg_id: int, dest: str, handset: str, content: bytes) -> None:
    assert report_body(msg_id, dest, handset, content, version) == encode_body(
        Deliver(msg_id, dest, handset, content, registered_delivery=1), version)


async def test_the_standalone_simulator_serves_cmpp_until_stopped(tmp_path: Path) -> None:
    """`yizhan simulator --protocol cmpp`: the CMPP gateway as a process of its own, running
    a script, checking the SP's login, and `yizhan channels check` logs in to it."""
    script = tmp_path / "carriers.toml"
    script.write_text('[numbers.13800000001]\ncode = "MK:0023"\ndelay = 0\n')
    entry = str(Path(sys.executable).parent / "yizhan")
    process = await asyncio.create_subprocess_exec(
        entry, "simulator", "--protocol", "cmpp", "--port", "0", "--script", str(script),
        "--system-id", "901234", "--password", "pw", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        found = re.search(r"CMPP simulator listening on 127\.0\.0\.1:(\d+)", line)
        assert found is not None, line
        port = int(found.group(1))
        sink = Sink()
        channel = CmppChannel(CmppConfig("sim", "127.0.0.1", port, "901234", password="pw"),
                              SystemClock())
        await channel.start(sink)
        await asyncio.wait_for(channel.bound.wait(), 10)
        result = await channel.submit(request("+8613800000001"))
        (receipt,) = await events(sink, 1)
        await channel.stop()
        assert isinstance(result, Accepted) and isinstance(receipt, Receipt)
        assert receipt.code == "MK:0023"
        plan = tmp_path / "channels.toml"
        plan.write_text(f'[[channel]]\nname = "cmcc-cmpp"\nkind = "cmpp"\nhost = "127.0.0.1"\n'
                        f'port = {port}\nsource_addr = "901234"\npassword = "pw"\n')
        checked = await asyncio.to_thread(
            CliRunner().invoke, app, ["channels", "check", "--data-dir", str(tmp_path)],
            env={"YIZHAN_CHANNELS_FILE": str(plan)}, terminal_width=200)
        assert checked.exit_code == 0, checked.output
        assert "cmcc-cmpp" in checked.output and "bound in" in checked.output
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "stopped: 1 submits accepted, 1 receipts acknowledged" in rest.decode()
