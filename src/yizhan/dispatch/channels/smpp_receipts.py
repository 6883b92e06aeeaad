"""Delivery receipts as SMPP carries them: parse, name the message, resolve multi-part.

Consumes a deliver_sm whose esm_class says "delivery receipt". The message id comes from the
`receipted_message_id` TLV when present, else from the receipt text (`id:... sub:... dlvrd:...
submit date:... done date:... stat:... err:... text:...`, SMPP 3.4 Appendix B); the code from
the text's `stat:` (Chinese gateways put their own codes there: `MK:0001`, `DB:0141`), else
from the `message_state` TLV. Carriers disagree on how they write ids (the submit_sm_resp says
`0A1B2C`, the receipt `000a1b2c`, or the receipt in decimal), so every id is brought to one
canonical form by `IdFormat` before it is stored or matched (a per-channel setting).

A long message is several submits, each with its own carrier id and receipt. `PartGroups`
folds them into the one receipt of the message (docs/domain.md: "a record is one message"): the
first failing part decides at once; otherwise the message is delivered when every part is.
The groups live in memory with a cap: a part receipt that arrives after a restart is matched
only if it is the first part's (whose id the message record keeps).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from yizhan.dispatch.channels.smpp_pdu import (
    STATE_WORDS,
    MessageState,
    Tag,
    read_tlv_cstr,
)

_FIELD = re.compile(r"\b(id|sub|dlvrd|submit date|done date|stat|err|text)\s*:", re.IGNORECASE)
DELIVERED = "DELIVRD"


class IdBase(StrEnum):
    TEXT = "text"
    """Opaque ids: compared without case and without leading zeros."""
    HEX = "hex"
    DEC = "dec"


@dataclass(frozen=True, slots=True)
class IdFormat:
    """How a channel writes message ids in submit_sm_resp and in receipts."""

    submit: IdBase = IdBase.TEXT
    receipt: IdBase = IdBase.TEXT

    def of_submit(self, remote_id: str) -> str:
        return canonical_id(remote_id, self.submit)

    def of_receipt(self, remote_id: str) -> str:
        return canonical_id(remote_id, self.receipt)


def canonical_id(remote_id: str, base: IdBase) -> str:
    """One spelling per id: numeric ids in decimal, opaque ones lower case without leading
    zeros. An id that does not parse in its declared base is kept as opaque text."""
    text = remote_id.strip()
    if base is not IdBase.TEXT:
        try:
            return str(int(text, 16 if base is IdBase.HEX else 10))
        except ValueError:
            pass
    return text.lower().lstrip("0") or "0"


class ParsedReceipt(NamedTuple):
    # a NamedTuple, not a frozen dataclass: one is made per receipt, and it is 4x cheaper
    remote_id: str
    """As the carrier wrote it (not yet canonical)."""
    code: str
    """DELIVRD, UNDELIV, EXPIRED, MK:0001, ...: the carrier's final word."""
    err: str = ""
    raw: str = ""


def parse_text(text: str) -> dict[str, str]:
    """`id:1 sub:001 ... stat:DELIVRD err:000 text:hi` -> {"id": "1", ..., "stat": ...}.

    Values may hold colons (`stat:MK:0001`) and spaces (`submit date:...`): a value runs up
    to the next known field name, so order and spacing do not matter.
    """
    fields: dict[str, str] = {}
    matches = list(_FIELD.finditer(text))
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        key = match.group(1).lower()
        if key == "text":  # the message's first words: runs to the end, whatever it holds
            fields[key] = text[match.end():].strip()
            break
        end = following.start() if following is not None else len(text)
        fields.setdefault(key, text[match.end():end].strip())
    return fields


def _standard(raw: str) -> tuple[str, str, str] | None:
    """id, stat and err of the common shape, read without the regex: `id:` first, lower-case
    field names, and `stat:` and `err:` ahead of `text:`. None for any other shape."""
    stat, err, text = raw.find(" stat:"), raw.find(" err:"), raw.find(" text:")
    if not raw.startswith("id:") or stat < 0 or err < stat or (0 <= text < err):
        return None
    return (raw[3:raw.find(" ")], raw[stat + 6:err].strip(),
            raw[err + 5:text if text >= 0 else len(raw)].strip())


def parse_receipt(short_message: bytes, tlvs: Mapping[int, bytes]) -> ParsedReceipt | None:
    """The receipt in a deliver_sm (its short_message and TLVs), or None when it names no
    message id."""
    return read_receipt(short_message, tlvs.get(Tag.RECEIPTED_MESSAGE_ID),
                        tlvs.get(Tag.MESSAGE_STATE))


def read_receipt(short_message: bytes, tlv_id: bytes | None,
                 state: bytes | None) -> ParsedReceipt | None:
    """`parse_receipt` given the two TLVs a receipt may carry (`peek_receipt` finds them)."""
    raw = short_message.decode("latin-1")
    standard = _standard(raw)
    if standard is not None:
        text_id, code, err = standard
    else:
        fields = parse_text(raw) if raw else {}
        text_id, code, err = fields.get("id", ""), fields.get("stat", ""), fields.get("err", "")
    remote_id = read_tlv_cstr(tlv_id) if tlv_id else text_id
    if not remote_id:
        return None
    code = code.upper()
    if not code:
        try:
            code = STATE_WORDS[MessageState(state[0])] if state else "UNKNOWN"
        except ValueError:
            code = "UNKNOWN"
    return ParsedReceipt(remote_id, code, err, raw)


def submitted_at(raw: str, utc_offset: float = 0.0) -> datetime | None:
    """The `submit date:` of a receipt text (YYMMDDhhmm, or with seconds, written
    `utc_offset` hours east of UTC) as a UTC time; None when there is none."""
    at = raw.find("submit date:")
    return None if at < 0 else _receipt_time(raw[at + 12:at + 24], utc_offset)


@lru_cache(maxsize=64)
def _receipt_time(field: str, utc_offset: float) -> datetime | None:
    """Cached by the 12 characters after `submit date:`: a carrier's receipts share a
    handful of minutes, and parsing a date costs more than the rest of a receipt."""
    value = field.split(" ", 1)[0]
    if not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        local = datetime.strptime(value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M")
    except ValueError:
        return None
    return (local - timedelta(hours=utc_offset)).replace(tzinfo=UTC)


def handset_number(address: str) -> str:
    """A receipt's source address as the store writes numbers (+country code): a mainland
    number may come bare (13800138000), with 86, or international."""
    if address.isdigit() and address[0] != "0":  # the common shapes, at once
        return "+86" + address if len(address) == 11 and address[0] == "1" else "+" + address
    digits = address.lstrip("+")
    if digits.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit():
        return ""
    if len(digits) == 11 and digits.startswith("1"):
        digits = "86" + digits
    return "+" + digits


def receipt_text(remote_id: str, code: str, *, err: str = "000", submitted: str = "",
                 done: str = "", text: str = "") -> str:
    """The standard receipt text (what the simulator SMSC sends)."""
    delivered = "001" if code == DELIVERED else "000"
    return (f"id:{remote_id} sub:001 dlvrd:{delivered} submit date:{submitted} "
            f"done date:{done} stat:{code} err:{err} text:{text[:20]}")


@dataclass(slots=True)
class _Group:
    message_id: str
    """The canonical id of the first part: the one the message record keeps."""
    waiting: int
    decided: bool = False


class PartGroups:
    """Folds the receipts of a long message's parts into one receipt for the message."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._parts: OrderedDict[str, _Group] = OrderedDict()
        self._capacity = capacity

    def add(self, part_ids: list[str]) -> None:
        """Remember a multi-part message by its parts' canonical ids (first = the message's)."""
        group = _Group(part_ids[0], len(part_ids))
        for part_id in part_ids:
            self._parts[part_id] = group
        while len(self._parts) > self._capacity:
            self._parts.popitem(last=False)

    def resolve(self, part_id: str, code: str) -> str | None:
        """The message id to report this receipt under, or None to absorb it.

        A single-part message (unknown here) reports as itself. A failing part reports the
        message failed at once; a delivered part reports only when it is the last one.
        """
        group = self._parts.pop(part_id, None)
        if group is None:
            return part_id
        group.waiting -= 1
        if group.decided:
            return None
        if code != DELIVERED or group.waiting == 0:
            group.decided = True
            return group.message_id
        return None

    def __len__(self) -> int:
        return len(self._parts)
