"""CMPP 2.0 / 3.0 PDUs: bytes <-> values, for both ends of a link (our SP client and a
simulated ISMG).

Covers what an SP's link needs: CMPP_CONNECT (with the MD5 authenticators of both ends),
CMPP_SUBMIT with its 8-byte Msg_Id, CMPP_DELIVER carrying replies and status reports,
CMPP_ACTIVE_TEST and CMPP_TERMINATE, each with its response. The two versions share the
header and the PDU set but not the widths: 3.0 has 32-octet terminal ids with a terminal
type, a LinkID, and a 4-octet status/result where 2.0 has one octet (docs/channels.md "CMPP").
Every PDU is `Pdu(command, sequence, body)`; `encode(pdu, version)` and `decode(data,
version)` are the only two entry points, and `Framer` cuts a TCP byte stream into PDUs.
Text encodings, long-message parts, Msg_Id and the authenticators live in `cmpp_text`.

Fixed-width octet strings are str (latin-1, so any octet survives a round trip), padded with
NULs on the right and read up to the first NUL. Decoding is strict: a PDU whose fields do
not add up to its Total_Length, a count or length out of the spec's bounds, or an unknown
Command_Id is refused with a `PduError` naming the field, never half-decoded. The fields
are read and written with `octets`, as SGIP's and SMGP's are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from . import framing
from .octets import Codec, Reader, padded

HEADER = struct.Struct(">III")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
MAX_PDU = 8 * 1024
"""Larger Total_Length is a broken peer: a 3.0 submit to 100 numbers is about 3.5 KiB."""
MAX_DESTINATIONS = 100
"""DestUsr_tl's bound (CMPP 2.0 §7.4.3.1)."""
MAX_CONTENT = 160
"""Msg_Length's bound: < 160 octets of ASCII, <= 140 of anything else; 160 is tolerated."""


class Version(IntEnum):
    """The Version octet of CMPP_CONNECT: major in the high nibble, minor in the low."""

    V20 = 0x20
    V30 = 0x30


def layout_of(version: int) -> Version:
    """The field layout a Version octet speaks: 0x20 and 0x21 (2.1) are 2.0's, 0x30 3.0's."""
    major = version >> 4
    if major == 2:
        return Version.V20
    if major == 3:
        return Version.V30
    raise PduError(f"CMPP version 0x{version:02X} is neither 2.x nor 3.x")


class Command(framing.CommandId):
    CONNECT = 0x00000001
    CONNECT_RESP = 0x80000001
    TERMINATE = 0x00000002
    TERMINATE_RESP = 0x80000002
    SUBMIT = 0x00000004
    SUBMIT_RESP = 0x80000004
    DELIVER = 0x00000005
    DELIVER_RESP = 0x80000005
    ACTIVE_TEST = 0x00000008
    ACTIVE_TEST_RESP = 0x80000008

    @property
    def title(self) -> str:
        """`CMPP_SUBMIT_RESP`: the spec's name, as refusals quote it."""
        return f"CMPP_{self.name}"


class ConnectStatus(IntEnum):
    """CMPP_CONNECT_RESP Status (2.0 §7.4.2.2)."""

    OK = 0
    BAD_STRUCTURE = 1
    BAD_SOURCE_ADDR = 2
    AUTH_FAILED = 3
    VERSION_TOO_HIGH = 4


class Result(IntEnum):
    """CMPP_SUBMIT_RESP / CMPP_DELIVER_RESP Result (2.0 §7.4.3.2; 3.0 adds 9-13)."""

    OK = 0
    BAD_STRUCTURE = 1
    BAD_COMMAND = 2
    DUPLICATE_SEQUENCE = 3
    BAD_LENGTH = 4
    BAD_FEE_CODE = 5
    TOO_LONG = 6
    BAD_SERVICE_ID = 7
    FLOW_CONTROL = 8
    NOT_SERVED_FEE_TERMINAL = 9
    BAD_SRC_ID = 10
    BAD_MSG_SRC = 11
    BAD_FEE_TERMINAL_ID = 12
    BAD_DEST_TERMINAL_ID = 13


@dataclass(slots=True)
class Connect:
    source_addr: str = ""
    """The SP's enterprise code (6 octets)."""
    authenticator: bytes = bytes(16)
    """AuthenticatorSource: `cmpp_text.source_authenticator`."""
    version: int = Version.V30
    timestamp: int = 0
    """MMDDHHMMSS as a number (China time): 1207185300 is 7 December, 18:53:00."""


@dataclass(slots=True)
class ConnectResp:
    status: int = 0
    authenticator: bytes = bytes(16)
    """AuthenticatorISMG: `cmpp_text.ismg_authenticator`."""
    version: int = Version.V30


@dataclass(slots=True)
class Submit:
    """The body of CMPP_SUBMIT, 3.0's fields a superset of 2.0's: fields 2.0 lacks
    (`fee_terminal_type`, `dest_terminal_type`, `link_id`) are not sent in 2.0, and
    `reserve` (2.0's last 8 octets) is not sent in 3.0."""

    dest_terminal_ids: list[str] = field(default_factory=list)
    msg_content: bytes = b""
    msg_fmt: int = 0
    src_id: str = ""
    """Our service code and the extension (sub-port) replies come back to."""
    msg_src: str = ""
    """The SP's enterprise code (6 octets)."""
    service_id: str = ""
    registered_delivery: int = 0
    pk_total: int = 1
    pk_number: int = 1
    tp_udhi: int = 0
    tp_pid: int = 0
    msg_level: int = 0
    fee_user_type: int = 0
    fee_terminal_id: str = ""
    fee_terminal_type: int = 0
    fee_type: str = ""
    """01 free, 02 per message, 03 monthly, 04 capped, 05 SP-billed (2 octets)."""
    fee_code: str = ""
    """In fen (6 octets)."""
    valid_time: str = ""
    at_time: str = ""
    dest_terminal_type: int = 0
    link_id: str = ""
    reserve: str = ""
    msg_id: int = 0
    """0 when the SP sends it; the ISMG gives the id in CMPP_SUBMIT_RESP."""


@dataclass(slots=True)
class Deliver:
    """The body of CMPP_DELIVER: a reply (registered_delivery 0) or a status report (1,
    `msg_content` then holds a `Report`: `cmpp_text.decode_report`)."""

    msg_id: int = 0
    dest_id: str = ""
    """Our service code with the extension the handset replied to."""
    src_terminal_id: str = ""
    msg_content: bytes = b""
    msg_fmt: int = 0
    registered_delivery: int = 0
    service_id: str = ""
    tp_pid: int = 0
    tp_udhi: int = 0
    src_terminal_type: int = 0
    link_id: str = ""
    reserve: str = ""


@dataclass(slots=True)
class MsgIdResp:
    """CMPP_SUBMIT_RESP (the ISMG's id of the message) and CMPP_DELIVER_RESP (the
    deliver's id echoed back)."""

    msg_id: int = 0
    result: int = 0


@dataclass(slots=True)
class ActiveTestResp:
    reserved: int = 0


Body = Connect | ConnectResp | Submit | Deliver | MsgIdResp | ActiveTestResp | None


@dataclass(slots=True)
class Pdu:
    command: Command
    sequence: int
    body: Body | bytes = None
    """Decoded, or the whole PDU's bytes for a request a link hands over undecoded (its
    `raw_requests`)."""


class PduError(ValueError):
    """Bytes that are not a valid CMPP PDU; `sequence` says which request to answer (0 when
    the header itself is broken)."""

    def __init__(self, message: str, sequence: int = 0) -> None:
        super().__init__(message)
        self.sequence = sequence


# ---- encoding ----------------------------------------------------------------------------


def _terminal_width(version: Version) -> int:
    return 32 if version is Version.V30 else 21


def _status(value: int, version: Version) -> bytes:
    return _U32.pack(value) if version is Version.V30 else bytes((value,))


def _encode_submit(b: Submit, version: Version) -> bytes:
    wide = version is Version.V30
    width = _terminal_width(version)
    if not 1 <= len(b.dest_terminal_ids) <= MAX_DESTINATIONS:
        raise ValueError(f"CMPP_SUBMIT takes 1 to {MAX_DESTINATIONS} destinations, "
                         f"not {len(b.dest_terminal_ids)}")
    if len(b.msg_content) > MAX_CONTENT:
        raise ValueError(f"Msg_Content of {len(b.msg_content)} octets is over {MAX_CONTENT}")
    return b"".join((
        _U64.pack(b.msg_id), bytes((b.pk_total, b.pk_number, b.registered_delivery,
                                    b.msg_level)),
        padded(b.service_id, 10, "Service_Id"), bytes((b.fee_user_type,)),
        padded(b.fee_terminal_id, width, "Fee_terminal_Id"),
        bytes((b.fee_terminal_type,)) if wide else b"",
        bytes((b.tp_pid, b.tp_udhi, b.msg_fmt)), padded(b.msg_src, 6, "Msg_src"),
        padded(b.fee_type, 2, "FeeType"), padded(b.fee_code, 6, "FeeCode"),
        padded(b.valid_time, 17, "ValId_Time"), padded(b.at_time, 17, "At_Time"),
        padded(b.src_id, 21, "Src_Id"), bytes((len(b.dest_terminal_ids),)),
        *(padded(d, width, "Dest_terminal_Id") for d in b.dest_terminal_ids),
        bytes((b.dest_terminal_type,)) if wide else b"",
        bytes((len(b.msg_content),)), b.msg_content,
        padded(b.link_id, 20, "LinkID") if wide else padded(b.reserve, 8, "Reserve"),
    ))


def _encode_deliver(b: Deliver, version: Version) -> bytes:
    wide = version is Version.V30
    if len(b.msg_content) > MAX_CONTENT:
        raise ValueError(f"Msg_Content of {len(b.msg_content)} octets is over {MAX_CONTENT}")
    return b"".join((
        _U64.pack(b.msg_id), padded(b.dest_id, 21, "Dest_Id"),
        padded(b.service_id, 10, "Service_Id"), bytes((b.tp_pid, b.tp_udhi, b.msg_fmt)),
        padded(b.src_terminal_id, _terminal_width(version), "Src_terminal_Id"),
        bytes((b.src_terminal_type,)) if wide else b"",
        bytes((b.registered_delivery, len(b.msg_content))), b.msg_content,
        padded(b.link_id, 20, "LinkID") if wide else padded(b.reserve, 8, "Reserved"),
    ))


def encode_body(body: Body, version: Version) -> bytes:
    if body is None:
        return b""
    if isinstance(body, Submit):
        return _encode_submit(body, version)
    if isinstance(body, Deliver):
        return _encode_deliver(body, version)
    if isinstance(body, MsgIdResp):
        return _U64.pack(body.msg_id) + _status(body.result, version)
    if isinstance(body, Connect):
        if len(body.authenticator) != 16:
            raise ValueError("AuthenticatorSource is 16 octets")
        return b"".join((padded(body.source_addr, 6, "Source_Addr"), body.authenticator,
                         bytes((body.version,)), _U32.pack(body.timestamp)))
    if isinstance(body, ConnectResp):
        if len(body.authenticator) != 16:
            raise ValueError("AuthenticatorISMG is 16 octets")
        return _status(body.status, version) + body.authenticator + bytes((body.version,))
    return bytes((body.reserved,))


def encode(pdu: Pdu, version: Version) -> bytes:
    """The PDU's bytes in the layout of `version` (the one the link's CONNECT agreed)."""
    body = pdu.body if isinstance(pdu.body, bytes) else encode_body(pdu.body, version)
    return HEADER.pack(12 + len(body), pdu.command, pdu.sequence) + body


class SubmitTemplate:
    """The CMPP_SUBMIT bodies one SP writes, with the fields that never change between its
    messages (Service_Id, fees, Msg_src, ...) encoded once: a body is then one join of the
    parts that do (the hot path of the channel's submits). Gives the same bytes as
    `encode_body(Submit(...))` with those fields (tests/dispatch/test_cmpp_pdu.py)."""

    __slots__ = ("_dest_type", "_head", "_middle", "_tail", "_width")

    def __init__(self, version: Version, *, service_id: str = "", registered_delivery: int = 0,
                 msg_level: int = 0, fee_user_type: int = 0, fee_terminal_id: str = "",
                 fee_type: str = "", fee_code: str = "", msg_src: str = "") -> None:
        wide = version is Version.V30
        self._width = _terminal_width(version)
        self._head = b"".join((
            bytes((registered_delivery, msg_level)), padded(service_id, 10, "Service_Id"),
            bytes((fee_user_type,)), padded(fee_terminal_id, self._width, "Fee_terminal_Id"),
            b"\0" if wide else b""))
        self._middle = b"".join((padded(msg_src, 6, "Msg_src"), padded(fee_type, 2, "FeeType"),
                                 padded(fee_code, 6, "FeeCode"), bytes(34)))
        self._dest_type = b"\0" if wide else b""
        self._tail = bytes(20 if wide else 8)

    def body(self, src_id: str, dest: str, content: bytes, msg_fmt: int, pk_total: int = 1,
             pk_number: int = 1, tp_udhi: int = 0) -> bytes:
        """One destination; an empty Msg_Id, ValId_Time, At_Time and LinkID / Reserve."""
        source, terminal = src_id.encode("latin-1"), dest.encode("latin-1")
        if len(source) > 21 or len(terminal) > self._width or len(content) > MAX_CONTENT:
            raise ValueError(f"CMPP_SUBMIT field too long: Src_Id {src_id!r}, "
                             f"Dest_terminal_Id {dest!r} or {len(content)} octets of content")
        return b"".join((
            bytes((0, 0, 0, 0, 0, 0, 0, 0, pk_total, pk_number)), self._head,
            bytes((0, tp_udhi, msg_fmt)), self._middle, source.ljust(21, b"\0"), b"\x01",
            terminal.ljust(self._width, b"\0"), self._dest_type, bytes((len(content),)),
            content, self._tail))


def peek_report(data: bytes, version: Version) -> tuple[int, bytes] | None:
    """The Msg_Id and Msg_Content of a whole CMPP_DELIVER (header included) that carries a
    status report, read at their fixed places; None for a reply, or for bytes that do not
    add up (`decode` then says what is wrong). The hot path of the channel's receipts."""
    width = _terminal_width(version)
    wide = version is Version.V30
    at = 54 + width + wide  # Registered_Delivery: after the header and the fixed fields
    if len(data) < at + 2 or data[at] != 1:
        return None
    length = data[at + 1]
    if len(data) != at + 2 + length + (20 if wide else 8):
        return None
    return _U64.unpack_from(data, 12)[0], data[at + 2:at + 2 + length]


def peek_submit(data: bytes, version: Version) -> tuple[str, str] | None:
    """The Src_Id and first Dest_terminal_Id of a whole CMPP_SUBMIT, read at their fixed
    places (the simulated gateway's hot path); None when the PDU is too short for them."""
    width = _terminal_width(version)
    at = 12 + 8 + 4 + 10 + 1 + width + (version is Version.V30) + 3 + 6 + 2 + 6 + 17 + 17
    if len(data) < at + 22 + width:
        return None
    source = data[at:at + 21].split(b"\0", 1)[0].decode("latin-1")
    dest = data[at + 22:at + 22 + width].split(b"\0", 1)[0].decode("latin-1")
    return source, dest


# ---- decoding ----------------------------------------------------------------------------


def _status_of(r: Reader, version: Version, name: str) -> int:
    """A response's Status or Result: 4 octets in 3.0, one in 2.0."""
    return r.u32(name) if version is Version.V30 else r.byte(name)


def _decode_submit(r: Reader, version: Version) -> Submit:
    wide, width = version is Version.V30, _terminal_width(version)
    b = Submit(msg_id=r.u64("Msg_Id"), pk_total=r.byte("Pk_total"),
               pk_number=r.byte("Pk_number"), registered_delivery=r.byte("Registered_Delivery"),
               msg_level=r.byte("Msg_level"), service_id=r.text(10, "Service_Id"),
               fee_user_type=r.byte("Fee_UserType"),
               fee_terminal_id=r.text(width, "Fee_terminal_Id"))
    if wide:
        b.fee_terminal_type = r.byte("Fee_terminal_type")
    b.tp_pid, b.tp_udhi, b.msg_fmt = r.byte("TP_pId"), r.byte("TP_udhi"), r.byte("Msg_Fmt")
    b.msg_src, b.fee_type = r.text(6, "Msg_src"), r.text(2, "FeeType")
    b.fee_code, b.valid_time = r.text(6, "FeeCode"), r.text(17, "ValId_Time")
    b.at_time, b.src_id = r.text(17, "At_Time"), r.text(21, "Src_Id")
    count = r.byte("DestUsr_tl")
    if not 1 <= count <= MAX_DESTINATIONS:
        raise PduError(f"DestUsr_tl {count} is not 1 to {MAX_DESTINATIONS}")
    b.dest_terminal_ids = [r.text(width, "Dest_terminal_Id") for _ in range(count)]
    if wide:
        b.dest_terminal_type = r.byte("Dest_terminal_type")
    b.msg_content, b.link_id, b.reserve = _content_and_tail(r, wide)
    return b


def _content_and_tail(r: Reader, wide: bool) -> tuple[bytes, str, str]:
    """Msg_Content and the field after it: 3.0's LinkID or 2.0's Reserve ("" for the other)."""
    length = r.byte("Msg_Length")
    if length > MAX_CONTENT:
        raise PduError(f"Msg_Length {length} is over {MAX_CONTENT}")
    content = r.take(length, "Msg_Content")
    if wide:
        return content, r.text(20, "LinkID"), ""
    return content, "", r.text(8, "Reserve")


def _decode_deliver(r: Reader, version: Version) -> Deliver:
    wide = version is Version.V30
    b = Deliver(msg_id=r.u64("Msg_Id"), dest_id=r.text(21, "Dest_Id"),
                service_id=r.text(10, "Service_Id"), tp_pid=r.byte("TP_pid"),
                tp_udhi=r.byte("TP_udhi"), msg_fmt=r.byte("Msg_Fmt"),
                src_terminal_id=r.text(_terminal_width(version), "Src_terminal_Id"))
    if wide:
        b.src_terminal_type = r.byte("Src_terminal_type")
    b.registered_delivery = r.byte("Registered_Delivery")
    if b.registered_delivery > 1:
        raise PduError(f"Registered_Delivery {b.registered_delivery} is neither 0 nor 1")
    b.msg_content, b.link_id, b.reserve = _content_and_tail(r, wide)
    return b


def _decode_body(command: Command, r: Reader, version: Version) -> Body:
    if command in (Command.SUBMIT_RESP, Command.DELIVER_RESP):
        return MsgIdResp(r.u64("Msg_Id"), _status_of(r, version, "Result"))
    if command is Command.SUBMIT:
        return _decode_submit(r, version)
    if command is Command.DELIVER:
        return _decode_deliver(r, version)
    if command is Command.CONNECT:
        return Connect(r.text(6, "Source_Addr"), r.take(16, "AuthenticatorSource"),
                       r.byte("Version"), r.u32("Timestamp"))
    if command is Command.CONNECT_RESP:
        return ConnectResp(_status_of(r, version, "Status"), r.take(16, "AuthenticatorISMG"),
                           r.byte("Version"))
    if command is Command.ACTIVE_TEST_RESP:
        return ActiveTestResp(r.byte("Reserved"))
    return None  # TERMINATE, TERMINATE_RESP, ACTIVE_TEST: a header alone


def decode(data: bytes, version: Version) -> Pdu:
    """One whole PDU (header included) in the layout of `version` -> Pdu; raises PduError
    for malformed bytes."""
    if len(data) < 12:
        raise PduError("PDU shorter than its 12-octet header")
    length, command_id, sequence = HEADER.unpack_from(data)
    command, body = _CODEC.read(data, length, command_id, sequence, _decode_body, version)
    return Pdu(command, sequence, body)


_CODEC = Codec(12, "Total_Length", "Command_Id", {int(c): c for c in Command}, PduError)


class Framer(framing.Framer):
    """Cuts a byte stream into whole CMPP PDUs (12-octet header, Total_Length first)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(12, MAX_PDU, PduError, "Total_Length")
