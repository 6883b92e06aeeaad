"""How long a message is on the air: its encoding, its length in units, and its parts.

Consumes the full text as the handset shows it, signature included: the caller passes
`【签名】正文`, never the body alone, because the signature takes room in every message.
Decides the encoding (GSM 03.38 7-bit when every character is in the default alphabet or its
extension table, else UCS-2), the length in septets or UTF-16 code units, and where the text
is cut into parts. `count_parts` feeds the message record and billing; `split` feeds the
channel encoders, `encode` turns a part into the octets a carrier expects (GSM 03.38 unpacked,
one septet per octet, as SMPP carries it; UCS-2 as UTF-16BE) and `udh` makes the
concatenation header (8-bit or 16-bit reference).

Implements docs/domain.md "Sending" / "Length and billing": one message holds 160 GSM-7 or 70 UCS-2
units; longer text goes in parts of 153 or 67 (the 8-bit-reference UDH takes the rest).
A part never ends half-way through an escape pair (a 2-septet extension character) or a
surrogate pair: the whole character moves to the next part, as handsets would otherwise show
garbage (docs/channels.md "Why our own SMPP stack" names the libraries that get this wrong).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


# GSM 03.38 default alphabet in code order; 0x1B is the escape to the extension table, not a
# character of its own, so a bare ESC in the text forces UCS-2.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table characters: each is sent as ESC + code, so it costs 2 septets.
_EXTENSION = "\f^{}\\[~]|€"
_GSM_CHARS = frozenset(_BASIC.replace("\x1b", "") + _EXTENSION)

_SINGLE = {Encoding.GSM7: 160, Encoding.UCS2: 70}
_PART = {Encoding.GSM7: 153, Encoding.UCS2: 67}
_WIDE_PART = {Encoding.GSM7: 152, Encoding.UCS2: 66}
"""Parts with a 16-bit reference: the header is one octet longer (7 instead of 6)."""

# char -> its octets in an SMPP short_message (unpacked: one septet per octet).
_GSM_OCTETS: dict[int, str] = {ord(c): chr(i) for i, c in enumerate(_BASIC) if c != "\x1b"}
_GSM_OCTETS.update({ord(c): "\x1b" + chr(code) for c, code in zip(
    _EXTENSION, (0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65), strict=True)})
_GSM_DECODE: dict[str, str] = {octets: chr(char) for char, octets in _GSM_OCTETS.items()}


def encoding_of(text: str) -> Encoding:
    """GSM7 if every character is in the GSM 03.38 tables, else UCS2."""
    return Encoding.GSM7 if _GSM_CHARS.issuperset(text) else Encoding.UCS2


def units(text: str, enc: Encoding) -> int:
    """Length in septets (GSM7) or UTF-16 code units (UCS2)."""
    if enc is Encoding.GSM7:
        if not _GSM_CHARS.issuperset(text):
            raise ValueError("text has characters outside GSM 03.38; use Encoding.UCS2")
        return _septets(text)
    return _utf16_units(text)


def count_parts(text: str) -> int:
    """How many messages the text is sent (and billed) as; empty text is one message."""
    enc = encoding_of(text)
    size = _septets(text) if enc is Encoding.GSM7 else _utf16_units(text)
    if size <= _SINGLE[enc]:
        return 1
    if size == len(text):
        # Every character is one unit, so no pair can straddle a cut: plain division.
        return -(-size // _PART[enc])
    return sum(1 for _ in _cuts(text, enc))


def split(text: str, *, wide_reference: bool = False,
          encoding: Encoding | None = None) -> list[str]:
    """The parts, in order; `"".join(split(t)) == t` and `len(split(t)) == count_parts(t)`.

    `wide_reference`: parts for a 16-bit-reference header (152 septets or 66 units), which
    may make one part more than billing counts; channels use it only when configured so.
    `encoding`: the one the parts are sent in when the channel chooses it (a CMPP channel
    sends GSM-compatible text as UCS-2 too); by default the text's own (`encoding_of`).
    """
    enc = encoding or encoding_of(text)
    size = _septets(text) if enc is Encoding.GSM7 else _utf16_units(text)
    if size <= _SINGLE[enc]:
        return [text]
    step = (_WIDE_PART if wide_reference else _PART)[enc]
    if size == len(text):
        # One unit per character: fixed-size slices, no pair to keep together.
        return [text[i : i + step] for i in range(0, size, step)]
    parts: list[str] = []
    start = 0
    for end in _cuts(text, enc, step):
        parts.append(text[start:end])
        start = end
    return parts


def _septets(text: str) -> int:
    # str.count runs in C; ten passes beat one Python-level loop over the text.
    return len(text) + sum(text.count(c) for c in _EXTENSION)


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate (possible after JSON decoding) still counts as one unit
    # instead of raising.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _width(char: str, enc: Encoding) -> int:
    if enc is Encoding.GSM7:
        return 2 if char in _EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def _cuts(text: str, enc: Encoding, limit: int = 0) -> Iterator[int]:
    """End index of each part of a multi-part text, filling each part greedily.

    Python strings index by code point, so a character is never cut inside; a character
    whose 2 units would overflow the part starts the next one instead.
    """
    limit = limit or _PART[enc]
    used = 0
    for i, char in enumerate(text):
        width = _width(char, enc)
        if used + width > limit:
            yield i
            used = 0
        used += width
    yield len(text)


def encode(text: str, enc: Encoding) -> bytes:
    """The octets of `text` as an SMPP short_message carries them: GSM 03.38 unpacked (an
    extension character is ESC + code) or UCS-2 (UTF-16BE; an emoji is its surrogate pair)."""
    if enc is Encoding.GSM7:
        return text.translate(_GSM_OCTETS).encode("latin-1")
    return text.encode("utf-16-be", "surrogatepass")


def decode(data: bytes, enc: Encoding) -> str:
    """The inverse of `encode` (uplinks). Unknown GSM escapes read as a space, as handsets do."""
    if enc is Encoding.UCS2:
        return data.decode("utf-16-be", "replace")
    chars: list[str] = []
    escape = False
    for octet in data.decode("latin-1"):
        if escape:
            chars.append(_GSM_DECODE.get("\x1b" + octet, " "))
            escape = False
        elif octet == "\x1b":
            escape = True
        else:
            chars.append(_GSM_DECODE.get(octet, "?"))
    return "".join(chars)


def udh(reference: int, total: int, number: int, *, wide: bool = False) -> bytes:
    """Concatenation header of part `number` (1-based) of `total`: IE 0x00 with an 8-bit
    reference, or IE 0x08 with a 16-bit one (3GPP TS 23.040 9.2.3.24.1 and .8)."""
    if wide:
        return bytes((6, 0x08, 4, reference >> 8 & 0xFF, reference & 0xFF, total, number))
    return bytes((5, 0x00, 3, reference & 0xFF, total, number))
