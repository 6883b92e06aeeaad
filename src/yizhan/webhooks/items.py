"""Stored push items -> what the tenant receives (docs/push.md "Items": SmsReport, SmsUp; and the
review results SignSmsReport, TemplateSmsReport, docs/push.md).

Items are stored with the spec's field names; an SmsReport gets its `err_msg` here, from the
carrier code table (`receipts/codes.py`), so that the text follows the table. The HTTP push
and the pull queue render items the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from yizhan.receipts import codes

DELIVERED_TEXT = "用户接收成功"


def render(topic: str, payload: str) -> dict[str, Any]:
    item: dict[str, Any] = orjson.loads(payload)
    if topic == "SmsReport" and "err_code" in item:
        item["err_msg"] = err_msg(bool(item.get("success")), item["err_code"])
    return item


def err_msg(success: bool, code: str) -> str:
    if success:
        return DELIVERED_TEXT
    info = codes.explain(code)
    return info.cause if info else code


def body(topic: str, payloads: Sequence[str]) -> bytes:
    """The JSON array one push carries."""
    return orjson.dumps([render(topic, p) for p in payloads])
