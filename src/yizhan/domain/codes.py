"""Carrier receipt codes -> message status, cause and suggestion (carrier codes are data).

A channel classifies its receipts with its `CodeTable` (the platform's rules, `classify`, for
what the table does not list); records and pushes explain codes with the `CodeBook` of the
channels' tables. Success is normalised to `DELIVERED` (what Alibaba reports,
docs/errors.md "Receipt codes"); every other code is kept verbatim as the message's error code.

A channel may carry its own `CodeTable` (a TOML file next to its configuration,
docs/channels.md): its carrier's `stat`/`err` values -> our status and code, with a cause
and suggestion for codes the platform does not know. The channel applies it to each receipt
before the receipt leaves the channel (docs/contributing.md, style 6: carrier quirks live in
per-channel tables): the receipt carries the status and code so decided, and the code is the key its
explanation is found under, in the same table. What a channel's table does not list falls
through to the platform's rules.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yizhan.domain.model import MessageStatus

SUCCESS_CODES = frozenset({"DELIVRD", "DELIVERED"})

SIGN_NOT_REGISTERED = "isv.SIGN_NOT_REGISTERED"
"""The platform's code for a message the carrier refused because its signature is not
registered (实名制报备) on the sub-port that carried it (docs/compliance.md "Enforcement")."""

REAL_NAME_CODES = frozenset({"MB:1077"})
"""Carriers' receipt codes for an unregistered signature: China Mobile's gateways write
`MB:1077` (the simulator too, docs/simulator.md). A channel whose carrier writes another
maps it in its code table (`code = "isv.SIGN_NOT_REGISTERED"`, docs/channels.md)."""


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
    SIGN_NOT_REGISTERED: CodeInfo(
        "签名实名制报备问题。应运营商要求，各短信发送通道需完成对应签名的实名制报备 "
        "(the carrier requires the signature's real-name registration on every channel "
        "that sends it; it is not registered on this one)",
        "确认签名关联的资质已审核通过，发起报备，等待运营商审核（约5-7个工作日），"
        "再用三大运营商的号码少量多次发送；`yizhan signs status` 或 "
        "GET /v1/signatures/{name}/status 说明每家运营商还缺什么 (check that the "
        "signature's qualification is approved, start its registration, wait 5-7 working "
        "days for the carriers, then send a few messages to numbers of each carrier; the "
        "signature's status says what each carrier still needs)"),
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
"""Explanations by prefix when a code has no entry of its own (docs/errors.md "Receipt codes")."""


def classify(code: str) -> tuple[MessageStatus, str]:
    """Status and error code a receipt with this carrier code gives its message."""
    upper = code.upper()
    if upper in SUCCESS_CODES:
        return MessageStatus.SUCCESS, "DELIVERED"
    if upper in REAL_NAME_CODES:
        return MessageStatus.FAILED, SIGN_NOT_REGISTERED
    return MessageStatus.FAILED, code


def explain(code: str) -> CodeInfo | None:
    """What a code means: its own entry, else its family's (MK:, DB:, ...), else None."""
    found = TABLE.get(code) or TABLE.get(code.upper())
    if found is not None:
        return found
    upper = code.upper()
    return next((info for prefix, info in FAMILIES.items() if upper.startswith(prefix)), None)


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """What one carrier code means on one channel."""

    status: MessageStatus
    """success, failed, or waiting (not final, e.g. ENROUTE: the receipt is ignored and the
    message keeps waiting for its final one)."""
    code: str = ""
    """The error code the message gets; empty: the carrier's own code."""
    cause: str = ""
    suggestion: str = ""


STATUSES = {"success": MessageStatus.SUCCESS, "failed": MessageStatus.FAILED,
            "waiting": MessageStatus.WAITING}


class CodeTable:
    """A channel's carrier codes, over the platform's rules.

    Entries are keyed `STAT/ERR` (this `stat` with this `err`) or `STAT` (any `err`), without
    case. `read` gives the status and code of a receipt; `explain` the cause and suggestion
    of a code, the channel's first. An empty table is the platform's rules.
    """

    def __init__(self, entries: Mapping[str, CodeEntry] | None = None, name: str = "") -> None:
        self.name = name
        self._entries = {key.upper(): entry for key, entry in (entries or {}).items()}
        # A code's explanation is found under the code the entry gives its messages: its
        # `code`, or a `STAT` entry's own stat (a `STAT/ERR` entry without a code of its own
        # would give its cause to every record of that stat, so it explains nothing).
        self._explained = {
            (entry.code or key).upper(): CodeInfo(entry.cause, entry.suggestion)
            for key, entry in self._entries.items()
            if entry.cause and (entry.code or "/" not in key)}

    def read(self, stat: str, err: str = "") -> tuple[MessageStatus, str]:
        """Status and error code of a receipt with this `stat` and `err`."""
        entries = self._entries
        if entries:
            stat_upper = stat.upper()
            entry = (entries.get(f"{stat_upper}/{err.upper()}") if err else None) \
                or entries.get(stat_upper)
            if entry is not None:
                code = entry.code or stat
                if entry.status is MessageStatus.SUCCESS:
                    return MessageStatus.SUCCESS, "DELIVERED"
                return entry.status, code
        return classify(stat)

    def explain(self, code: str) -> CodeInfo | None:
        return self._explained.get(code.upper()) or explain(code)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def load(cls, path: Path) -> CodeTable:
        """A table from a TOML file (docs/channels.md shows one)."""
        return cls.from_data(tomllib.loads(path.read_text(encoding="utf-8")), path.stem)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], name: str = "") -> CodeTable:
        entries: dict[str, CodeEntry] = {}
        for key, value in data.get("codes", {}).items():
            status = STATUSES.get(str(value.get("status", "failed")))
            if status is None:
                raise ValueError(f"code {key}: status must be one of {', '.join(STATUSES)}")
            unknown = set(value) - {"status", "code", "cause", "suggestion"}
            if unknown:
                raise ValueError(f"code {key}: unknown fields {', '.join(sorted(unknown))}")
            entries[str(key)] = CodeEntry(status, str(value.get("code", "")),
                                          str(value.get("cause", "")),
                                          str(value.get("suggestion", "")))
        return cls(entries, name)


PLATFORM = CodeTable(name="platform")
"""No entries of its own: the platform's rules (`classify`, `explain`)."""


class CodeBook:
    """Every channel's code table by channel name, for what tenants read: a record's or a
    push's code is explained with the table of the channel that reported it, where that
    table knows the code, else by the platform's rules (`explain`)."""

    def __init__(self, tables: Mapping[str, CodeTable] | None = None) -> None:
        self._tables = dict(tables or {})

    def explain(self, channel: str, code: str) -> CodeInfo | None:
        table = self._tables.get(channel)
        return table.explain(code) if table is not None else explain(code)

    def reason(self, status: MessageStatus, channel: str, code: str,
               reason: str = "") -> tuple[str, str]:
        """The reason and suggestion a record shows. A failed or unknown record: its own
        reason (why it was refused, rejected or cut off) or else its code's cause, and its
        code's suggestion; any other record: its own reason and no suggestion."""
        if status not in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
            return reason, ""
        info = self.explain(channel, code) if code else None
        if info is None:
            return reason, ""
        return reason or info.cause, info.suggestion


PLATFORM_BOOK = CodeBook()
"""No channel tables: the platform's rules only."""
