"""Carrier receipt codes -> message status, cause and suggestion (carrier codes are data).

The receipt stage classifies every receipt with `classify`; the diagnosis features read
`explain`. Success is normalised to `DELIVERED` (what Alibaba reports, SPEC.md §8.3); every
other code is kept verbatim as the message's error code. Per-channel tables join in the
carriers issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from yizhan.domain.model import MessageStatus

SUCCESS_CODES = frozenset({"DELIVRD", "DELIVERED"})


@dataclass(frozen=True, slots=True)
class CodeInfo:
    cause: str
    suggestion: str


TABLE: dict[str, CodeInfo] = {
    "UNDELIV": CodeInfo("undeliverable: the handset was off for long, or the number is "
                        "suspended or abnormal", "check the number; try again later"),
    "EXPIRED": CodeInfo("not delivered within the validity period (handset off or out of "
                        "coverage)", "try again when the user is reachable"),
    "REJECTD": CodeInfo("rejected by the carrier gateway (content, subscription or blacklist)",
                        "check the content and whether the user complained"),
    "UNKNOWN": CodeInfo("the carrier did not report a final state", "query again later"),
    "MK:0001": CodeInfo("no such subscriber (empty number)", "remove the number"),
    "MK:0023": CodeInfo("the handset is powered off", "try again later"),
    "W-BLACK": CodeInfo("the number is on a blacklist after a complaint",
                        "do not send to this number"),
}


def classify(code: str) -> tuple[MessageStatus, str]:
    """Status and error code a receipt with this carrier code gives its message."""
    if code.upper() in SUCCESS_CODES:
        return MessageStatus.SUCCESS, "DELIVERED"
    return MessageStatus.FAILED, code


def explain(code: str) -> CodeInfo | None:
    return TABLE.get(code) or TABLE.get(code.upper())
