"""Stored push items -> what the tenant receives (docs/push.md "Items": SmsReport, SmsUp; and the
review results SignSmsReport, TemplateSmsReport, docs/push.md).

Items are stored with the spec's field names; an SmsReport gets its `err_msg` here, from the
code table of the channel that reported it (`domain/codes.py`, `CodeBook`), so that the
text follows the table; the channel's name is stored with the item for that and taken out
here. The HTTP push and the pull queue render items the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.push import CHANNEL_KEY, SMS_REPORT

DELIVERED_TEXT = "用户接收成功"


def render(topic: str, payload: str, book: CodeBook = PLATFORM_BOOK) -> dict[str, Any]:
    item: dict[str, Any] = orjson.loads(payload)
    channel = item.pop(CHANNEL_KEY, "")
    if topic == SMS_REPORT and "err_code" in item:
        item["err_msg"] = err_msg(bool(item.get("success")), item["err_code"], channel, book)
    return item


def err_msg(success: bool, code: str, channel: str = "",
            book: CodeBook = PLATFORM_BOOK) -> str:
    if success:
        return DELIVERED_TEXT
    info = book.explain(channel, code)
    return info.cause if info else code


def body(topic: str, payloads: Sequence[str], book: CodeBook = PLATFORM_BOOK) -> bytes:
    """The JSON array one push carries."""
    return orjson.dumps([render(topic, p, book) for p in payloads])
