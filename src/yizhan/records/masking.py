"""The one masking function for message content shown to people (docs/domain.md: the console
masks digits and letters of message content with `*`; the API returns the full content).

Digits and Latin letters, half- and full-width, become `*`; Chinese text, punctuation and
the 【signature】 stay readable, so an operator sees what kind of message it was without
seeing the code or the link in it. The CLI masks by default (`--unmask` shows all).
Phone numbers in the call log are masked for people the same way (`mask_number`).
"""

from __future__ import annotations

import string

_HIDDEN = string.ascii_letters + string.digits
_FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in _HIDDEN)
_TABLE = str.maketrans({c: "*" for c in _HIDDEN + _FULL_WIDTH})


def mask(content: str) -> str:
    return content.translate(_TABLE)


def mask_number(number: str) -> str:
    """A phone number as people see it in lists (the call log): the first three and the last
    four characters kept, the digits between as `*` (`138****8000`, `+1415***0123`), the
    habit of Chinese consoles and receipts. Shorter texts keep only their last two."""
    keep_head, keep_tail = (3, 4) if len(number) >= 8 else (0, 2)
    middle = number[keep_head:len(number) - keep_tail].translate(_DIGITS)
    return number[:keep_head] + middle + number[len(number) - keep_tail:]


_DIGITS = str.maketrans({c: "*" for c in string.digits})
