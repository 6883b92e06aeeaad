"""Handset replies that stop promotions (docs/domain.md: a handset that replies `R` to a
signature's promotion never receives promotions of that signature again).

The receipt stage asks `is_opt_out` of every uplink's text; the store then puts the number
on the opt-out list of the signature the uplink replied to (found by its extension code,
`storage/reports.py`), in the transaction that stores the uplink. Which words count is a
setting (`opt_out_words`, default R and TD); the reply must be the word alone, ignoring case,
spaces and trailing punctuation, so that "R" opts out and "Really?" does not.
"""

from __future__ import annotations

from collections.abc import Collection

OPT_OUT_WORDS = ("R", "TD")
_TRAILING = " \t\r\n.。!！"


def normalised(words: Collection[str]) -> frozenset[str]:
    return frozenset(w.strip().upper() for w in words if w.strip())


def is_opt_out(content: str, words: frozenset[str]) -> bool:
    return content.strip().strip(_TRAILING).upper() in words
