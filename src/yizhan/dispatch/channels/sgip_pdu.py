"""SGIP 1.2 PDUs (China Unicom): bytes <-> values, for every end of the protocol (our SP
client, our listener the gateway connects back to, and a simulated SMG).

Covers what an SP needs: Bind (login type 1, SP -> SMG, for our submits; login type 2,
SMG -> SP, for the gateway's connection back to us), Unbind, Submit, Deliver (a handset's
reply) and Report (the status of a submit), each with its response. Every PDU is
`Pdu(command, sequence, body)`; `encode(pdu)` and `decode(data)` are the only two entry
points, and `Framer` cuts a TCP byte stream into PDUs. Text encodings and long-message parts
live in `sgip_text`.

The 20-octet header is Message Length, Command ID and a 12-octet Sequence Number: the
sender's node id, the time it was made (MMDDhhmmss as a number) and a counter. SGIP has no
message id of its own: the Sequence Number of a Submit *is* the message's id, and the Report
names it again (`SubmitSequenceNumber`). `Sequence.text` writes it as the id we keep.

Fixed-width octet strings are str (latin-1, so any octet survives a round trip), padded with
NULs on the right and read up to the first NUL. Decoding is strict: a PDU whose fields do
not add up to its Message Length, a count, length or flag out of the spec's bounds, or an
unknown Command ID is refused with a `PduError` naming the field, never half-decoded. The
fields are read and written with `octets`, as CMPP's and SMGP's are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import NamedTuple

from yizhan.domain.timezone import CHINA

from . import framing
from .octets import Codec, Reader, padded

HEADER_SIZE = 20
HEADER = struct.Struct(">II")
SEQUENCE = struct.Struct(">III")
_U32 = struct.Struct(">I")
MAX_PDU = 4 * 1024
"""Larger Message Length is a broken peer: a Submit to 100 numbers is about 2.5 KiB (the
spec's "2 KiB a packet" is exceeded by its own 100-number Submit, so we allow twice it)."""
MAX_USERS = 100
"""UserCount's bound (SGIP 1.2 §4.2.3.3)."""
MAX_CONTENT = 160
"""MessageLength's bound: 160 octets of ASCII, 140 of anything else; 160 is tolerated."""
NAME_OCTETS = 16
"""Bind's Login Name and Login Password."""
NUMBER_OCTETS = 21


class Command(framing.CommandId):
    BIND = 0x00000001
    BIND_RESP = 0x80000001
    UNBIND = 0x00000002
    UNBIND_RESP = 0x80000002
    SUBMIT = 0x00000003
    SUBMIT_RESP = 0x80000003
    DELIVER = 0x00000004
    DELIVER_RESP = 0x80000004
    REPORT = 0x00000005
    REPORT_RESP = 0x80000005

    @property
    def title(self) -> str:
        """`SGIP Submit_Resp`: the spec's name, as refusals quote it."""
        words = self.name.split("_")
        return "SGIP " + "_".join(w.capitalize() for w in words)


class LoginType(IntEnum):
    """Bind's Login Type (§4.2.3.1): which way the connection goes."""

    SP_TO_SMG = 1
    """Our connection to the gateway: Submits go over it."""
    SMG_TO_SP = 2
    """The gateway's connection to our listener: Delivers and Reports come over it."""


class Result(IntEnum):
    """The Result of every response (§4.3): 1-11 in responses, 21-33 in Reports'
    ErrorCode."""

    OK = 0
    ILLEGAL_LOGIN = 1
    REPEATED_LOGIN = 2
    TOO_MANY_CONNECTIONS = 3
    BAD_LOGIN_TYPE = 4
    BAD_PARAMETER = 5
    ILLEGAL_NUMBER = 6
    BAD_COMMAND_ID = 7
    """"Message ID error" in the spec: a Command ID the receiver does not take."""
    BAD_LENGTH = 8
    ILLEGAL_SEQUENCE = 9
    ILLEGAL_GNS_OPERATION = 10
    NODE_BUSY = 11
    """The gateway's queue is full: the SGIP form of throttling."""
    UNREACHABLE = 21
    ROUTE_ERROR = 22
    NO_ROUTE = 23
    BAD_CHARGE_NUMBER = 24
    USER_UNREACHABLE = 25
    HANDSET_MEMORY_FULL = 26
    NO_SMS_SUPPORT = 27
    HANDSET_ERROR = 28
    UNKNOWN_USER = 29
    NOT_SUPPORTED = 30
    ILLEGAL_DEVICE = 31
    SYSTEM_FAILURE = 32
    SMSC_QUEUE_FULL = 33


class ReportState(IntEnum):
    """Report's State (§4.2.3.6)."""

    DELIVERED = 0
    WAITING = 1
    FAILED = 2


class Sequence(NamedTuple):
    """The 12-octet Sequence Number: the node that made it, when (MMDDhhmmss as a number,
    China time) and its counter. A Submit's is the message's id."""

    node: int
    time: int
    number: int

    @property
    def text(self) -> str:
        """The id we store and look receipts up by: `3057112345-1207185300-42`."""
        return f"{self.node}-{self.time:010d}-{self.number}"

    @classmethod
    def parse(cls, text: str) -> Sequence:
        """The inverse of `text`; ValueError for anything else."""
        parts = text.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{text!r} is not an SGIP sequence (node-time-number)")
        node, time, number = (int(p) for p in parts)
        if max(node, time, number) >= 1 << 32:
            raise ValueError(f"{text!r} has a part over 32 bits")
        return cls(node, time, number)


def time_of(moment: datetime) -> int:
    """The Sequence Number's time part: MMDDhhmmss of `moment` in China time, as a number."""
    return int(moment.astimezone(CHINA).strftime("%m%d%H%M%S"))


@dataclass(slots=True)
class Bind:
    login_type: int = LoginType.SP_TO_SMG
    login_name: str = ""
    login_password: str = ""
    reserve: str = ""


@dataclass(slots=True)
class Resp:
    """The body of every response but Unbind_Resp: a Result and 8 reserved octets."""

    result: int = Result.OK
    reserve: str = ""


@dataclass(slots=True)
class Submit:
    user_numbers: list[str] = field(default_factory=list)
    """The handsets, each with its 86 country code (1 to 100)."""
    message_content: bytes = b""
    message_coding: int = 0
    sp_number: str = ""
    """Our access number with the extension (sub-port) replies come back to."""
    charge_number: str = ""
    """Who pays: "000000000000000000000" (21 zeros) is the SP, "" the receiving user."""
    corp_id: str = ""
    """The SP's enterprise code (5 octets)."""
    service_type: str = ""
    fee_type: int = 0
    fee_value: str = ""
    given_value: str = ""
    agent_flag: int = 0
    morelate_to_mt_flag: int = 2
    """2: not caused by a handset's request (MO)."""
    priority: int = 0
    expire_time: str = ""
    schedule_time: str = ""
    report_flag: int = 1
    """1: a Report whatever the outcome; 0: only on failure; 2: none."""
    tp_pid: int = 0
    tp_udhi: int = 0
    message_type: int = 0
    reserve: str = ""


@dataclass(slots=True)
class Deliver:
    """A handset's message to our SP number (a reply, an opt-out)."""

    user_number: str = ""
    sp_number: str = ""
    message_content: bytes = b""
    message_coding: int = 0
    tp_pid: int = 0
    tp_udhi: int = 0
    reserve: str = ""


@dataclass(slots=True)
class Report:
    """The status of a Submit, sent by the gateway over its connection to us."""

    submit_sequence: Sequence = field(default_factory=lambda: Sequence(0, 0, 0))
    user_number: str = ""
    state: int = ReportState.DELIVERED
    error_code: int = 0
    report_type: int = 0
    """0: of a Submit (the only kind an SP asks for); 1: of a forwarded Deliver."""
    reserve: str = ""


Body = Bind | Resp | Submit | Deliver | Report | None


@dataclass(slots=True)
class Pdu:
    command: Command
    sequence: Sequence
    body: Body = None


class PduError(ValueError):
    """Bytes that are not a valid SGIP PDU; `sequence` says which request to answer (None
    when the header itself is broken)."""

    def __init__(self, message: str, sequence: Sequence | None = None) -> None:
        super().__init__(message)
        self.sequence = sequence


# ---- encoding ----------------------------------------------------------------------------


def _flags(*values: int) -> bytes:
    return bytes(values)


def _content(content: bytes) -> bytes:
    if len(content) > MAX_CONTENT:
        raise ValueError(f"MessageContent of {len(content)} octets is over {MAX_CONTENT}")
    return _U32.pack(len(content)) + content


def _encode_submit(b: Submit) -> bytes:
    if not 1 <= len(b.user_numbers) <= MAX_USERS:
        raise ValueError(f"Submit takes 1 to {MAX_USERS} user numbers, "
                         f"not {len(b.user_numbers)}")
    return b"".join((
        padded(b.sp_number, 21, "SPNumber"), padded(b.charge_number, 21, "ChargeNumber"),
        bytes((len(b.user_numbers),)),
        *(padded(n, 21, "UserNumber") for n in b.user_numbers),
        padded(b.corp_id, 5, "CorpId"), padded(b.service_type, 10, "ServiceType"),
        bytes((b.fee_type,)), padded(b.fee_value, 6, "FeeValue"),
        padded(b.given_value, 6, "GivenValue"),
        _flags(b.agent_flag, b.morelate_to_mt_flag, b.priority),
        padded(b.expire_time, 16, "ExpireTime"), padded(b.schedule_time, 16, "ScheduleTime"),
        _flags(b.report_flag, b.tp_pid, b.tp_udhi, b.message_coding, b.message_type),
        _content(b.message_content), padded(b.reserve, 8, "Reserve"),
    ))


def encode_body(body: Body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, Resp):
        return bytes((body.result,)) + padded(body.reserve, 8, "Reserve")
    if isinstance(body, Submit):
        return _encode_submit(body)
    if isinstance(body, Deliver):
        return b"".join((
            padded(body.user_number, 21, "UserNumber"), padded(body.sp_number, 21, "SPNumber"),
            _flags(body.tp_pid, body.tp_udhi, body.message_coding),
            _content(body.message_content), padded(body.reserve, 8, "Reserve")))
    if isinstance(body, Report):
        return b"".join((
            SEQUENCE.pack(*body.submit_sequence), bytes((body.report_type,)),
            padded(body.user_number, 21, "UserNumber"),
            _flags(body.state, body.error_code), padded(body.reserve, 8, "Reserve")))
    return b"".join((bytes((body.login_type,)),
                     padded(body.login_name, NAME_OCTETS, "Login Name"),
                     padded(body.login_password, NAME_OCTETS, "Login Password"),
                     padded(body.reserve, 8, "Reserve")))


def header(length: int, command: int, sequence: Sequence) -> bytes:
    return HEADER.pack(length, command) + SEQUENCE.pack(*sequence)


def encode(pdu: Pdu) -> bytes:
    body = encode_body(pdu.body)
    return header(HEADER_SIZE + len(body), pdu.command, pdu.sequence) + body


# ---- decoding ----------------------------------------------------------------------------


def _content_of(r: Reader) -> bytes:
    length = r.u32("MessageLength")
    if length > MAX_CONTENT:
        raise PduError(f"MessageLength {length} is over {MAX_CONTENT}")
    return r.take(length, "MessageContent")


def _decode_submit(r: Reader) -> Submit:
    b = Submit(sp_number=r.text(21, "SPNumber"), charge_number=r.text(21, "ChargeNumber"))
    count = r.byte("UserCount")
    if not 1 <= count <= MAX_USERS:
        raise PduError(f"UserCount {count} is not 1 to {MAX_USERS}")
    b.user_numbers = [r.text(21, "UserNumber") for _ in range(count)]
    b.corp_id, b.service_type = r.text(5, "CorpId"), r.text(10, "ServiceType")
    b.fee_type, b.fee_value = r.byte("FeeType"), r.text(6, "FeeValue")
    b.given_value, b.agent_flag = r.text(6, "GivenValue"), r.bounded("AgentFlag", 1)
    b.morelate_to_mt_flag, b.priority = r.bounded("MorelatetoMTFlag", 3), r.bounded("Priority", 9)
    b.expire_time, b.schedule_time = r.text(16, "ExpireTime"), r.text(16, "ScheduleTime")
    b.report_flag, b.tp_pid = r.bounded("ReportFlag", 3), r.byte("TP_pid")
    b.tp_udhi, b.message_coding = r.bounded("TP_udhi", 1), r.byte("MessageCoding")
    b.message_type = r.byte("MessageType")
    b.message_content, b.reserve = _content_of(r), r.text(8, "Reserve")
    return b


def _decode_body(command: Command, r: Reader) -> Body:
    if command.is_response:
        if command is Command.UNBIND_RESP:
            return None
        return Resp(r.byte("Result"), r.text(8, "Reserve"))
    if command is Command.SUBMIT:
        return _decode_submit(r)
    if command is Command.DELIVER:
        return Deliver(user_number=r.text(21, "UserNumber"), sp_number=r.text(21, "SPNumber"),
                       tp_pid=r.byte("TP_pid"), tp_udhi=r.bounded("TP_udhi", 1),
                       message_coding=r.byte("MessageCoding"), message_content=_content_of(r),
                       reserve=r.text(8, "Reserve"))
    if command is Command.REPORT:
        sequence = Sequence(*SEQUENCE.unpack(r.take(12, "SubmitSequenceNumber")))
        return Report(submit_sequence=sequence, report_type=r.bounded("ReportType", 1),
                      user_number=r.text(21, "UserNumber"), state=r.bounded("State", 2),
                      error_code=r.byte("ErrorCode"), reserve=r.text(8, "Reserve"))
    if command is Command.BIND:
        return Bind(r.byte("Login Type"), r.text(NAME_OCTETS, "Login Name"),
                    r.text(NAME_OCTETS, "Login Password"), r.text(8, "Reserve"))
    return None  # UNBIND: a header alone


def decode(data: bytes) -> Pdu:
    """One whole PDU (header included) -> Pdu; raises PduError for malformed bytes."""
    if len(data) < HEADER_SIZE:
        raise PduError(f"PDU shorter than its {HEADER_SIZE}-octet header")
    length, command_id = HEADER.unpack_from(data)
    sequence = Sequence(*SEQUENCE.unpack_from(data, 8))
    command, body = _CODEC.read(data, length, command_id, sequence, _decode_body)
    return Pdu(command, sequence, body)


_CODEC = Codec(HEADER_SIZE, "Message Length", "Command ID", {int(c): c for c in Command},
                 PduError)


class Framer(framing.Framer):
    """Cuts a byte stream into whole SGIP PDUs (20-octet header, Message Length first)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(HEADER_SIZE, MAX_PDU, PduError, "Message Length")
