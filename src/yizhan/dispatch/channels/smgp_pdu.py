"""SMGP 3.0 PDUs (China Telecom): bytes <-> values, for both ends of a link (our SP client
and a simulated SMGW).

Covers what an SP's link needs: Login (with the MD5 authenticators of both ends), Submit
with its 10-octet MsgID, Deliver carrying replies and status reports (IsReport), Active_Test
and Exit, each with its response. Fixed fields come first; what SMGP 3.0 added over 2.0
(TP_pid, TP_udhi, LinkID, the charging fields, PkTotal/PkNumber, ...) travels after them as
TLVs: Tag (2 octets), Length (2), Value. Every PDU is `Pdu(command, sequence, body)`;
`encode(pdu)` and `decode(data)` are the only two entry points, and `Framer` cuts a TCP byte
stream into PDUs. Authenticators, MsgID and the status report live in `smgp_text`.

Fixed-width octet strings are str (latin-1, so any octet survives a round trip), padded with
NULs on the right and read up to the first NUL. Decoding is strict: a PDU whose fields do
not add up to its PacketLength, a count out of the spec's bounds, a TLV that runs past the
PDU or whose length is not its tag's, or an unknown RequestID is refused with a `PduError`
naming the field, never half-decoded. A TLV whose tag is unknown is kept (`Tlvs.other`):
gateways add their own, and refusing them would cut the link over a field we do not use.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from . import framing
from .octets import Codec, Reader, padded

HEADER = struct.Struct(">III")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
MAX_PDU = 8 * 1024
"""Larger PacketLength is a broken peer: a submit to 100 numbers is about 2.4 KiB."""
MAX_DESTINATIONS = 100
"""DestTermIDCount's bound."""
VERSION = 0x30
"""ClientVersion / ServerVersion of SMGP 3.0."""
MSG_ID_OCTETS = 10


class Command(framing.CommandId):
    LOGIN = 0x00000001
    LOGIN_RESP = 0x80000001
    SUBMIT = 0x00000002
    SUBMIT_RESP = 0x80000002
    DELIVER = 0x00000003
    DELIVER_RESP = 0x80000003
    ACTIVE_TEST = 0x00000004
    ACTIVE_TEST_RESP = 0x80000004
    EXIT = 0x00000006
    EXIT_RESP = 0x80000006

    @property
    def title(self) -> str:
        """`SMGP Submit_Resp`: the spec's name, as refusals quote it."""
        words = self.name.split("_")
        if words[-1] == "RESP":
            return "SMGP " + "_".join(w.title() for w in words[:-1]) + "_Resp"
        return "SMGP " + "_".join(w.title() for w in words)


class LoginMode(IntEnum):
    SEND = 0
    RECEIVE = 1
    TRANSMIT = 2


class MsgType(IntEnum):
    """Submit's MsgType: what the SP sends is MT (6); a handset's message is MO (0)."""

    MO = 0
    MT = 6


class Status(IntEnum):
    """The Status of every SMGP response (SMGP 3.0 §5; the codes an SP meets)."""

    OK = 0
    SYSTEM_BUSY = 1
    TOO_MANY_CONNECTIONS = 2
    BAD_STRUCTURE = 10
    BAD_COMMAND = 11
    DUPLICATE_SEQUENCE = 12
    BAD_IP = 20
    AUTH_FAILED = 21
    VERSION_TOO_HIGH = 22
    BAD_MSG_TYPE = 30
    BAD_PRIORITY = 31
    BAD_FEE_TYPE = 32
    BAD_FEE_CODE = 33
    BAD_MSG_FORMAT = 34
    BAD_TIME_FORMAT = 35
    BAD_MSG_LENGTH = 36
    EXPIRED = 37
    ROUTING_ERROR = 39
    BAD_FIXED_FEE = 40
    BAD_SERVICE_ID = 43
    BAD_SRC_TERM_ID = 46
    BAD_DEST_TERM_ID = 47
    BAD_CHARGE_TERM_ID = 48
    NO_ROUTE = 58
    FORBIDDEN_HOURS = 74
    DAILY_LIMIT = 75
    ACCOUNT_EXPIRED = 76


class Tag(IntEnum):
    """The TLV tags of SMGP 3.0 §6.3 and the width each value has (0: variable)."""

    TP_PID = 0x0001
    TP_UDHI = 0x0002
    LINK_ID = 0x0003
    CHARGE_USER_TYPE = 0x0004
    CHARGE_TERM_TYPE = 0x0005
    CHARGE_TERM_PSEUDO = 0x0006
    DEST_TERM_TYPE = 0x0007
    DEST_TERM_PSEUDO = 0x0008
    PK_TOTAL = 0x0009
    PK_NUMBER = 0x000A
    SUBMIT_MSG_TYPE = 0x000B
    SP_DEAL_RESULT = 0x000C
    SRC_TERM_TYPE = 0x000D
    SRC_TERM_PSEUDO = 0x000E
    NODES_COUNT = 0x000F
    MSG_SRC = 0x0010
    SRC_TYPE = 0x0011
    M_SERVICE_ID = 0x0012


_INT_TAGS = {Tag.TP_PID: "tp_pid", Tag.TP_UDHI: "tp_udhi",
             Tag.CHARGE_USER_TYPE: "charge_user_type", Tag.CHARGE_TERM_TYPE: "charge_term_type",
             Tag.DEST_TERM_TYPE: "dest_term_type", Tag.PK_TOTAL: "pk_total",
             Tag.PK_NUMBER: "pk_number", Tag.SUBMIT_MSG_TYPE: "submit_msg_type",
             Tag.SP_DEAL_RESULT: "sp_deal_result", Tag.SRC_TERM_TYPE: "src_term_type",
             Tag.NODES_COUNT: "nodes_count", Tag.SRC_TYPE: "src_type"}
"""Integer TLVs: one octet each."""
_TEXT_TAGS = {Tag.LINK_ID: ("link_id", 20), Tag.MSG_SRC: ("msg_src", 8),
              Tag.M_SERVICE_ID: ("m_service_id", 21),
              Tag.CHARGE_TERM_PSEUDO: ("charge_term_pseudo", 0),
              Tag.DEST_TERM_PSEUDO: ("dest_term_pseudo", 0),
              Tag.SRC_TERM_PSEUDO: ("src_term_pseudo", 0)}
"""Octet-string TLVs and their width (0: as long as the value, at most 255 octets)."""
MAX_PSEUDO = 255


@dataclass(slots=True)
class Tlvs:
    """The optional parameters a PDU carries; None is "not sent" (SMGP tells an absent
    TP_udhi from TP_udhi=0 only by its presence, and gateways read both the same)."""

    tp_pid: int | None = None
    tp_udhi: int | None = None
    link_id: str | None = None
    charge_user_type: int | None = None
    charge_term_type: int | None = None
    charge_term_pseudo: str | None = None
    dest_term_type: int | None = None
    dest_term_pseudo: str | None = None
    pk_total: int | None = None
    pk_number: int | None = None
    submit_msg_type: int | None = None
    sp_deal_result: int | None = None
    src_term_type: int | None = None
    src_term_pseudo: str | None = None
    nodes_count: int | None = None
    msg_src: str | None = None
    src_type: int | None = None
    m_service_id: str | None = None
    other: dict[int, bytes] = field(default_factory=dict)
    """Tags SMGP 3.0 does not define (a gateway's own), kept as they came."""


@dataclass(slots=True)
class Login:
    client_id: str = ""
    """The SP's account on the gateway (8 octets)."""
    authenticator: bytes = bytes(16)
    """AuthenticatorClient: `smgp_text.client_authenticator`."""
    login_mode: int = LoginMode.TRANSMIT
    timestamp: int = 0
    """MMDDHHMMSS as a number (China time): 1207185300 is 7 December, 18:53:00."""
    version: int = VERSION


@dataclass(slots=True)
class LoginResp:
    status: int = 0
    authenticator: bytes = bytes(16)
    """AuthenticatorServer: `smgp_text.server_authenticator`."""
    version: int = VERSION


@dataclass(slots=True)
class Submit:
    dest_term_ids: list[str] = field(default_factory=list)
    msg_content: bytes = b""
    msg_format: int = 0
    src_term_id: str = ""
    """Our service code and the extension (sub-port) replies come back to (21 octets)."""
    msg_type: int = MsgType.MT
    need_report: int = 0
    priority: int = 0
    service_id: str = ""
    fee_type: str = ""
    """00 free, 01 per message, 02 monthly, 03 capped, ... (2 octets)."""
    fee_code: str = ""
    """In fen (6 octets)."""
    fixed_fee: str = ""
    """The monthly or capped fee, in fen (6 octets)."""
    valid_time: str = ""
    at_time: str = ""
    charge_term_id: str = ""
    reserve: str = ""
    tlvs: Tlvs = field(default_factory=Tlvs)


@dataclass(slots=True)
class Deliver:
    """A reply (is_report 0) or a status report (1, `msg_content` then holds a `Report`:
    `smgp_text.decode_report`)."""

    msg_id: bytes = bytes(MSG_ID_OCTETS)
    is_report: int = 0
    msg_format: int = 0
    recv_time: str = ""
    """YYYYMMDDHHMMSS (14 octets)."""
    src_term_id: str = ""
    dest_term_id: str = ""
    """Our service code with the extension the handset replied to."""
    msg_content: bytes = b""
    reserve: str = ""
    tlvs: Tlvs = field(default_factory=Tlvs)


@dataclass(slots=True)
class MsgIdResp:
    """Submit_Resp (the gateway's id of the message) and Deliver_Resp (the deliver's id
    echoed back)."""

    msg_id: bytes = bytes(MSG_ID_OCTETS)
    status: int = 0


Body = Login | LoginResp | Submit | Deliver | MsgIdResp | None


@dataclass(slots=True)
class Pdu:
    command: Command
    sequence: int
    body: Body = None


class PduError(ValueError):
    """Bytes that are not a valid SMGP PDU; `sequence` says which request to answer (0 when
    the header itself is broken)."""

    def __init__(self, message: str, sequence: int = 0) -> None:
        super().__init__(message)
        self.sequence = sequence


# ---- encoding ----------------------------------------------------------------------------


def _msg_id(value: bytes) -> bytes:
    if len(value) != MSG_ID_OCTETS:
        raise ValueError(f"MsgID is {MSG_ID_OCTETS} octets, not {len(value)}")
    return value


def encode_tlvs(tlvs: Tlvs) -> bytes:
    """The TLVs that are set, in tag order (a gateway's unknown ones last)."""
    out: list[bytes] = []
    for tag in Tag:
        if tag in _INT_TAGS:
            number = getattr(tlvs, _INT_TAGS[tag])
            if number is not None:
                out.append(_U16.pack(tag) + _U16.pack(1) + bytes((number,)))
            continue
        name, width = _TEXT_TAGS[tag]
        text = getattr(tlvs, name)
        if text is not None:
            raw = padded(text, width, name) if width else text.encode("latin-1")
            if len(raw) > MAX_PSEUDO:
                raise ValueError(f"{name} is longer than {MAX_PSEUDO} octets")
            out.append(_U16.pack(tag) + _U16.pack(len(raw)) + raw)
    for tag_id, value in sorted(tlvs.other.items()):
        out.append(_U16.pack(tag_id) + _U16.pack(len(value)) + value)
    return b"".join(out)


def _content(content: bytes) -> bytes:
    if len(content) > 255:
        raise ValueError(f"MsgContent of {len(content)} octets is over its 1-octet length")
    return bytes((len(content),)) + content


def _encode_submit(b: Submit) -> bytes:
    if not 1 <= len(b.dest_term_ids) <= MAX_DESTINATIONS:
        raise ValueError(f"SMGP Submit takes 1 to {MAX_DESTINATIONS} destinations, "
                         f"not {len(b.dest_term_ids)}")
    return b"".join((
        bytes((b.msg_type, b.need_report, b.priority)), padded(b.service_id, 10, "ServiceID"),
        padded(b.fee_type, 2, "FeeType"), padded(b.fee_code, 6, "FeeCode"),
        padded(b.fixed_fee, 6, "FixedFee"), bytes((b.msg_format,)),
        padded(b.valid_time, 17, "ValidTime"), padded(b.at_time, 17, "AtTime"),
        padded(b.src_term_id, 21, "SrcTermID"), padded(b.charge_term_id, 21, "ChargeTermID"),
        bytes((len(b.dest_term_ids),)),
        *(padded(d, 21, "DestTermID") for d in b.dest_term_ids),
        _content(b.msg_content), padded(b.reserve, 8, "Reserve"), encode_tlvs(b.tlvs),
    ))


def _encode_deliver(b: Deliver) -> bytes:
    return b"".join((
        _msg_id(b.msg_id), bytes((b.is_report, b.msg_format)),
        padded(b.recv_time, 14, "RecvTime"), padded(b.src_term_id, 21, "SrcTermID"),
        padded(b.dest_term_id, 21, "DestTermID"), _content(b.msg_content),
        padded(b.reserve, 8, "Reserve"), encode_tlvs(b.tlvs),
    ))


def encode_body(body: Body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, Submit):
        return _encode_submit(body)
    if isinstance(body, Deliver):
        return _encode_deliver(body)
    if isinstance(body, MsgIdResp):
        return _msg_id(body.msg_id) + _U32.pack(body.status)
    if isinstance(body, Login):
        if len(body.authenticator) != 16:
            raise ValueError("AuthenticatorClient is 16 octets")
        return b"".join((padded(body.client_id, 8, "ClientID"), body.authenticator,
                         bytes((body.login_mode,)), _U32.pack(body.timestamp),
                         bytes((body.version,))))
    if len(body.authenticator) != 16:
        raise ValueError("AuthenticatorServer is 16 octets")
    return _U32.pack(body.status) + body.authenticator + bytes((body.version,))


def encode(pdu: Pdu) -> bytes:
    body = encode_body(pdu.body)
    return HEADER.pack(12 + len(body), pdu.command, pdu.sequence) + body


# ---- decoding ----------------------------------------------------------------------------


def decode_tlvs(r: Reader) -> Tlvs:
    """Every TLV to the end of the PDU; a tag sent twice, a length not its tag's, or one
    that runs past the PDU is refused."""
    tlvs, seen = Tlvs(), set[int]()
    while r.left():
        tag_id, length = r.u16("TLV Tag"), r.u16("TLV Length")
        value = r.take(length, f"TLV 0x{tag_id:04X}")
        if tag_id in seen:
            raise PduError(f"TLV 0x{tag_id:04X} is sent twice")
        seen.add(tag_id)
        try:
            tag = Tag(tag_id)
        except ValueError:
            tlvs.other[tag_id] = value
            continue
        if tag in _INT_TAGS:
            if length != 1:
                raise PduError(f"TLV {tag.name} has length {length}, not 1")
            setattr(tlvs, _INT_TAGS[tag], value[0])
            continue
        name, width = _TEXT_TAGS[tag]
        if width and length > width:
            raise PduError(f"TLV {tag.name} has length {length}, over its {width}")
        setattr(tlvs, name, value.split(b"\0", 1)[0].decode("latin-1"))
    return tlvs


def _content_of(r: Reader) -> bytes:
    return r.take(r.byte("MsgLength"), "MsgContent")


def _decode_submit(r: Reader) -> Submit:
    b = Submit(msg_type=r.byte("MsgType"), need_report=r.byte("NeedReport"),
               priority=r.byte("Priority"), service_id=r.text(10, "ServiceID"),
               fee_type=r.text(2, "FeeType"), fee_code=r.text(6, "FeeCode"),
               fixed_fee=r.text(6, "FixedFee"), msg_format=r.byte("MsgFormat"),
               valid_time=r.text(17, "ValidTime"), at_time=r.text(17, "AtTime"),
               src_term_id=r.text(21, "SrcTermID"), charge_term_id=r.text(21, "ChargeTermID"))
    count = r.byte("DestTermIDCount")
    if not 1 <= count <= MAX_DESTINATIONS:
        raise PduError(f"DestTermIDCount {count} is not 1 to {MAX_DESTINATIONS}")
    b.dest_term_ids = [r.text(21, "DestTermID") for _ in range(count)]
    b.msg_content = _content_of(r)
    b.reserve = r.text(8, "Reserve")
    b.tlvs = decode_tlvs(r)
    return b


def _decode_deliver(r: Reader) -> Deliver:
    b = Deliver(msg_id=r.take(MSG_ID_OCTETS, "MsgID"), is_report=r.byte("IsReport"),
                msg_format=r.byte("MsgFormat"), recv_time=r.text(14, "RecvTime"),
                src_term_id=r.text(21, "SrcTermID"), dest_term_id=r.text(21, "DestTermID"))
    if b.is_report > 1:
        raise PduError(f"IsReport {b.is_report} is neither 0 nor 1")
    b.msg_content = _content_of(r)
    b.reserve = r.text(8, "Reserve")
    b.tlvs = decode_tlvs(r)
    return b


def _decode_body(command: Command, r: Reader) -> Body:
    if command in (Command.SUBMIT_RESP, Command.DELIVER_RESP):
        return MsgIdResp(r.take(MSG_ID_OCTETS, "MsgID"), r.u32("Status"))
    if command is Command.SUBMIT:
        return _decode_submit(r)
    if command is Command.DELIVER:
        return _decode_deliver(r)
    if command is Command.LOGIN:
        return Login(r.text(8, "ClientID"), r.take(16, "AuthenticatorClient"),
                     r.byte("LoginMode"), r.u32("TimeStamp"), r.byte("ClientVersion"))
    if command is Command.LOGIN_RESP:
        return LoginResp(r.u32("Status"), r.take(16, "AuthenticatorServer"),
                         r.byte("ServerVersion"))
    return None  # ACTIVE_TEST, EXIT and their responses: a header alone


def decode(data: bytes) -> Pdu:
    """One whole PDU (header included) -> Pdu; raises PduError for malformed bytes."""
    if len(data) < 12:
        raise PduError("PDU shorter than its 12-octet header")
    length, command_id, sequence = HEADER.unpack_from(data)
    command, body = _CODEC.read(data, length, command_id, sequence, _decode_body)
    return Pdu(command, sequence, body)


_CODEC = Codec(12, "PacketLength", "RequestID", {int(c): c for c in Command}, PduError)


class Framer(framing.Framer):
    """Cuts a byte stream into whole SMGP PDUs (12-octet header, PacketLength first)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(12, MAX_PDU, PduError, "PacketLength")
