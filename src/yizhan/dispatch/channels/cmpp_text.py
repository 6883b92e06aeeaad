"""What CMPP carries inside its fields: the login's authenticators, the 8-byte Msg_Id, the
text of a message (Msg_Fmt) and its parts, and the status report of a CMPP_DELIVER.

Consumes values a CMPP channel has (the SP's code and secret, the clock, a message's text)
and gives the field values `cmpp_pdu` encodes; the reverse for what an ISMG sends. Long text
is cut by `domain.segments` (the SMPP channel's splitter and concatenation header), so a
CMPP part holds what an SMPP part does: 67 UCS-2 units or 153 GSM-compatible characters
after the 6-octet UDH. GBK parts, which segments does not know, are cut here by octets.

The login timestamp is China time, whatever the host's zone: gateways refuse a skewed one
(docs/channels.md "CMPP").
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from yizhan.domain import segments
from yizhan.domain.timezone import CHINA

from .cmpp_pdu import ConnectStatus, PduError, Version


class MsgFmt(IntEnum):
    """Msg_Fmt values (CMPP 2.0 §7.4.3.1)."""

    ASCII = 0
    WRITE_CARD = 3
    BINARY = 4
    UCS2 = 8
    GBK = 15


SINGLE_OCTETS = 140
"""A part of any format but ASCII holds at most 140 octets, header included."""
_UDH_OCTETS = {False: 6, True: 7}


# ---- the login -----------------------------------------------------------------------------


def timestamp_of(moment: datetime) -> int:
    """CMPP_CONNECT's Timestamp: MMDDHHMMSS of `moment` in China time, as a number."""
    return int(moment.astimezone(CHINA).strftime("%m%d%H%M%S"))


def source_authenticator(source_addr: str, secret: str, timestamp: int) -> bytes:
    """AuthenticatorSource = MD5(Source_Addr + 9 zero octets + shared secret + timestamp),
    the timestamp written as its 10 digits (0107... in January: a leading zero kept)."""
    return hashlib.md5(b"".join((
        source_addr.encode("latin-1"), bytes(9), secret.encode("utf-8"),
        f"{timestamp:010d}".encode("ascii")))).digest()


def ismg_authenticator(status: int, authenticator_source: bytes, secret: str,
                       version: Version) -> bytes:
    """AuthenticatorISMG = MD5(Status + AuthenticatorSource + shared secret), Status in its
    width on the wire (1 octet in 2.0, 4 in 3.0)."""
    raw = struct.pack(">I", status) if version is Version.V30 else bytes((status,))
    return hashlib.md5(raw + authenticator_source + secret.encode("utf-8")).digest()


def check_source(authenticator: bytes, source_addr: str, secret: str, timestamp: int) -> bool:
    """Whether a CMPP_CONNECT proves it knows the secret (the ISMG's check)."""
    return hmac.compare_digest(authenticator,
                               source_authenticator(source_addr, secret, timestamp))


def check_ismg(authenticator: bytes, status: int, authenticator_source: bytes, secret: str,
               version: Version) -> bool:
    """Whether a CMPP_CONNECT_RESP comes from a gateway that knows the secret (the SP's
    check). In 3.0 the 1-octet Status form is accepted too: gateways built on gocmpp hash
    Status as one octet in both versions."""
    forms = [ismg_authenticator(status, authenticator_source, secret, version)]
    if version is Version.V30 and status <= 0xFF:
        forms.append(ismg_authenticator(status, authenticator_source, secret, Version.V20))
    return any(hmac.compare_digest(authenticator, form) for form in forms)


def connect_status_text(status: int) -> str:
    """`AUTH_FAILED (3)` for a known CMPP_CONNECT_RESP Status, else `status 9`."""
    try:
        return f"{ConnectStatus(status).name} ({status})"
    except ValueError:
        return f"status {status}"


# ---- Msg_Id --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MsgId:
    """The 64 bits of a Msg_Id, high to low: month (4), day (5), hour (5), minute (6),
    second (6), the gateway's code (22) and a sequence (16)."""

    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway: int
    sequence: int

    def pack(self) -> int:
        value = 0
        for name, bits in _MSG_ID_FIELDS:
            part = getattr(self, name)
            if not 0 <= part < 1 << bits:
                raise ValueError(f"Msg_Id {name} {part} does not fit in {bits} bits")
            value = value << bits | part
        return value

    @classmethod
    def unpack(cls, value: int) -> MsgId:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"Msg_Id {value} is not 64 bits")
        parts: list[int] = []
        for _, bits in reversed(_MSG_ID_FIELDS):
            parts.append(value & ((1 << bits) - 1))
            value >>= bits
        return cls(*reversed(parts))

    @classmethod
    def at(cls, moment: datetime, gateway: int, sequence: int) -> MsgId:
        """The id a gateway gives at `moment` (China time)."""
        local = moment.astimezone(CHINA)
        return cls(local.month, local.day, local.hour, local.minute, local.second, gateway,
                   sequence)


_MSG_ID_FIELDS = (("month", 4), ("day", 5), ("hour", 5), ("minute", 6), ("second", 6),
                  ("gateway", 22), ("sequence", 16))


# ---- text and parts ----------------------------------------------------------------------


def format_for(text: str) -> MsgFmt:
    """ASCII for text every handset shows from the GSM alphabet, else UCS2."""
    if text.isascii() and segments.encoding_of(text) is segments.Encoding.GSM7:
        return MsgFmt.ASCII
    return MsgFmt.UCS2


def encode_text(text: str, fmt: MsgFmt) -> bytes:
    """The octets of `text` in Msg_Fmt `fmt` (ASCII, UCS2 or GBK); ValueError when the text
    has a character the format cannot carry."""
    if fmt is MsgFmt.UCS2:
        return text.encode("utf-16-be", "surrogatepass")
    if fmt is MsgFmt.ASCII:
        return text.encode("ascii")
    if fmt is MsgFmt.GBK:
        return text.encode("gbk")
    raise ValueError(f"Msg_Fmt {fmt} carries no text")


def decode_text(octets: bytes, fmt: int) -> str:
    """The text of a Msg_Content (header stripped) in Msg_Fmt `fmt`; an octet the format
    does not define reads as U+FFFD. Binary formats raise PduError."""
    if fmt == MsgFmt.UCS2:
        return octets.decode("utf-16-be", "replace")
    if fmt == MsgFmt.ASCII:
        return octets.decode("ascii", "replace")
    if fmt == MsgFmt.GBK:
        return octets.decode("gbk", "replace")
    raise PduError(f"Msg_Fmt {fmt} is not text")


def strip_udh(content: bytes) -> bytes:
    """Msg_Content without its user data header (TP_udhi=1); PduError if the header's
    length runs past the content."""
    if not content or content[0] + 1 > len(content):
        raise PduError("the user data header runs past Msg_Content")
    return content[content[0] + 1:]


def contents(text: str, fmt: MsgFmt, reference: int, *, wide: bool = False) -> list[bytes]:
    """The Msg_Content of each CMPP_SUBMIT that carries `text`: one when it fits, else one
    per part, each after the concatenation header (send with TP_udhi=1, Pk_total and
    Pk_number); `wide` takes the 7-octet header with a 16-bit reference."""
    whole = encode_text(text, fmt)
    if fmt is MsgFmt.GBK:
        if len(whole) <= SINGLE_OCTETS:
            return [whole]
        parts = _octet_parts(text, "gbk", SINGLE_OCTETS - _UDH_OCTETS[wide])
    else:
        enc = segments.Encoding.UCS2 if fmt is MsgFmt.UCS2 else None
        parts = segments.split(text, wide_reference=wide, encoding=enc)
        if len(parts) == 1:
            return [whole]
    total = len(parts)
    if total > 255:
        raise ValueError(f"text of {total} parts is over the 255 a header can number")
    return [segments.udh(reference, total, n, wide=wide) + encode_text(part, fmt)
            for n, part in enumerate(parts, 1)]


def _octet_parts(text: str, codec: str, limit: int) -> list[str]:
    """Greedy parts of at most `limit` octets, a character never cut in two."""
    parts: list[str] = []
    start, used = 0, 0
    for i, char in enumerate(text):
        width = len(char.encode(codec))
        if used + width > limit:
            parts.append(text[start:i])
            start, used = i, 0
        used += width
    parts.append(text[start:])
    return parts


def reassemble(contents_: list[bytes], fmt: int) -> str:
    """The text of the parts of one message, in any order (by their header's number)."""
    numbered: list[tuple[int, bytes]] = []
    for content in contents_:
        body = strip_udh(content)
        header = content[1:content[0] + 1]
        if len(header) < 5 or header[0] not in (0x00, 0x08):
            raise PduError("the user data header has no concatenation element")
        numbered.append((header[-1], body))
    return "".join(decode_text(body, fmt) for _, body in sorted(numbered))


# ---- status reports ------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    """The Msg_Content of a CMPP_DELIVER with Registered_Delivery=1."""

    msg_id: int
    """The Msg_Id CMPP_SUBMIT_RESP gave the message reported on."""
    stat: str
    """DELIVRD, EXPIRED, UNDELIV, REJECTD, ... or a gateway's own code (7 octets)."""
    submit_time: str = ""
    """YYMMDDHHMM."""
    done_time: str = ""
    dest_terminal_id: str = ""
    smsc_sequence: int = 0


_REPORTS = {version: struct.Struct(f">Q7s10s10s{32 if version is Version.V30 else 21}sI")
            for version in Version}


def _report_struct(version: Version) -> struct.Struct:
    return _REPORTS[version]


def encode_report(report: Report, version: Version) -> bytes:
    fields = (report.stat, report.submit_time, report.done_time, report.dest_terminal_id)
    raw = [value.encode("latin-1") for value in fields]
    layout = _report_struct(version)
    for value, width in zip(raw, (7, 10, 10, layout.size - 29), strict=True):
        if len(value) > width:
            raise ValueError(f"status report field {value!r} is longer than {width} octets")
    return layout.pack(report.msg_id, *raw, report.smsc_sequence)


def decode_report(content: bytes, version: Version) -> Report:
    """A status report's fields; PduError when the content is not one (60 octets in 2.0,
    71 in 3.0)."""
    layout = _report_struct(version)
    if len(content) != layout.size:
        raise PduError(f"a status report is {layout.size} octets in CMPP "
                       f"{version >> 4}.0, not {len(content)}")
    msg_id, *raw, sequence = layout.unpack(content)
    stat, submit_time, done_time, dest = (
        value.split(b"\0", 1)[0].decode("latin-1") for value in raw)
    return Report(msg_id, stat, submit_time, done_time, dest, sequence)
