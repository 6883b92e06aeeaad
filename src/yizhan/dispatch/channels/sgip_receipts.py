"""What an SGIP channel makes of what the gateway sends back to its listener: a Report as a
`Receipt` classified by the channel's code table, a handset's Deliver (whole, or the parts of
a long reply put back together) as an `Uplink` attributed by its extension.

Consumes the Reports and Delivers the channel's deliver loop takes from its listener
(`sgip.py`); gives the events it stores in the sink (the receipt stage, where R opt-outs and
reply routing happen), after which the loop answers the gateway.

A Report is read as stat + err (`sgip_text.stat_of`, `error_code_of`: `UNDELIV/029`) and
looked up in the channel's `CodeTable`; an SGIP channel without a table of its own uses the
shipped one (`data/sgip.codes.toml`, China Unicom's ErrorCodes with their source). Its id is
the Submit's Sequence Number as text (`Sequence.text`), which is what the channel gave the
dispatch worker as the message's remote id.

A long reply arrives as several Delivers, each with TP_udhi=1 and a concatenation header.
`ReplyParts` keeps them, with the answers they wait for, until every part is there; a reply
whose parts do not all arrive within `timeout` seconds of its first (on the injected clock's
monotonic time) is given with the parts that did, in order. A part offered twice counts once.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Generic, TypeVar

from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import MessageStatus

from . import sgip_text
from .sgip_pdu import Deliver, PduError, Report
from .smpp_receipts import DELIVERED

log = logging.getLogger("yizhan.sgip")

Ack = TypeVar("Ack")
MAX_GROUPS = 10_000
"""Incomplete replies waiting at most; beyond it the oldest is given as it is."""


@lru_cache(maxsize=1)
def default_codes() -> CodeTable:
    """China Unicom's Report ErrorCodes (`data/sgip.codes.toml`)."""
    text = resources.files("yizhan.dispatch.channels").joinpath(
        "data/sgip.codes.toml").read_text("utf-8")
    return CodeTable.from_data(tomllib.loads(text), "sgip")


def receipt_of(report: Report, channel: str, codes: CodeTable, now: datetime) -> Receipt | None:
    """The receipt a Report carries; None while the message is still waiting (State 1, or
    whatever the channel's table calls `waiting`)."""
    stat, err = sgip_text.stat_of(report), sgip_text.error_code_of(report)
    status, code = codes.read(stat, err)
    if status is MessageStatus.WAITING:
        return None
    if status is MessageStatus.SUCCESS:  # as every channel reports success
        code = DELIVERED
    phone = report.user_number
    return Receipt(channel, report.submit_sequence.text, code, now, f"stat:{stat} err:{err}",
                   status.value, "+" + phone if phone and not phone.startswith("+") else phone)


def concat_of(deliver: Deliver) -> tuple[int, int, int] | None:
    """(reference, total, number) of a part of a long reply; None for a whole message."""
    content = deliver.message_content
    if not deliver.tp_udhi or not content or content[0] + 1 > len(content):
        return None
    header = content[1:content[0] + 1]
    pos = 0
    while pos + 2 <= len(header):
        element, length = header[pos], header[pos + 1]
        value = header[pos + 2:pos + 2 + length]
        if element == 0x00 and length == 3 and len(value) == 3:
            reference, total, number = value[0], value[1], value[2]
        elif element == 0x08 and length == 4 and len(value) == 4:
            reference, total, number = value[0] << 8 | value[1], value[2], value[3]
        else:
            pos += 2 + length
            continue
        return (reference, total, number) if 1 <= number <= total and total > 1 else None
    return None


@dataclass(slots=True)
class _Group(Generic[Ack]):
    total: int
    started: float
    parts: dict[int, Deliver] = field(default_factory=dict)
    acks: list[Ack] = field(default_factory=list)


Whole = tuple[list[Deliver], list[Ack]]


class ReplyParts(Generic[Ack]):
    """The parts of long replies, until each reply is whole (or overdue)."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._groups: dict[tuple[str, str, int, int], _Group[Ack]] = {}

    def offer(self, deliver: Deliver, ack: Ack, now: float) -> Whole[Ack] | None:
        """The whole reply (its Delivers in order, every answer they wait for) once this
        Deliver completes it; None while parts are missing."""
        concat = concat_of(deliver)
        if concat is None:
            return [deliver], [ack]
        reference, total, number = concat
        key = (deliver.user_number, deliver.sp_number, reference, total)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_GROUPS:
                log.warning("sgip: %d replies wait for parts; the oldest goes as it is",
                            len(self._groups))
            group = self._groups[key] = _Group(total, now)
        group.parts[number] = deliver
        group.acks.append(ack)
        if len(group.parts) < total:
            return None
        del self._groups[key]
        return [group.parts[n] for n in sorted(group.parts)], group.acks

    def expired(self, now: float) -> list[Whole[Ack]]:
        """Replies whose first part came `timeout` seconds ago or more, or beyond
        `MAX_GROUPS`: given with the parts that came."""
        over = len(self._groups) - MAX_GROUPS
        due = [key for n, (key, group) in enumerate(self._groups.items())
               if now - group.started >= self.timeout or n < over]
        wholes = []
        for key in due:
            group = self._groups.pop(key)
            missing = sorted(set(range(1, group.total + 1)) - set(group.parts))
            log.warning("sgip: a reply from %s is given without its parts %s",
                        _masked(key[0]), missing)
            wholes.append(([group.parts[n] for n in sorted(group.parts)], group.acks))
        return wholes

    def next_expiry(self) -> float | None:
        """When the oldest waiting reply is overdue (monotonic), None when none waits."""
        first = next(iter(self._groups.values()), None)
        return None if first is None else first.started + self.timeout

    def __len__(self) -> int:
        return len(self._groups)


def uplink_of(parts: list[Deliver], channel: str, sp_number: str,
              now: datetime) -> Uplink | None:
    """One reply (its parts in order) as an uplink; the extension is what follows our access
    number in the number replied to. None for a reply that is not text."""
    first = parts[0]
    try:  # the parts' octets are joined before decoding: a character may straddle two
        octets = b"".join(sgip_text.strip_udh(p.message_content) if p.tp_udhi
                          else p.message_content for p in parts)
        text = sgip_text.decode_text(octets, first.message_coding)
    except PduError as exc:
        log.warning("channel %s: a reply that is not text: %s", channel, exc)
        return None
    dest = first.sp_number
    extension = dest[len(sp_number):] if sp_number and dest.startswith(sp_number) else ""
    phone = first.user_number
    return Uplink(channel, phone if phone.startswith("+") else "+" + phone, dest, text, now,
                  extension)


def _masked(phone: str) -> str:
    return phone[:-4] + "****" if len(phone) > 4 else "****"
