"""The platform blacklist: numbers whose owners complained are refused for the signatures
concerned (docs/domain.md "Sending" and issue 4, point 5).

Operators keep the list (`yizhan blacklist add|remove|list|import`), each number with its
source (a complaint channel, a carrier report, ...), date, and the signature names it is
blacklisted for, or all. It applies to every message type of those signatures: a complaint
is about the sender. Per number: a blacklisted number becomes a failed record with
`isv.MOBILE_IN_BLACKLIST` while the request's other numbers go on.
"""

from __future__ import annotations

from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber
from yizhan.policy import numbers
from yizhan.policy.lists import Blacklist


def check(blacklist: Blacklist, phone: str, sign_name: str) -> Refusal | None:
    signatures = blacklist.signatures(phone)
    if signatures is None or (signatures and sign_name not in signatures):
        return None
    scope = "every signature" if not signatures else f"signature {sign_name!r}"
    shown = numbers.display(PhoneNumber(phone))
    return Refusal("isv.MOBILE_IN_BLACKLIST", f"{shown} is blacklisted for {scope}",
                   "blacklist")
