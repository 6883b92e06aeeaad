"""The endpoint's own form decoder reads every string exactly as `urllib.parse.parse_qsl`."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from yizhan.api.aliyun.endpoint import form_pairs

PIECES = st.sampled_from(["a", "B", "=", "&", "+", "%", "%2F", "%E4%B8%AD", "%zz", "中", " ",
                          "~", "-", "0", "%2", "=="])


@settings(max_examples=2000)
@given(st.lists(PIECES, max_size=20).map("".join))
def test_form_pairs_agree_with_parse_qsl(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)
