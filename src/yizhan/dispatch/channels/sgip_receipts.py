"""What an SGIP channel makes of a Report the gateway sends back to its listener: a
`Receipt` classified by the channel's code table.

Consumes the Reports the channel's deliver loop takes from its listener (`sgip.py`); gives
the receipt it stores in the sink, after which the loop answers the gateway. (Handsets'
replies, whole or in parts, are the session core's: `session.Session._offer_reply`.)

A Report is read as stat + err (`sgip_text.stat_of`, `error_code_of`: `UNDELIV/029`) and
looked up in the channel's `CodeTable`; an SGIP channel without a table of its own uses the
shipped one (`data/sgip.codes.toml`, China Unicom's ErrorCodes with their source). Its id is
the Submit's Sequence Number as text (`Sequence.text`), which is what the channel gave the
dispatch worker as the message's remote id.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from functools import lru_cache
from importlib import resources

from yizhan.domain.codes import CodeTable
from yizhan.domain.events import Receipt
from yizhan.domain.model import MessageStatus

from . import sgip_text
from .sgip_pdu import Report
from .smpp_receipts import DELIVERED


@lru_cache(maxsize=1)
def default_codes() -> CodeTable:
    """China Unicom's Report ErrorCodes (`data/sgip.codes.toml`)."""
    text = resources.files("yizhan.dispatch.channels").joinpath(
        "data/sgip.codes.toml").read_text("utf-8")
    return CodeTable.from_data(tomllib.loads(text), "sgip")


def receipt_of(report: Report, channel: str, codes: CodeTable, now: datetime) -> Receipt | None:
    """The receipt a Report carries; None while the message is still waiting (State 1, or
    whatever the channel's table calls `waiting`)."""
    stat, err = sgip_text.stat_of(report), sgip_text.error_code_of(report)
    status, code = codes.read(stat, err)
    if status is MessageStatus.WAITING:
        return None
    if status is MessageStatus.SUCCESS:  # as every channel reports success
        code = DELIVERED
    phone = report.user_number
    return Receipt(channel, report.submit_sequence.text, code, now, f"stat:{stat} err:{err}",
                   status.value, "+" + phone if phone and not phone.startswith("+") else phone)
