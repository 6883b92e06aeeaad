"""What the cloud providers' wires share (`aliyun_upstream.py`, `tencent.py`, `twilio.py`).

Each provider's module writes its own requests and reads its own answers (a `Provider` of
`http_upstream.py`); what they would otherwise each write again lives here: the settings and
`[submit]` codes a provider keeps (`ProviderWire`), the text sent through a pass-through
template (`template_text`), the answer of a submit whose body is not the provider's
(`unreadable`), the items of a pushed JSON array (`push_items`) and a report's raw text
(`raw_of`). It decides nothing about a message: the channel does, with these values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import httpx
import orjson

from yizhan.dispatch.channels.http_upstream import (
    SubmitCodes,
    Throttled,
    provider_data,
    retryable_status,
)
from yizhan.domain.ports import Ambiguous, SubmitResult

S = TypeVar("S")


class ProviderWire(Generic[S]):
    """A provider's settings and what its refusal codes mean (its data file's `[submit]`,
    `provider_data`); a provider's class names its `kind` and completes the `Provider`."""

    kind: str

    def __init__(self, settings: S) -> None:
        self.settings = settings
        self.codes = SubmitCodes.from_data(provider_data(self.kind))


def template_text(content: str, sign_name: str) -> str:
    """The text without the 【signature】 the upstream adds again: what a pass-through
    template (Dysmsapi's `${content}`, Tencent's `{1}`) carries."""
    head = f"【{sign_name}】"
    if sign_name and content.startswith(head):
        return content[len(head):]
    if content.startswith("【") and "】" in content:
        return content[content.index("】") + 1:]
    return content


def unreadable(response: httpx.Response, form: str) -> SubmitResult | Throttled:
    """The answer of a submit whose body is not the provider's `form` ("Dysmsapi JSON"):
    an HTTP error status says what happened (`retryable_status`); a 200 with another body
    may follow a send (ambiguous)."""
    if response.status_code != 200:
        return retryable_status(response)
    return Ambiguous(f"the provider's answer is not {form}")


def push_items(body: bytes, key: str, what: str) -> list[dict[str, Any]] | str:
    """The objects of a pushed JSON array that carry `key` (the message's id), or why the
    push is refused: not JSON, or not "a JSON array of `what`"."""
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the body is not JSON"
    if not isinstance(items, list):
        return f"the body is not a JSON array of {what}"
    return [item for item in items if isinstance(item, dict) and item.get(key)]


def raw_of(item: Mapping[str, Any], keys: Iterable[str]) -> str:
    """The fields `keys` of a provider's answer as JSON text: a report's `raw`."""
    return orjson.dumps({k: item.get(k) for k in keys}).decode()
