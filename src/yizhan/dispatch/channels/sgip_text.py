"""What SGIP carries inside its fields: the text of a message (MessageCoding), its parts,
and what a Report says in the words receipts use everywhere else (stat and err).

MessageCoding has the values and meaning of CMPP's Msg_Fmt (0 ASCII, 8 UCS2, 15 GBK), and a
long message is cut the same way (TP_udhi=1, the 6- or 7-octet concatenation header ahead of
each part's text): this module lends `cmpp_text`'s text functions under SGIP's names and
turns their refusals into SGIP's `PduError`. It adds what SGIP alone has: a Report's State
and ErrorCode written as a receipt's stat word and 3-digit err, so that a channel's code
table keys SGIP outcomes as it keys SMPP's and CMPP's (`UNDELIV/025`, docs/channels.md).
"""

from __future__ import annotations

from . import cmpp_pdu, cmpp_text
from .cmpp_text import MsgFmt as MessageCoding
from .cmpp_text import encode_text, format_for
from .sgip_pdu import PduError, Report, ReportState, Result

__all__ = ["MessageCoding", "contents", "decode_text", "encode_text", "error_code_of",
           "format_for", "reassemble", "result_text", "stat_of", "strip_udh", "text_of"]

STATS = {ReportState.DELIVERED: "DELIVRD", ReportState.WAITING: "ENROUTE",
         ReportState.FAILED: "UNDELIV"}
"""A Report's State as the stat word of a receipt: SGIP has no EXPIRED or REJECTD, its
reason is the ErrorCode alone."""


def contents(text: str, coding: MessageCoding, reference: int, *,
             wide: bool = False) -> list[bytes]:
    """The MessageContent of each Submit that carries `text`: one when it fits, else one per
    part, each led by the concatenation header (send with TP_udhi=1)."""
    return cmpp_text.contents(text, coding, reference, wide=wide)


def decode_text(octets: bytes, coding: int) -> str:
    """The text of a MessageContent (header stripped); PduError for a binary coding."""
    try:
        return cmpp_text.decode_text(octets, coding)
    except cmpp_pdu.PduError as exc:
        raise PduError(str(exc).replace("Msg_Fmt", "MessageCoding")) from None


def strip_udh(content: bytes) -> bytes:
    try:
        return cmpp_text.strip_udh(content)
    except cmpp_pdu.PduError as exc:
        raise PduError(str(exc).replace("Msg_Content", "MessageContent")) from None


def reassemble(parts: list[bytes], coding: int) -> str:
    """The text of the parts of one message, in any order (by their header's number)."""
    try:
        return cmpp_text.reassemble(parts, coding)
    except cmpp_pdu.PduError as exc:
        raise PduError(str(exc).replace("Msg_", "Message")) from None


def text_of(content: bytes, coding: int, udhi: int) -> str:
    """The text of one Deliver or Submit: its header, if any, dropped."""
    return decode_text(strip_udh(content) if udhi else content, coding)


def stat_of(report: Report) -> str:
    """DELIVRD, ENROUTE (not final) or UNDELIV."""
    return STATS[ReportState(report.state)]


def error_code_of(report: Report) -> str:
    """The ErrorCode as three digits (`025`), the form a receipt's err takes."""
    return f"{report.error_code:03d}"


def result_text(result: int) -> str:
    """`NODE_BUSY (11)` for a known Result, else `result 99`."""
    try:
        return f"{Result(result).name} ({result})"
    except ValueError:
        return f"result {result}"
