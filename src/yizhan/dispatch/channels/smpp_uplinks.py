"""Multi-part uplinks: the parts of a long handset reply, reassembled into one uplink.

Consumes the deliver_sm of an SMPP channel that are not receipts. A long reply arrives as
several deliver_sm, each marked by a UDH concatenation element (IE 0x00, 8-bit reference, or
IE 0x08, 16-bit reference; 3GPP TS 23.040 9.2.3.24) or by the SAR TLVs. `UplinkParts` keeps
the parts of each reply, keyed by (handset, number replied to, reference, count), and gives
the whole reply once every part is there: their octets joined in order and decoded once, so
a GSM escape or a UCS-2 pair cut between two parts still reads right. A part that comes
twice (the SMSC offered it again) counts once.

Parts wait in memory, and so do their deliver_sm answers: the channel answers every part
only once the whole reply is stored (docs/contributing.md, style 5: nothing accepted is lost; a
restart makes the SMSC offer the parts again). A reply whose parts do not all arrive within
`timeout` seconds of its first part is delivered with the parts that did, in order, and its
missing parts named in the log (docs/channels.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from yizhan.dispatch.channels.smpp_pdu import ESM_UDHI, ShortMessage, Tag, text_of

log = logging.getLogger("yizhan.smpp")

Ack = TypeVar("Ack")
"""Whatever the channel needs to answer a part later (its link and sequence number)."""

MAX_GROUPS = 10_000
"""Incomplete replies kept at most; beyond it the oldest is delivered as it is."""


@dataclass(frozen=True, slots=True)
class Concat:
    reference: int
    total: int
    number: int
    """1-based."""


def concat_of(sm: ShortMessage) -> tuple[Concat | None, bytes]:
    """The concatenation marks of a deliver_sm (None: a whole message) and its octets
    without the user data header."""
    octets = sm.short_message or sm.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")
    if sm.esm_class & ESM_UDHI and octets:
        header, octets = octets[1:octets[0] + 1], octets[octets[0] + 1:]
        return _udh_concat(header), octets
    ref, total, number = (sm.tlvs.get(tag) for tag in (
        Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM))
    if ref and total and number:
        return _valid(int.from_bytes(ref, "big"), total[0], number[0]), octets
    return None, octets


def _udh_concat(header: bytes) -> Concat | None:
    pos = 0
    while pos + 2 <= len(header):
        element, length = header[pos], header[pos + 1]
        value = header[pos + 2:pos + 2 + length]
        if element == 0x00 and length == 3:
            return _valid(value[0], value[1], value[2])
        if element == 0x08 and length == 4:
            return _valid(value[0] << 8 | value[1], value[2], value[3])
        pos += 2 + length
    return None


def _valid(reference: int, total: int, number: int) -> Concat | None:
    """Marks of one part of several; a "part 1 of 1" or an impossible number is whole."""
    return Concat(reference, total, number) if 1 <= number <= total and total > 1 else None


@dataclass(slots=True)
class Reply(Generic[Ack]):
    """A reply ready for the sink: the handset, the number it replied to, its text, and the
    answers its parts wait for."""

    phone: str
    dest: str
    text: str
    acks: list[Ack]
    total: int = 1
    missing: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Group(Generic[Ack]):
    first: ShortMessage
    total: int
    expires: float
    parts: dict[int, bytes] = field(default_factory=dict)
    acks: list[Ack] = field(default_factory=list)


class UplinkParts(Generic[Ack]):
    """`text` reads a part's text (SMPP's `text_of`; the CMPP channel gives its own: it
    carries Msg_Fmt in `data_coding`)."""

    def __init__(self, timeout: float, text: Callable[[ShortMessage], str] = text_of) -> None:
        self.timeout = timeout
        self._text = text
        self._groups: dict[tuple[str, str, int, int], _Group[Ack]] = {}

    def offer(self, sm: ShortMessage, ack: Ack, now: float) -> Reply[Ack] | None:
        """The whole reply when `sm` completes it (or is whole itself), else None: the part
        is kept, and `ack` waits with it."""
        concat, octets = concat_of(sm)
        if concat is None:
            return Reply(sm.source_addr, sm.destination_addr, self._text(sm), [ack])
        key = (sm.source_addr, sm.destination_addr, concat.reference, concat.total)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_GROUPS:
                log.warning("too many incomplete uplinks: delivering the oldest as it is")
                self._pop(next(iter(self._groups)))
            group = self._groups[key] = _Group(sm, concat.total, now + self.timeout)
        group.parts[concat.number] = octets
        group.acks.append(ack)
        if len(group.parts) < group.total:
            return None
        return self._pop(key)

    def expired(self, now: float) -> list[Reply[Ack]]:
        """The replies whose time is up, with the parts that arrived."""
        due = [key for key, group in self._groups.items() if group.expires <= now]
        replies = [self._pop(key) for key in due]
        for reply in replies:
            log.warning("uplink from a handset incomplete after %gs: parts %s of %d missing; "
                        "delivered without them", self.timeout,
                        ", ".join(map(str, reply.missing)), reply.total)
        return replies

    def next_expiry(self) -> float | None:
        return min((group.expires for group in self._groups.values()), default=None)

    def __len__(self) -> int:
        return len(self._groups)

    def _pop(self, key: tuple[str, str, int, int]) -> Reply[Ack]:
        group = self._groups.pop(key)
        joined = b"".join(group.parts[n] for n in sorted(group.parts))
        first = group.first
        text = self._text(ShortMessage(first.source_addr, first.destination_addr, joined,
                                    data_coding=first.data_coding))
        missing = [n for n in range(1, group.total + 1) if n not in group.parts]
        return Reply(first.source_addr, first.destination_addr, text, group.acks, group.total,
                     missing)
