"""The gateways the channel contract suite runs against, one adapter per protocol.

Each adapter wraps its protocol's simulator in manual mode (nothing answered by itself) and
makes the channel of that protocol pointed at it, so that `test_channels.py` states every
rule once: bind, window, reconnect, throttling, long messages, receipts, replies, ambiguity
on a cut link. A protocol joins the suite by adding its adapter to `GATEWAYS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tests.conftest import ManualClock
from yizhan.dispatch.channels.cmpp import CmppChannel, CmppConfig
from yizhan.dispatch.channels.cmpp_pdu import Result
from yizhan.dispatch.channels.session import Session
from yizhan.dispatch.channels.sgip import SgipChannel, SgipConfig
from yizhan.dispatch.channels.sgip_pdu import Result as SgipResult
from yizhan.dispatch.channels.sgip_pdu import Sequence as SgipSequence
from yizhan.dispatch.channels.smgp import SmgpChannel, SmgpConfig
from yizhan.dispatch.channels.smgp_pdu import MsgIdResp
from yizhan.dispatch.channels.smgp_pdu import Status as SmgpStatus
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.channels.smpp_pdu import Status
from yizhan.domain.events import Receipt, Uplink
from yizhan.simulator.ismg import Incoming as CmppIncoming
from yizhan.simulator.ismg import IsmgServer
from yizhan.simulator.sgip_smg import ConnectBack, SmgServer
from yizhan.simulator.sgip_smg import Incoming as SgipIncoming
from yizhan.simulator.smgw import Incoming as SmgpIncoming
from yizhan.simulator.smgw import SmgwServer, reply_delivers
from yizhan.simulator.smsc import Incoming as SmppIncoming
from yizhan.simulator.smsc import SmscServer, uplink_parts

NUMBER = "1069001"
"""The channel's number (SMPP: 106 + channel code; CMPP: the service code): a reply to it
plus an extension is attributed by that extension."""


@dataclass
class Submitted:
    """One submit as the gateway received it."""

    text: str
    """The part's text (header stripped)."""
    dest: str
    source: str
    part: tuple[int, int]
    """(number, total) of a long message's part; (1, 1) for a whole message."""
    handle: Any


class Gateway(Protocol):
    protocol: str
    throttled_code: str
    refused_code: str
    """The code a submit refused as a bad destination gets."""

    async def start(self) -> int: ...
    async def stop(self) -> None: ...
    def channel(self, port: int, clock: ManualClock, **settings: Any) -> Session[Any, Any]: ...
    async def next_submit(self) -> Submitted: ...
    def idle(self) -> bool: ...
    def accept(self, submit: Submitted) -> str:
        """Answer it accepted; the remote id as the channel reports it."""
    def throttle(self, submit: Submitted) -> None: ...
    def refuse(self, submit: Submitted) -> None: ...
    async def receipt(self, remote_id: str, stat: str) -> bool:
        """Send a report; whether the channel acknowledged it as stored."""
    async def reply(self, phone: str, dest: str, text: str) -> bool: ...
    def cut(self) -> None: ...


class SmppGateway:
    protocol = "smpp"
    throttled_code = "ESME_RTHROTTLED"
    refused_code = "ESME_RINVDSTADR"

    def __init__(self) -> None:
        self.server = SmscServer(manual=True, system_id="yz", password="pw")

    async def start(self) -> int:
        return await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def channel(self, port: int, clock: ManualClock, **settings: Any) -> SmppChannel:
        return SmppChannel(SmppConfig("carrier", "127.0.0.1", port, "yz", password="pw",
                                      channel_code="9001", **settings), clock)

    async def next_submit(self) -> Submitted:
        got = await self.server.expect()
        sm = got.message
        udh = sm.short_message[1:sm.short_message[0] + 1] if sm.esm_class & 0x40 else b""
        part = (udh[-1], udh[-2]) if udh else (1, 1)
        return Submitted(got.text, sm.destination_addr, sm.source_addr, part, got)

    def idle(self) -> bool:
        return self.server.inbox.empty()

    def accept(self, submit: Submitted) -> str:
        handle: SmppIncoming = submit.handle
        return self.server.answer(handle).lower().lstrip("0")

    def throttle(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, Status.RTHROTTLED)

    def refuse(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, Status.RINVDSTADR)

    async def receipt(self, remote_id: str, stat: str) -> bool:
        answer = await self.server.receipt(remote_id.upper(), stat)
        return answer.status == Status.ROK

    async def reply(self, phone: str, dest: str, text: str) -> bool:
        # the parts of a long reply are answered once the whole is stored: sent together
        answers = await asyncio.gather(*(
            self.server.deliver(part) for part in uplink_parts(phone.removeprefix("+"), dest,
                                                                text)))
        return all(a.status == Status.ROK for a in answers)

    def cut(self) -> None:
        self.server.drop()


class CmppGateway:
    protocol = "cmpp"
    throttled_code = "CMPP_FLOW_CONTROL"
    refused_code = "CMPP_BAD_DEST_TERMINAL_ID"

    def __init__(self, version: str = "3.0") -> None:
        self.version = version
        self.server = IsmgServer(manual=True, accounts={"901234": "secret"})

    async def start(self) -> int:
        return await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def channel(self, port: int, clock: ManualClock, **settings: Any) -> CmppChannel:
        return CmppChannel(CmppConfig("carrier", "127.0.0.1", port, "901234",
                                      password="secret", version=self.version,  # type: ignore[arg-type]
                                      service_code=NUMBER, **settings), clock)

    async def next_submit(self) -> Submitted:
        got = await self.server.expect()
        body = got.submit
        return Submitted(got.text, body.dest_terminal_ids[0], body.src_id,
                         (body.pk_number, body.pk_total), got)

    def idle(self) -> bool:
        return self.server.inbox.empty()

    def accept(self, submit: Submitted) -> str:
        handle: CmppIncoming = submit.handle
        return str(self.server.answer(handle))

    def throttle(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, Result.FLOW_CONTROL)

    def refuse(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, Result.BAD_DEST_TERMINAL_ID)

    async def receipt(self, remote_id: str, stat: str) -> bool:
        answer = await self.server.report(int(remote_id), stat)
        return getattr(answer.body, "result", None) == 0

    async def reply(self, phone: str, dest: str, text: str) -> bool:
        answers = await self.server.reply(phone.removeprefix("+86"), dest, text)
        return all(getattr(a.body, "result", None) == 0 for a in answers)

    def cut(self) -> None:
        self.server.drop()


SGIP_REPORTS = {"DELIVRD": "DELIVRD", "UNDELIV": "0", "MK:0001": "29"}
"""The contract's receipt words as an SGIP Report says them: a State and a numeric ErrorCode
only (UNDELIV: failed with no reason given; 29: unknown user, which China Unicom's code table
reads as MK:0001)."""


class SgipGateway:
    """China Unicom's SMG: Submits come over the channel's connection; Reports and replies
    go over the gateway's own connection back to the channel's listener."""

    protocol = "sgip"
    throttled_code = "NODE_BUSY"
    refused_code = "SGIP:006"

    def __init__(self) -> None:
        self.server = SmgServer(manual=True, accounts={"yz": "pw"})
        self.channel_: SgipChannel | None = None
        self.users: dict[str, str] = {}

    async def start(self) -> int:
        return await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def channel(self, port: int, clock: ManualClock, **settings: Any) -> SgipChannel:
        # the contract's window is 100, the other protocols' default (SGIP's is 16)
        options: dict[str, Any] = {"window": 100, **settings}
        self.channel_ = SgipChannel(SgipConfig(
            "carrier", "127.0.0.1", port, "yz", password="pw", node=3_010_000_001,
            channel_code="9001", listen_host="127.0.0.1", listen_port=0,
            listen_login_name="smg", listen_password="back", **options), clock)
        return self.channel_

    def _back(self) -> None:
        assert self.channel_ is not None  # listening once started
        self.server.connect_back["yz"] = ConnectBack(
            "127.0.0.1", self.channel_.listen_port, "smg", "back")

    async def next_submit(self) -> Submitted:
        got = await self.server.expect()
        body = got.submit
        udh = body.message_content[1:body.message_content[0] + 1] if body.tp_udhi else b""
        part = (udh[-1], udh[-2]) if udh else (1, 1)
        return Submitted(got.text, body.user_numbers[0], body.sp_number, part, got)

    def idle(self) -> bool:
        return self.server.inbox.empty()

    def accept(self, submit: Submitted) -> str:
        handle: SgipIncoming = submit.handle
        self.users[handle.pdu.sequence.text] = handle.submit.user_numbers[0]
        return self.server.answer(handle).text

    def throttle(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, SgipResult.NODE_BUSY)

    def refuse(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, SgipResult.ILLEGAL_NUMBER)

    async def receipt(self, remote_id: str, stat: str) -> bool:
        self._back()
        result = await self.server.report("yz", SgipSequence.parse(remote_id),
                                          self.users.get(remote_id, ""), SGIP_REPORTS[stat])
        return result == SgipResult.OK

    async def reply(self, phone: str, dest: str, text: str) -> bool:
        self._back()
        results = await self.server.uplink("yz", phone.removeprefix("+"), dest, text)
        return all(r == SgipResult.OK for r in results)

    def cut(self) -> None:
        self.server.drop()


class SmgpGateway:
    protocol = "smgp"
    throttled_code = "SYSTEM_BUSY"
    refused_code = "SMGP:47"

    def __init__(self) -> None:
        self.server = SmgwServer(manual=True, accounts={"SP000001": "secret"})

    async def start(self) -> int:
        return await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def channel(self, port: int, clock: ManualClock, **settings: Any) -> SmgpChannel:
        return SmgpChannel(SmgpConfig("carrier", "127.0.0.1", port, "SP000001",
                                      secret="secret", source_prefix="", channel_code=NUMBER,
                                      **settings), clock)

    async def next_submit(self) -> Submitted:
        got = await self.server.expect()
        body = got.submit
        return Submitted(got.text, body.dest_term_ids[0], body.src_term_id,
                         (body.tlvs.pk_number or 1, body.tlvs.pk_total or 1), got)

    def idle(self) -> bool:
        return self.server.inbox.empty()

    def accept(self, submit: Submitted) -> str:
        handle: SmgpIncoming = submit.handle
        return self.server.answer(handle).hex()

    def throttle(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, SmgpStatus.SYSTEM_BUSY)

    def refuse(self, submit: Submitted) -> None:
        self.server.answer(submit.handle, SmgpStatus.BAD_DEST_TERM_ID)

    async def receipt(self, remote_id: str, stat: str) -> bool:
        answer = await self.server.receipt(bytes.fromhex(remote_id), stat)
        return isinstance(answer.body, MsgIdResp) and answer.body.status == SmgpStatus.OK

    async def reply(self, phone: str, dest: str, text: str) -> bool:
        answers = await asyncio.gather(*(
            self.server.deliver(part)
            for part in reply_delivers(phone.removeprefix("+86"), dest, text, 7)))
        return all(isinstance(a.body, MsgIdResp) and a.body.status == SmgpStatus.OK
                   for a in answers)

    def cut(self) -> None:
        self.server.drop()


GATEWAYS = {"smpp": SmppGateway, "cmpp-3.0": CmppGateway,
            "cmpp-2.0": lambda: CmppGateway("2.0"), "sgip": SgipGateway,
            "smgp": SmgpGateway}
"""Every protocol the contract holds for."""


class Sink:
    """Stores events in a list; can be made to fail (the gateway must offer them again)."""

    def __init__(self) -> None:
        self.events: list[Receipt | Uplink] = []
        self.fail = False
        self.arrived = asyncio.Event()

    async def __call__(self, event: Receipt | Uplink) -> None:
        await self.many([event])

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        if self.fail:
            raise RuntimeError("store unavailable")
        self.events.extend(events)
        self.arrived.set()
