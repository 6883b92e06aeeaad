"""What SMGP 3.0 carries inside its fields: the login's authenticators, the 10-octet MsgID,
the text of a message (MsgFormat) and its parts, and the status report of a Deliver.

Consumes values an SMGP channel has (the SP's account and secret, the clock, a message's
text) and gives the field values `smgp_pdu` encodes; the reverse for what an SMGW sends.
SMGP numbers its formats as CMPP does (0 ASCII, 8 UCS2, 15 GB18030/GBK) and carries long
text the same way (TP_udhi with a concatenation header in MsgContent, PkTotal/PkNumber as
TLVs), so text and parts are `cmpp_text`'s, with its errors re-raised as SMGP's.

The login timestamp is China time, whatever the host's zone, as in CMPP.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime

from yizhan.domain.timezone import CHINA

from . import cmpp_pdu, cmpp_text
from .cmpp_text import MsgFmt, format_for, timestamp_of
from .smgp_pdu import MSG_ID_OCTETS, PduError, Status

__all__ = ["MsgFmt", "MsgId", "Report", "check_client", "check_server",
           "client_authenticator", "contents", "decode_report", "decode_text",
           "encode_report", "encode_text", "format_for", "reassemble", "server_authenticator",
           "status_text", "strip_udh", "timestamp_of"]


# ---- the login -----------------------------------------------------------------------------


def client_authenticator(client_id: str, secret: str, timestamp: int) -> bytes:
    """AuthenticatorClient = MD5(ClientID + 7 zero octets + shared secret + timestamp), the
    timestamp as its 10 digits (a leading zero kept)."""
    return hashlib.md5(b"".join((
        client_id.encode("latin-1"), bytes(7), secret.encode("utf-8"),
        f"{timestamp:010d}".encode("ascii")))).digest()


def server_authenticator(status: int, authenticator_client: bytes, secret: str) -> bytes:
    """AuthenticatorServer = MD5(Status (4 octets) + AuthenticatorClient + shared secret)."""
    return hashlib.md5(struct.pack(">I", status) + authenticator_client
                       + secret.encode("utf-8")).digest()


def check_client(authenticator: bytes, client_id: str, secret: str, timestamp: int) -> bool:
    """Whether a Login proves it knows the secret (the SMGW's check). ClientID is hashed as
    written, and also NUL-padded to its 8 octets, as some clients do (gosmgp): the two
    differ only for an account shorter than 8 characters."""
    forms = {client_authenticator(client_id, secret, timestamp),
             client_authenticator(client_id.ljust(8, "\0"), secret, timestamp)}
    return any(hmac.compare_digest(authenticator, form) for form in forms)


def check_server(authenticator: bytes, status: int, authenticator_client: bytes,
                 secret: str) -> bool:
    """Whether a Login_Resp comes from a gateway that knows the secret (the SP's check).
    The 1-octet Status form is accepted too: gateways built on gosmgp hash it so."""
    forms = [server_authenticator(status, authenticator_client, secret)]
    if status <= 0xFF:
        forms.append(hashlib.md5(bytes((status,)) + authenticator_client
                                 + secret.encode("utf-8")).digest())
    return any(hmac.compare_digest(authenticator, form) for form in forms)


def status_text(status: int) -> str:
    """`AUTH_FAILED (21)` for a known Status, else `status 99`."""
    try:
        return f"{Status(status).name} ({status})"
    except ValueError:
        return f"status {status}"


# ---- MsgID ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MsgId:
    """The 10 octets of a MsgID, each part in BCD: the SMGW's code (6 digits), the time
    (MMDDHHMM) and a sequence (6 digits)."""

    gateway: int
    month: int
    day: int
    hour: int
    minute: int
    sequence: int

    def pack(self) -> bytes:
        digits = (f"{self.gateway:06d}{self.month:02d}{self.day:02d}{self.hour:02d}"
                  f"{self.minute:02d}{self.sequence:06d}")
        if len(digits) != 2 * MSG_ID_OCTETS:
            raise ValueError(f"MsgID parts {self} do not fit in {MSG_ID_OCTETS} BCD octets")
        return bytes.fromhex(digits)

    @classmethod
    def unpack(cls, raw: bytes) -> MsgId:
        digits = raw.hex()
        if len(raw) != MSG_ID_OCTETS or not digits.isdigit():
            raise PduError(f"MsgID {digits} is not {MSG_ID_OCTETS} octets of BCD")
        return cls(int(digits[:6]), int(digits[6:8]), int(digits[8:10]), int(digits[10:12]),
                   int(digits[12:14]), int(digits[14:]))

    @classmethod
    def at(cls, moment: datetime, gateway: int, sequence: int) -> MsgId:
        """The id a gateway gives at `moment` (China time)."""
        local = moment.astimezone(CHINA)
        return cls(gateway, local.month, local.day, local.hour, local.minute,
                   sequence % 1_000_000)


# ---- text and parts (CMPP's, with SMGP's errors) -------------------------------------------


def encode_text(text: str, fmt: MsgFmt) -> bytes:
    return cmpp_text.encode_text(text, fmt)


def decode_text(octets: bytes, fmt: int) -> str:
    """The text of a MsgContent (header stripped); PduError for a binary format."""
    try:
        return cmpp_text.decode_text(octets, fmt)
    except cmpp_pdu.PduError as exc:
        raise PduError(str(exc)) from None


def strip_udh(content: bytes) -> bytes:
    try:
        return cmpp_text.strip_udh(content)
    except cmpp_pdu.PduError as exc:
        raise PduError(str(exc)) from None


def contents(text: str, fmt: MsgFmt, reference: int, *, wide: bool = False) -> list[bytes]:
    """The MsgContent of each Submit that carries `text`: one when it fits, else one per
    part after the concatenation header (send with TP_udhi=1, PkTotal and PkNumber)."""
    return cmpp_text.contents(text, fmt, reference, wide=wide)


def reassemble(contents_: list[bytes], fmt: int) -> str:
    try:
        return cmpp_text.reassemble(contents_, fmt)
    except cmpp_pdu.PduError as exc:
        raise PduError(str(exc)) from None


# ---- status reports ------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    """The MsgContent of a Deliver with IsReport=1:
    `id:IIIIIIIIII sub:SSS dlvrd:DDD Submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:SSSSSSS err:EEE Text:...`, the id being the 10 raw octets of the MsgID."""

    msg_id: bytes
    stat: str
    """DELIVRD, EXPIRED, UNDELIV, REJECTD, ... or a gateway's own code (7 octets)."""
    err: str = "000"
    """The gateway's error code (3 octets): what the channel's code table explains."""
    submit_date: str = ""
    done_date: str = ""
    sub: str = "001"
    dlvrd: str = "001"
    text: str = ""
    """The first 20 octets of the message, as the gateway chose to echo them."""


_REPORT_FIELDS = (("id:", MSG_ID_OCTETS), (" sub:", 3), (" dlvrd:", 3),
                  (" Submit date:", 10), (" done date:", 10), (" stat:", 7), (" err:", 3),
                  (" Text:", 20))
REPORT_OCTETS = sum(len(label) + width for label, width in _REPORT_FIELDS)
"""122: every field at its full width."""


def encode_report(report: Report) -> bytes:
    values = (report.msg_id, *(v.encode("latin-1") for v in (
        report.sub, report.dlvrd, report.submit_date, report.done_date, report.stat,
        report.err, report.text)))
    out: list[bytes] = []
    for (label, width), value in zip(_REPORT_FIELDS, values, strict=True):
        if len(value) > width:
            shown = value.decode("latin-1")
            raise ValueError(f"status report field {label.strip()[:-1]} {shown!r} is longer "
                             f"than {width} octets")
        out.append(label.encode("ascii") + value.ljust(width, b"\0"))
    return b"".join(out)


def decode_report(content: bytes) -> Report:
    """A status report's fields; PduError naming the field when the content is not one.
    Text may come shorter than its 20 octets (gateways trim it); the rest is exact."""
    if not REPORT_OCTETS - 20 <= len(content) <= REPORT_OCTETS:
        raise PduError(f"a status report is {REPORT_OCTETS} octets, not {len(content)}")
    pos, values = 0, []
    for label, width in _REPORT_FIELDS:
        raw_label = label.encode("ascii")
        if content[pos:pos + len(raw_label)].lower() != raw_label.lower():
            raise PduError(f"the status report has no {label.strip()!r} at octet {pos}")
        pos += len(raw_label)
        values.append(content[pos:pos + width])
        pos += width
    msg_id, *rest = values
    sub, dlvrd, submit_date, done_date, stat, err, text = (
        v.split(b"\0", 1)[0].decode("latin-1") for v in rest)
    return Report(msg_id, stat, err, submit_date, done_date, sub, dlvrd, text)
