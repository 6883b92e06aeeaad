"""Destination numbers as the tenant typed them, turned into one E.164 form or refused.

Consumes each raw number of a send request (after the API has split the comma-separated
list). Decides whether it is a number we can send to and, if so, its E.164 form
(`+8613800138000`), which every later stage (policy checks, routing, records) keys on. A
number that cannot be read refuses the whole request (`isv.MOBILE_NUMBER_ILLEGAL`), so this
runs at request level, before any message exists. `supported_segment` then runs per number:
a mainland number whose segment no supported carrier serves (virtual operators, China
Broadnet, satellite, unassigned; `domain/carriers.py` and its table) fails alone, with the
same code and the reason in the detail.

Implements docs/domain.md "Sending" / number formats:
- Mainland: an 11-digit mobile `1[3-9]xxxxxxxxx` with no prefix or `+86`, `0086`, `86` or a
  bare `+`. Under +86 only such mobiles are accepted; landlines are refused.
- International: `+`, `00` or no prefix (Alibaba's documented form: `85291234560`), country
  code, national number with the national trunk `0` dropped (Vietnam `84987654321`, not
  `840987654321`); validated with `phonenumbers`.

Ambiguity: docs/domain.md lists a bare `+` as a mainland prefix, and `+1` + 10 digits is a North
American number. A bare `+` before a mainland mobile's shape is read as mainland when the
segment table lists its segment (`+13125550123`: 131 is China Unicom's), otherwise as the
North American number if that is valid (`+14155550123`: no segment 141, so San Francisco).
`001...` always reaches North America. Without any prefix, 11 digits starting with 1 are
always mainland (refused if not a mobile's shape), never North American: country code 1 is
North America's alone, so a bare international number never starts with 1. `display` writes
the few North American numbers that would read back as mainland with `00` (`0013125550123`),
so a shown number always reads back as itself. Validity is `phonenumbers`' and strict: the
ranges kept for fiction (the UK's 07700 900xxx) are no real numbers and are refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import phonenumbers

from yizhan.domain.carriers import MAINLAND_CODE, mainland_segment, segment_table
from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber

if TYPE_CHECKING:
    from yizhan.policy.chain import SendContext

# [0-9], not \d: \d also matches full-width and other Unicode digits, which would then leak
# into the E.164 string that routing and records key on.
_MAINLAND = re.compile(r"(?:\+86|0086|86|\+)?(1[3-9][0-9]{9})")
_INTERNATIONAL = re.compile(r"(?:\+|00)([1-9][0-9]{1,14})|([2-9][0-9]{1,14})")
_DETAIL_MAX = 32


def normalize(raw: str) -> PhoneNumber | Refusal:
    """The E.164 form of `raw`, or the refusal a request with this number gets."""
    text = raw.strip()
    mainland = _MAINLAND.fullmatch(text)
    if mainland:
        national = mainland.group(1)
        if len(text) == 12 and not segment_table().lists(national):  # "+" + 11 digits
            north_american = _international(national)
            if north_american is not None:
                return north_american
        return PhoneNumber(MAINLAND_CODE + national)
    international = _INTERNATIONAL.fullmatch(text)
    if international:
        number = _international(international.group(1) or international.group(2))
        if number is not None:
            return number
    return _refuse(raw)


def is_mainland(number: PhoneNumber) -> bool:
    return number.startswith(MAINLAND_CODE)


def display(number: PhoneNumber) -> str:
    """How a number is shown to tenants: mainland as the bare 11 digits, others as E.164
    (or `00` + digits for a North American number that `+` would make mainland)."""
    if is_mainland(number):
        return number[len(MAINLAND_CODE) :]
    if len(number) == 12 and normalize(number) != number:
        return "00" + number[1:]
    return number


def supported_segment(ctx: SendContext, index: int) -> Refusal | None:
    """Per number: a mainland number must be in a segment of one of the three carriers."""
    number = ctx.numbers[index]
    # Numbers of one segment share the answer: "+86" and at most 4 digits decide it. Only
    # passes are remembered (a refusal names its number).
    key = ("numbers.segment", number[:7])
    if key in ctx.memo:
        return None
    segment = mainland_segment(number)
    if segment is None or segment.carrier is not None:
        ctx.memo[key] = None
        return None
    return Refusal("isv.MOBILE_NUMBER_ILLEGAL",
                   f"{display(number)}: segment {segment.prefix} is not supported "
                   f"({segment.refused})", "numbers.segment")


def _international(digits: str) -> PhoneNumber | None:
    """E.164 for country code + national number, or None if it is not a valid number."""
    if digits.startswith("86"):
        # Mainland mobiles matched above; anything else under +86 is a landline or junk.
        return None
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not (phonenumbers.is_valid_number(parsed) or phonenumbers.is_possible_number_for_type(
            parsed, phonenumbers.PhoneNumberType.MOBILE)):
        # Valid, or at least of a mobile number's length for its country: Alibaba accepts
        # numbers the library's tables do not list as assigned (the UK's 07700 900xxx range
        # the issue was reported with), and the carrier answers for those. Digits of no known
        # country, or of the wrong length, are still refused.
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 != "+" + digits:
        # phonenumbers silently drops a trunk `0` kept after the country code
        # (+840987654321 parses as +84987654321). The rule says the tenant drops it, so a
        # number that only becomes valid after rewriting is refused, not guessed at. Italy's
        # leading 0 is part of the number and survives formatting, so it still passes.
        return None
    return PhoneNumber(e164)


def _refuse(raw: str) -> Refusal:
    return Refusal("isv.MOBILE_NUMBER_ILLEGAL", detail=raw[:_DETAIL_MAX], rule="numbers.format")
