"""Handset replies that stop promotions (docs/domain.md: a handset that replies `R` to a
signature's promotion never receives promotions of that signature again).

The store finds whom each uplink answered (the signature of its extension code, else the
last sender to the number: `storage/reports.py`) and, in the transaction that stores the
uplink, asks this module's rule (`opt_out`, handed over by the receipt stage) whether the
reply opts the number out; it writes the `OptOut` the rule returns and decides nothing
itself. Which words count is a setting (`opt_out_words`, default R and TD); the reply must be
the word alone, ignoring case, spaces and trailing punctuation, so that "R" opts out and
"Really?" does not.
"""

from __future__ import annotations

from collections.abc import Collection

from yizhan.domain.events import Uplink
from yizhan.domain.model import OptOut, UplinkOwner

OPT_OUT_WORDS = ("R", "TD")
_TRAILING = " \t\r\n.。!！"


def normalised(words: Collection[str]) -> frozenset[str]:
    return frozenset(w.strip().upper() for w in words if w.strip())


def is_opt_out(content: str, words: frozenset[str]) -> bool:
    return content.strip().strip(_TRAILING).upper() in words


def opt_out(uplink: Uplink, owner: UplinkOwner, words: frozenset[str]) -> OptOut | None:
    """The opt-out a reply asks for: its number off the promotions of the signature it
    answered, for good, recorded with the reply and how its owner was found; None for any
    other reply."""
    if not is_opt_out(uplink.content, words):
        return None
    return OptOut(owner.account_id, owner.sign_name, owner.phone,
                  f"uplink {uplink.content.strip()!r} ({owner.how})", uplink.received_at)
