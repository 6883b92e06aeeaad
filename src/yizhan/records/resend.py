"""Whether sending again to a failed number can succeed, from the message's error code.

Read by the failed-number export (`records/export.py`: its `resend` column and the
retryable-only filter). Three answers:

- `yes`: the failure was transient (handset off or out of coverage, expired, carrier or
  platform flow control, promotion hours, an outcome never reported); the same message may
  be delivered if sent again later.
- `no`: never send to this number again: it cannot receive (invalid, empty, a virtual
  operator's segment) or must not (blacklisted, opted out, on a carrier blacklist).
- `after-change`: the number is fine but something else must change first: the content
  (a blocked keyword, carrier content interception, a bad variable), or the account (a
  country registration, money, a suspension, a test template's bound numbers).

The codes are our error codes (the registry in `domain/errors.py`, which per-number refusals
store on the record) and the carriers' receipt codes (`domain/codes.py`, by code, then by
family). A code we do not know is `yes` when it comes from a carrier (carriers report
transient failures under many codes) and `after-change` when it is a business code.
docs/records.md lists the table.
"""

from __future__ import annotations

from enum import StrEnum


class Resend(StrEnum):
    YES = "yes"
    NO = "no"
    AFTER_CHANGE = "after-change"


NEVER = frozenset({
    # Ours: the number itself is refused.
    "isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_IN_BLACKLIST", "isv.MOBILE_OPTED_OUT",
    # Carriers': no such number, a wrong or blocked number, a blacklist after a complaint.
    "MK:0000", "MK:0001", "DB:0101", "DB:0141", "DB:0144", "W-BLACK", "ESME_RINVDSTADR",
})

AFTER_CHANGE = frozenset({
    # Ours: the content, the template or the account must change first.
    "isv.BLACK_KEY_CONTROL_LIMIT", "isv.PARAM_NOT_SUPPORT_CHARACTER", "isv.PARAM_NOT_SUPPORT_URL",
    "isv.PARAM_LENGTH_LIMIT", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.INVALID_JSON_PARAM",
    "isv.COUNTRY_REGISTRATION_REQUIRED", "isv.SMS_TEST_NUMBER_LIMIT", "isv.AMOUNT_NOT_ENOUGH",
    "isv.OUT_OF_SERVICE", "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
    # The signature's carrier registration must complete first (domain/codes.py).
    "isv.SIGN_NOT_REGISTERED",
    # Carriers': content interception and gateway rejections of the content.
    "MK:0115", "ID:0076", "REJECTD", "REJECT",
})

LATER = frozenset({
    # Ours: limits of time and frequency.
    "isv.BUSINESS_LIMIT_CONTROL", "isv.PROMOTION_TIME_LIMIT",
    # Carriers': the handset was off, out of coverage, full or suspended for a while; flow
    # control; no final state reported.
    "UNDELIV", "EXPIRED", "UNKNOWN", "MK:0005", "MK:0010", "MK:0013", "MK:0023", "MI:0024",
    "MI:0099", "DB:0102", "DB:0142", "IB:0008",
})

FAMILIES_AFTER_CHANGE = ("MA:", "MB:")
"""Carrier families that are mostly content or keyword interception."""


def verdict(code: str | None) -> Resend:
    """Whether a number that failed with `code` is worth sending to again (module doc)."""
    if not code:
        return Resend.YES  # no code: the outcome was never reported
    upper = code.upper()
    for codes, answer in ((NEVER, Resend.NO), (AFTER_CHANGE, Resend.AFTER_CHANGE),
                          (LATER, Resend.YES)):
        if code in codes or upper in codes:
            return answer
    if code.startswith(("isv.", "isp.")):
        return Resend.AFTER_CHANGE
    if upper.startswith(FAMILIES_AFTER_CHANGE):
        return Resend.AFTER_CHANGE
    return Resend.YES
