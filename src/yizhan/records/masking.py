"""The one masking function for message content shown to people (docs/domain.md: the console
masks digits and letters of message content with `*`; the API returns the full content).

Digits and Latin letters, half- and full-width, become `*`; Chinese text, punctuation and
the 【signature】 stay readable, so an operator sees what kind of message it was without
seeing the code or the link in it. The CLI masks by default (`--unmask` shows all).
"""

from __future__ import annotations

import string

_HIDDEN = string.ascii_letters + string.digits
_FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in _HIDDEN)
_TABLE = str.maketrans({c: "*" for c in _HIDDEN + _FULL_WIDTH})


def mask(content: str) -> str:
    return content.translate(_TABLE)
