"""What an SGIP channel makes of what the gateway sends back to its listener: a Report as a
`Receipt` classified by the channel's code table, a handset's Deliver (whole, or the parts of
a long reply put back together) as an `Uplink` attributed by its extension.

Consumes the Reports and Delivers `sgip_listener.SgipListener` hands over; gives events to
the channel's `EventSink` (the receipt stage, where R opt-outs and reply routing happen), and
returns the Result the listener answers with only once the sink has stored them: Result 0
tells the gateway to forget the PDU (docs/DOMAIN "nothing accepted is lost"), so a sink that
fails raises, and the listener answers NODE_BUSY for the gateway to offer it again.

A Report is read as stat + err (`sgip_text.stat_of`, `error_code_of`: `UNDELIV/029`) and
looked up in the channel's `CodeTable`; an SGIP channel without a table of its own uses the
shipped one (`data/sgip_codes.toml`, China Unicom's ErrorCodes with their source). Its id is
the Submit's Sequence Number as text (`Sequence.text`), which is what the channel stored as
the message's remote id.

A long reply arrives as several Delivers, each with TP_udhi=1 and a concatenation header.
Each part's handler waits until the whole reply is stored, then all of them answer; a reply
whose parts do not all arrive within `part_timeout` seconds (on the injected clock) is stored
with the parts that did, in order.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources

from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import Clock, EventSink

from . import sgip_text
from .sgip_pdu import Deliver, PduError, Report, Result

log = logging.getLogger("yizhan.sgip")

MAX_GROUPS = 10_000
"""Incomplete replies waiting at most; beyond it a new part is stored on its own."""


@lru_cache(maxsize=1)
def default_codes() -> CodeTable:
    """China Unicom's Report ErrorCodes (`data/sgip_codes.toml`)."""
    text = resources.files("yizhan.dispatch.channels").joinpath(
        "data/sgip_codes.toml").read_text("utf-8")
    return CodeTable.from_data(tomllib.loads(text), "sgip")


def receipt_of(report: Report, channel: str, codes: CodeTable, now: datetime) -> Receipt | None:
    """The receipt a Report carries; None while the message is still waiting (State 1, or
    whatever the channel's table calls `waiting`)."""
    stat, err = sgip_text.stat_of(report), sgip_text.error_code_of(report)
    status, code = codes.read(stat, err)
    if status is MessageStatus.WAITING:
        return None
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
class _Group:
    parts: dict[int, Deliver] = field(default_factory=dict)
    total: int = 0
    stored: asyncio.Future[int] | None = None


class Inbound:
    """The channel's handlers for its listener (`on_report`, `on_deliver`)."""

    def __init__(self, channel: str, sink: EventSink, clock: Clock, *, sp_number: str,
                 codes: CodeTable | None = None, part_timeout: float = 60.0) -> None:
        self.channel = channel
        self.sink = sink
        self.clock = clock
        self.sp_number = sp_number
        """Our access number: what follows it in a reply's SPNumber is the extension."""
        self.codes = codes if codes is not None else default_codes()
        self.part_timeout = part_timeout
        self._groups: dict[tuple[str, str, int, int], _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_report(self, report: Report) -> int:
        receipt = receipt_of(report, self.channel, self.codes, self.clock.now())
        if receipt is not None:
            await self.sink(receipt)
        return Result.OK

    async def on_deliver(self, deliver: Deliver) -> int:
        concat = concat_of(deliver)
        if concat is None or len(self._groups) >= MAX_GROUPS:
            return await self._store([deliver])
        reference, total, number = concat
        key = (deliver.user_number, deliver.sp_number, reference, total)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(total=total)
            group.stored = asyncio.get_running_loop().create_future()
            self._spawn(self._expire(key, group))
        group.parts[number] = deliver  # a part offered twice counts once
        assert group.stored is not None
        if len(group.parts) == total:
            self._complete(key, group)
        return await asyncio.shield(group.stored)

    async def close(self) -> None:
        """Stop waiting for parts (the channel stops): their handlers fail, unanswered."""
        for task in list(self._tasks):
            task.cancel()
        for group in self._groups.values():
            if group.stored is not None and not group.stored.done():
                group.stored.cancel()
        self._groups.clear()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _complete(self, key: tuple[str, str, int, int], group: _Group) -> None:
        if self._groups.get(key) is not group:
            return  # already stored
        del self._groups[key]
        missing = sorted(set(range(1, group.total + 1)) - set(group.parts))
        if missing:
            log.warning("channel %s: a reply from %s is stored without its parts %s",
                        self.channel, _masked(key[0]), missing)
        self._spawn(self._store_group(group))

    async def _store_group(self, group: _Group) -> None:
        assert group.stored is not None
        try:
            group.stored.set_result(
                await self._store([group.parts[n] for n in sorted(group.parts)]))
        except Exception as exc:  # the listener answers NODE_BUSY to every part
            group.stored.set_exception(exc)

    async def _expire(self, key: tuple[str, str, int, int], group: _Group) -> None:
        await self.clock.sleep(self.part_timeout)
        self._complete(key, group)

    async def _store(self, parts: list[Deliver]) -> int:
        """Store one reply (its parts in order); the Result to answer every part with."""
        first = parts[0]
        try:  # the parts' octets are joined before decoding: a character may straddle two
            octets = b"".join(sgip_text.strip_udh(p.message_content) if p.tp_udhi
                              else p.message_content for p in parts)
            text = sgip_text.decode_text(octets, first.message_coding)
        except PduError as exc:
            log.warning("channel %s: a reply that is not text: %s", self.channel, exc)
            return Result.OK  # nothing to store; answered so that the gateway moves on
        dest = first.sp_number
        extension = dest[len(self.sp_number):] if dest.startswith(self.sp_number) else ""
        phone = first.user_number
        await self.sink(Uplink(self.channel, phone if phone.startswith("+") else "+" + phone,
                               dest, text, self.clock.now(), extension))
        return Result.OK


def _masked(phone: str) -> str:
    return phone[:-4] + "****" if len(phone) > 4 else "****"
