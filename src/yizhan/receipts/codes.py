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
    "REJECT": CodeInfo("rejected by the carrier gateway (content, subscription or blacklist)",
                       "check the content and whether the user complained"),
    "MK:0000": CodeInfo("the number is blocked or empty", "check the number"),
    "MK:0005": CodeInfo("the number is suspended", "try again after the user restores service"),
    "MK:0010": CodeInfo("the handset stayed off or out of coverage until the message expired",
                        "try again when the user is reachable"),
    "MK:0013": CodeInfo("the number is suspended", "try again after the user restores service"),
    "MK:0115": CodeInfo("intercepted as spam by the carrier (keyword interception)",
                        "remove risky words from the template and variables"),
    "MI:0024": CodeInfo("the handset is powered off", "try again later"),
    "MI:0099": CodeInfo("the handset's memory is full or the device is not supported",
                        "ask the user to free space"),
    "DB:0101": CodeInfo("wrong number", "check the number"),
    "DB:0102": CodeInfo("the number is suspended", "try again after the user restores service"),
    "DB:0141": CodeInfo("the number is on the gateway blacklist", "do not send to this number"),
    "DB:0142": CodeInfo("the number reached the carrier's daily limit",
                        "send fewer messages to this number today"),
    "DB:0144": CodeInfo("the number is on the gateway blacklist", "do not send to this number"),
    "IB:0008": CodeInfo("carrier frequency control between gateways", "send again later"),
    "ID:0076": CodeInfo("blocked by a carrier keyword", "remove risky words from the content"),
}

FAMILIES: dict[str, CodeInfo] = {
    "MK:": CodeInfo("China Mobile SMSC-side failure (number state, power, interception)",
                    "check the number; try again later"),
    "MN:": CodeInfo("network-side failure, usually an empty, suspended or switched-off number",
                    "check the number; try again later"),
    "MI:": CodeInfo("SMSC or HLR error: empty, suspended or switched-off number",
                    "check the number; try again later"),
    "MA:": CodeInfo("gateway to SMSC error, often content or keyword interception",
                    "check the content"),
    "MB:": CodeInfo("SMSC error, often content or keyword interception", "check the content"),
    "DB:": CodeInfo("China Mobile DSMP error (number state, blacklist or limits)",
                    "check the number and the content"),
    "IB:": CodeInfo("inter-gateway (ISMG) error such as flow control", "send again later"),
    "IC:": CodeInfo("inter-gateway (ISMG) error", "send again later"),
    "GB": CodeInfo("carrier frequency control (minute or hour limit)",
                   "send fewer messages to this number"),
    "ESME_": CodeInfo("the carrier's SMPP gateway refused the submit", "check the number and "
                      "the channel's settings"),
}
"""Explanations by prefix when a code has no entry of its own (SPEC.md 8.3)."""


def classify(code: str) -> tuple[MessageStatus, str]:
    """Status and error code a receipt with this carrier code gives its message."""
    if code.upper() in SUCCESS_CODES:
        return MessageStatus.SUCCESS, "DELIVERED"
    return MessageStatus.FAILED, code


def explain(code: str) -> CodeInfo | None:
    """What a code means: its own entry, else its family's (MK:, DB:, ...), else None."""
    found = TABLE.get(code) or TABLE.get(code.upper())
    if found is not None:
        return found
    upper = code.upper()
    return next((info for prefix, info in FAMILIES.items() if upper.startswith(prefix)), None)
