"""The endpoint's own decoding: form pairs exactly as `urllib.parse.parse_qsl` reads them,
repeated headers, request ids."""

from __future__ import annotations

import itertools
import uuid
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yizhan.api.aliyun.formdecode import decode, form_pairs
from yizhan.api.errors import request_id

PIECES = st.sampled_from(["a", "B", "=", "&", "+", "%", "%2F", "%E4%B8%AD", "%zz", "中", " ",
                          "~", "-", "0", "%2", "==", "%2C", "%2c", "%2B", "%2b", "%25", ",",
                          "%2C%2", "%22", "%3A", "%7B", "%7D", "%7b", "%41", "4", "1", "C",
                          "%E9%98%BF"])


@pytest.mark.long
@settings(max_examples=2000)
@given(st.lists(PIECES, max_size=20).map("".join))
def test_form_pairs_agree_with_parse_qsl(text: str) -> None:
    """... and refuse what parse_qsl refuses when strict: escapes that are not UTF-8 (issue
    14 point 11; they used to become U+FFFD silently)."""
    try:
        expected = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            form_pairs(text)
        return
    assert form_pairs(text) == expected
    assert form_pairs(text) == expected  # again: short values now come from a cache


def test_a_list_of_a_thousand_numbers_is_decoded() -> None:
    numbers = [f"+86139{n:08d}" for n in range(1000)]
    text = "PhoneNumbers=" + "%2C".join(n.replace("+", "%2B") for n in numbers)
    assert form_pairs(text) == [("PhoneNumbers", ",".join(numbers))]


def test_a_header_sent_twice_is_signed_as_its_values_joined() -> None:
    scope = {"method": "POST", "path": "/", "query_string": b"Action=SendSms",
             "headers": [(b"Host", b"h"), (b"x-acs-foo", b"a"), (b"X-Acs-Foo", b"b")]}
    request = decode(scope, b"")
    assert request.headers == {"host": "h", "x-acs-foo": "a,b"}
    assert request.query == [("Action", "SendSms")]


def test_request_ids_are_upper_case_uuid4_and_never_repeat() -> None:
    ids = [request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for rid in ids[:100]:
        parsed = uuid.UUID(rid)
        assert parsed.version == 4 and str(parsed).upper() == rid


def test_consecutive_request_ids_share_no_prefix() -> None:
    """Issue 14 point 27: RequestIds are random, as Alibaba's are; they used to count up from
    a per-process prefix (...C56, ...C57), so consecutive ids shared their first 80 bits."""
    ids = [request_id() for _ in range(1000)]
    for first, second in itertools.pairwise(ids):
        assert first.replace("-", "")[:20] != second.replace("-", "")[:20]
