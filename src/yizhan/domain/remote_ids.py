"""How one carrier message id may be written differently in a submit answer and a receipt.

Carriers disagree with themselves: a submit_sm_resp says `1A2B`, the receipt `6699` (the
same number in decimal), or the other way round. Ids are stored in one canonical spelling
(lower case, no leading zeros; `dispatch/channels/smpp_receipts.py`), which settles case and
padding; `alternates` gives the spellings of the same number in the other base, which the
store tries only for a receipt whose id, as written, matched nothing in time
(`storage/unmatched.py`): an id such as `1234` is either base, so the exact match wins.
"""

from __future__ import annotations

from string import hexdigits

_HEX = frozenset(hexdigits)
MAX_DIGITS = 32
"""Longer ids are opaque text: no carrier writes a number that long."""


def canonical(remote_id: str) -> str:
    """The stored spelling of an opaque id: lower case, without leading zeros."""
    return remote_id.strip().lower().lstrip("0") or "0"


def alternates(remote_id: str) -> list[str]:
    """The same number written in the other base, canonical: a decimal id read as the
    decimal of a hex one (`6699` -> `1a2b`), a hex id as the hex of a decimal one (`1a2b`
    -> `6699`). Both for an id of decimal digits, none for an opaque id."""
    text = canonical(remote_id)
    if len(text) > MAX_DIGITS or not _HEX.issuperset(text):
        return []
    found = [str(int(text, 16))]
    if text.isdigit():
        found.insert(0, format(int(text), "x"))
    return [a for a in dict.fromkeys(found) if a != text]
