"""SMPP 3.4 PDUs: bytes <-> values, for both ends of a bind (our ESME and the simulator SMSC).

Covers the operations a transceiver needs: bind_transmitter/receiver/transceiver and their
responses, submit_sm and deliver_sm (same body layout) with their responses, enquire_link,
unbind, generic_nack, and optional parameters (TLVs), which are kept as raw bytes by tag so a
vendor TLV never breaks decoding (smpplib raises on them, aiosmpplib chokes on octets >= 0x80:
docs/channels.md "Why our own SMPP stack"). Every PDU is `Pdu(command, sequence, status, body)`;
`encode` and `decode` are the only two entry points, and `Framer` cuts a TCP byte stream into PDUs.

Octet strings are bytes; C-octet strings are str (latin-1, so any octet survives a round
trip). A response with a non-zero status may come without a body (SMPP 3.4 §4.4.2): decoding
tolerates that and gives the body's defaults.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from yizhan.domain import segments

from . import framing

HEADER = struct.Struct(">IIII")
_TLV = struct.Struct(">HH")
MAX_PDU = 64 * 1024
"""Larger command_length is a broken peer, not a message: the link is dropped."""


class Command(framing.CommandId):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


BINDS = frozenset({Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER})


class Status(IntEnum):
    """command_status values (SMPP 3.4 §5.1.3) that Yizhan sends or treats specially."""

    ROK = 0x00
    RINVMSGLEN = 0x01
    RINVCMDLEN = 0x02
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RALYBND = 0x05
    RSYSERR = 0x08
    RINVSRCADR = 0x0A
    RINVDSTADR = 0x0B
    RINVMSGID = 0x0C
    RBINDFAIL = 0x0D
    RINVPASWD = 0x0E
    RINVSYSID = 0x0F
    RMSGQFUL = 0x14
    RINVESMCLASS = 0x43
    RSUBMITFAIL = 0x45
    RINVDSTTON = 0x50
    RINVDSTNPI = 0x51
    RINVSRCTON = 0x48
    RTHROTTLED = 0x58
    RX_T_APPN = 0x64
    RX_P_APPN = 0x65
    RX_R_APPN = 0x66
    RINVOPTPARSTREAM = 0xC0
    RUNKNOWNERR = 0xFF


def status_name(status: int) -> str:
    """`ESME_RTHROTTLED` for a known status, else `ESME_0x00000401` (vendor codes)."""
    try:
        return f"ESME_{Status(status).name}"
    except ValueError:
        return f"ESME_0x{status:08X}"


def parse_status(text: str) -> int:
    """`ESME_RINVDSTADR`, `RINVDSTADR`, `ESME_0x0000000B`, `0x0B` or `11` -> that status (the
    spellings `status_name` writes and carriers' documents use); ValueError otherwise."""
    name = text.strip().upper().removeprefix("ESME_")
    if name in Status.__members__:
        return int(Status[name])
    return int(name.lower(), 0)


class Tag(IntEnum):
    """Optional parameter tags Yizhan reads or writes (SMPP 3.4 §5.3.2)."""

    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    RECEIPTED_MESSAGE_ID = 0x001E
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(IntEnum):
    """message_state TLV values (SMPP 3.4 §5.2.28) and their receipt stat words."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


STATE_WORDS = {
    MessageState.ENROUTE: "ENROUTE", MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED", MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV", MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN", MessageState.REJECTED: "REJECTD",
}

ESM_UDHI = 0x40
"""esm_class bit: short_message starts with a user data header."""
ESM_RECEIPT = 0x04
"""esm_class message type: SMSC delivery receipt (in deliver_sm)."""


@dataclass(slots=True)
class Bind:
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True)
class BindResp:
    system_id: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class ShortMessage:
    """The body of submit_sm and deliver_sm (identical layouts, SMPP 3.4 §4.4.1 and §4.6.1)."""

    source_addr: str = ""
    destination_addr: str = ""
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class MessageIdResp:
    """submit_sm_resp and deliver_sm_resp: a message id (empty in deliver_sm_resp)."""

    message_id: str = ""


Body = Bind | BindResp | ShortMessage | MessageIdResp | bytes | None
"""bytes: a body already encoded (`SubmitTemplate`, pre-encoded receipts): sent as it is."""


@dataclass(slots=True)
class Pdu:
    command: Command
    sequence: int
    status: int = 0
    body: Body = None


class PduError(ValueError):
    """Bytes that are not a valid PDU. `sequence` and `status` say how to nack it."""

    def __init__(self, message: str, sequence: int = 0,
                 status: int = Status.RINVCMDLEN) -> None:
        super().__init__(message)
        self.sequence = sequence
        self.status = status


_BODY_TYPES: dict[Command, type[Bind] | type[BindResp] | type[ShortMessage]
                  | type[MessageIdResp]] = {
    Command.BIND_RECEIVER: Bind, Command.BIND_TRANSMITTER: Bind,
    Command.BIND_TRANSCEIVER: Bind, Command.BIND_RECEIVER_RESP: BindResp,
    Command.BIND_TRANSMITTER_RESP: BindResp, Command.BIND_TRANSCEIVER_RESP: BindResp,
    Command.SUBMIT_SM: ShortMessage, Command.DELIVER_SM: ShortMessage,
    Command.SUBMIT_SM_RESP: MessageIdResp, Command.DELIVER_SM_RESP: MessageIdResp,
}


# ---- encoding ----------------------------------------------------------------------------


def _c(text: str) -> bytes:
    return text.encode("latin-1") + b"\0"


def _tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(_TLV.pack(tag, len(value)) + value for tag, value in tlvs.items())


def _encode_short_message(b: ShortMessage) -> bytes:
    return b"".join((
        _c(b.service_type), bytes((b.source_addr_ton, b.source_addr_npi)), _c(b.source_addr),
        bytes((b.dest_addr_ton, b.dest_addr_npi)), _c(b.destination_addr),
        bytes((b.esm_class, b.protocol_id, b.priority_flag)), _c(b.schedule_delivery_time),
        _c(b.validity_period),
        bytes((b.registered_delivery, b.replace_if_present_flag, b.data_coding,
               b.sm_default_msg_id, len(b.short_message))),
        b.short_message, _tlvs(b.tlvs) if b.tlvs else b"",
    ))


def encode_body(body: Body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, ShortMessage):
        return _encode_short_message(body)
    if isinstance(body, MessageIdResp):
        return _c(body.message_id)
    if isinstance(body, Bind):
        return b"".join((_c(body.system_id), _c(body.password), _c(body.system_type),
                         bytes((body.interface_version, body.addr_ton, body.addr_npi)),
                         _c(body.address_range)))
    return _c(body.system_id) + _tlvs(body.tlvs)


def encode(pdu: Pdu) -> bytes:
    body = encode_body(pdu.body)
    return HEADER.pack(16 + len(body), pdu.command, pdu.status, pdu.sequence) + body


class SubmitTemplate:
    """The submit_sm / deliver_sm bodies one sender writes, with the fields that never change
    between its messages encoded once: a body is then one join of the parts that do (the hot
    path of both ends: every submit of the ESME, every receipt of the simulator). Gives the
    same bytes as encoding the equivalent `ShortMessage` (tests/dispatch/test_smpp_pdu.py).
    """

    __slots__ = ("_head", "_middle", "_registered")

    def __init__(self, *, service_type: str = "", source_ton: int = 0, source_npi: int = 0,
                 dest_ton: int = 0, dest_npi: int = 0, registered_delivery: int = 0) -> None:
        self._head = _c(service_type) + bytes((source_ton, source_npi))
        self._middle = bytes((0, dest_ton, dest_npi))
        self._registered = registered_delivery

    def body(self, source: str, dest: str, octets: bytes, data_coding: int = 0,
             esm_class: int = 0, tlvs: dict[int, bytes] | None = None) -> bytes:
        # after the destination: its NUL, esm_class, protocol_id, priority_flag, empty
        # schedule_delivery_time and validity_period, registered_delivery,
        # replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
        return b"".join((self._head, source.encode("latin-1"), self._middle,
                         dest.encode("latin-1"),
                         bytes((0, esm_class, 0, 0, 0, 0, self._registered, 0, data_coding, 0,
                                len(octets))),
                         octets, _tlvs(tlvs) if tlvs else b""))


# ---- decoding ----------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def cstr(self) -> str:
        end = self.data.index(b"\0", self.pos)
        value = self.data[self.pos:end].decode("latin-1")
        self.pos = end + 1
        return value

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def octets(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise IndexError("octet string runs past the PDU")
        value = self.data[self.pos:self.pos + n]
        self.pos += n
        return value

    def tlvs(self) -> dict[int, bytes]:
        found = _read_tlvs(self.data, self.pos)
        self.pos = len(self.data)
        return found


def _read_tlvs(data: bytes, pos: int) -> dict[int, bytes]:
    """The TLVs from `pos` to the end of the PDU."""
    found: dict[int, bytes] = {}
    unpack = _TLV.unpack_from
    size = len(data)
    while pos < size:
        if pos + 4 > size:
            raise IndexError("truncated TLV header")
        tag, length = unpack(data, pos)
        pos += 4
        if pos + length > size:
            raise IndexError("TLV value runs past the PDU")
        found[tag] = data[pos:pos + length]
        pos += length
    return found


def _decode_short_message(r: _Reader) -> ShortMessage:
    # The hot path of both ends (every submit and every receipt): fields are read with
    # bytes.index and plain indexing rather than a method call per octet.
    data, pos = r.data, r.pos
    find = data.index
    end = find(0, pos)
    service_type = data[pos:end].decode("latin-1")
    source_ton, source_npi = data[end + 1], data[end + 2]
    pos = end + 3
    end = find(0, pos)
    source = data[pos:end].decode("latin-1")
    dest_ton, dest_npi = data[end + 1], data[end + 2]
    pos = end + 3
    end = find(0, pos)
    dest = data[pos:end].decode("latin-1")
    esm_class, protocol_id, priority = data[end + 1], data[end + 2], data[end + 3]
    pos = end + 4
    end = find(0, pos)
    schedule = data[pos:end].decode("latin-1") if end > pos else ""
    pos = end + 1
    end = find(0, pos)
    validity = data[pos:end].decode("latin-1") if end > pos else ""
    registered, replace, coding, default_id, length = data[end + 1:end + 6]
    pos = end + 6
    if pos + length > len(data):
        raise IndexError("short_message runs past the PDU")
    r.pos = pos + length
    return ShortMessage(source, dest, data[pos:pos + length], service_type, source_ton,
                        source_npi, dest_ton, dest_npi, esm_class, protocol_id, priority,
                        schedule, validity, registered, replace, coding, default_id,
                        r.tlvs() if r.pos < len(data) else {})


def decode_short_message(body: bytes) -> ShortMessage:
    """An encoded submit_sm / deliver_sm body (a link's raw request) -> ShortMessage."""
    try:
        return _decode_short_message(_Reader(body, 0))
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed short message: {exc}") from None


def peek_short_message(body: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    """esm_class, short_message and TLVs of an encoded submit_sm / deliver_sm body, the rest
    skipped undecoded: all a receipt needs (the ESME's hot path; uplinks decode whole)."""
    try:
        esm_class, start, stop = _short_message_span(body)
        return esm_class, body[start:stop], _read_tlvs(body, stop) if stop < len(body) else {}
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed short message: {exc}") from None


def peek_text(body: bytes) -> str:
    """The text of an encoded submit_sm / deliver_sm body, as `text_of` reads it from the
    decoded message, the rest skipped undecoded (the simulated carrier's check of the
    signature on every submit; a text in `message_payload` is decoded whole)."""
    try:
        esm_class, start, stop = _short_message_span(body)
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed short message: {exc}") from None
    if start == stop:
        return text_of(decode_short_message(body))
    octets = body[start:stop]
    if esm_class & ESM_UDHI:
        octets = octets[octets[0] + 1:]
    enc = segments.Encoding.UCS2 if body[start - 3] == 8 else segments.Encoding.GSM7
    return segments.decode(octets, enc)


def _short_message_span(body: bytes) -> tuple[int, int, int]:
    """esm_class, and where short_message starts and stops, in an encoded submit_sm /
    deliver_sm body (IndexError, ValueError: malformed)."""
    find = body.index
    end = find(0, find(0, find(0) + 3) + 3)  # service_type, source_addr, destination
    esm_class = body[end + 1]
    end = find(0, find(0, end + 4) + 1)  # schedule_delivery_time, validity_period
    start = end + 6
    stop = start + body[end + 5]
    if stop > len(body):
        raise IndexError("short_message runs past the PDU")
    return esm_class, start, stop


def peek_receipt(body: bytes) -> tuple[int, bytes, bytes | None, bytes | None]:
    """esm_class, short_message and the receipted_message_id and message_state TLVs (None
    when absent) of an encoded deliver_sm body: what a receipt is read from, without a dict
    of its TLVs (the ESME's hot path: every receipt)."""
    try:
        esm_class, start, stop = _short_message_span(body)
        size = len(body)
        receipted = state = None
        pos, unpack = stop, _TLV.unpack_from
        while pos < size:
            if pos + 4 > size:
                raise IndexError("truncated TLV header")
            tag, length = unpack(body, pos)
            pos += 4
            if pos + length > size:
                raise IndexError("TLV value runs past the PDU")
            if tag == _RECEIPTED_MESSAGE_ID:
                receipted = body[pos:pos + length]
            elif tag == _MESSAGE_STATE:
                state = body[pos:pos + length]
            pos += length
        return esm_class, body[start:stop], receipted, state
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed short message: {exc}") from None


def peek_source(body: bytes) -> str:
    """source_addr of an encoded deliver_sm body (a receipt's handset), the rest unread."""
    try:
        start = body.index(0) + 3  # after service_type and the source's TON/NPI
        return body[start:body.index(0, start)].decode("latin-1")
    except ValueError as exc:
        raise PduError(f"malformed short message: {exc}") from None


def peek_addresses(body: bytes) -> tuple[str, str]:
    """source_addr and destination_addr of an encoded submit_sm / deliver_sm body, the rest
    unread (the scripted simulator's hot path: a receipt goes back between the two)."""
    try:
        find = body.index
        start = find(0) + 3  # after service_type and the source's TON/NPI
        end = find(0, start)
        return (body[start:end].decode("latin-1"),
                body[end + 3:find(0, end + 3)].decode("latin-1"))
    except ValueError as exc:
        raise PduError(f"malformed short message: {exc}") from None


def _decode_body(command: Command, r: _Reader) -> Body:
    kind = _BODY_TYPES.get(command)
    if kind is None:
        return None
    if kind is ShortMessage:
        return _decode_short_message(r)
    if kind is MessageIdResp:
        return MessageIdResp(r.cstr())
    if kind is Bind:
        return Bind(r.cstr(), r.cstr(), r.cstr(), r.byte(), r.byte(), r.byte(), r.cstr())
    return BindResp(r.cstr(), r.tlvs())


def decode(data: bytes) -> Pdu:
    """One whole PDU (header included) -> Pdu; raises PduError for malformed bytes."""
    if len(data) < 16:
        raise PduError("PDU shorter than its header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError("command_length does not match the PDU", sequence)
    command = _COMMANDS.get(command_id)
    if command is None:
        raise PduError(f"unknown command_id 0x{command_id:08X}", sequence, Status.RINVCMDID)
    if command_id in _ID_RESPONSES:  # the hot path of the ESME: read only the message id
        end = data.find(0, 16)
        if length > 16 and end < 0:
            raise PduError(f"malformed {command.name.lower()}: no NUL", sequence)
        message_id = data[16:end].decode("latin-1") if length > 16 else ""
        return Pdu(command, sequence, status, MessageIdResp(message_id))
    if length == 16 and command.is_response:  # an error response may omit its body
        return Pdu(command, sequence, status, _default_body(command))
    try:
        body = _decode_body(command, _Reader(data, 16))
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed {command.name.lower()}: {exc}", sequence) from None
    return Pdu(command, sequence, status, body)


_COMMANDS = {int(c): c for c in Command}
_RECEIPTED_MESSAGE_ID, _MESSAGE_STATE = int(Tag.RECEIPTED_MESSAGE_ID), int(Tag.MESSAGE_STATE)
_ID_RESPONSES = frozenset({int(Command.SUBMIT_SM_RESP), int(Command.DELIVER_SM_RESP)})


def _default_body(command: Command) -> Body:
    kind = _BODY_TYPES.get(command)
    return None if kind is None else kind()


class Framer(framing.Framer):
    """Cuts a byte stream into whole SMPP PDUs (16-octet header, command_length first)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(16, MAX_PDU, PduError, "command_length")


# ---- TLV values --------------------------------------------------------------------------


def tlv_int(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def tlv_cstr(value: str) -> bytes:
    return _c(value)


def read_tlv_cstr(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("latin-1")


def text_of(sm: ShortMessage) -> str:
    """The text of a submit_sm or deliver_sm (header stripped), decoded by data_coding
    (8: UCS-2, anything else read as GSM 03.38)."""
    octets = sm.short_message or sm.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")
    if sm.esm_class & ESM_UDHI and octets:
        octets = octets[octets[0] + 1:]
    enc = segments.Encoding.UCS2 if sm.data_coding == 8 else segments.Encoding.GSM7
    return segments.decode(octets, enc)
