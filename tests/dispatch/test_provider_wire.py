"""What the cloud providers' wires share (`dispatch/channels/provider_wire.py`); each
provider's use of it is tested over HTTP in test_aliyun_upstream, test_tencent, test_twilio."""

from __future__ import annotations

import httpx
import pytest

from yizhan.dispatch.channels.http_upstream import Throttled
from yizhan.dispatch.channels.provider_wire import (
    push_items,
    raw_of,
    template_text,
    unreadable,
)
from yizhan.domain.ports import Ambiguous, Rejected, Retryable


@pytest.mark.parametrize(("content", "sign", "text"), [
    ("【驿站】验证码 1234", "驿站", "验证码 1234"),
    ("【别家】验证码 1234", "驿站", "验证码 1234"),  # another signature, cut all the same
    ("验证码 1234", "驿站", "验证码 1234"),
    ("【驿站 验证码", "", "【驿站 验证码"),  # no closing bracket: not a signature
])
def test_a_pass_through_template_carries_the_text_without_its_signature(
        content: str, sign: str, text: str) -> None:
    assert template_text(content, sign) == text


def test_an_unreadable_answer_is_ambiguous_after_a_200_else_its_status_decides() -> None:
    assert isinstance(unreadable(httpx.Response(200, text="<html>"), "X JSON"), Ambiguous)
    assert unreadable(httpx.Response(200), "X JSON") == Ambiguous(
        "the provider's answer is not X JSON")
    assert isinstance(unreadable(httpx.Response(429), "X JSON"), Throttled)
    assert isinstance(unreadable(httpx.Response(503), "X JSON"), Retryable)
    assert isinstance(unreadable(httpx.Response(400), "X JSON"), Rejected)


def test_a_push_gives_the_objects_that_carry_the_id_or_why_it_is_refused() -> None:
    body = b'[{"sid": "a", "x": 1}, {"sid": ""}, 3, {"other": "b"}, {"sid": "c"}]'
    assert push_items(body, "sid", "reports") == [{"sid": "a", "x": 1}, {"sid": "c"}]
    assert push_items(b"not json", "sid", "reports") == "the body is not JSON"
    assert push_items(b'{"sid": "a"}', "sid", "reports") == (
        "the body is not a JSON array of reports")


def test_a_raw_text_keeps_the_fields_asked_for_missing_ones_as_null() -> None:
    assert raw_of({"a": 1, "b": "x", "c": 2}, ("b", "a", "d")) == '{"b":"x","a":1,"d":null}'
