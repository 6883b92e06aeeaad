"""Carrier receipt codes: success normalised, failures kept verbatim, and every code family
of SPEC.md 8.3 explained (by its own entry or its prefix)."""

from __future__ import annotations

import pytest

from yizhan.domain.model import MessageStatus
from yizhan.receipts.codes import classify, explain


def test_delivered_is_normalised_and_failures_keep_their_code() -> None:
    assert classify("DELIVRD") == (MessageStatus.SUCCESS, "DELIVERED")
    assert classify("delivrd") == (MessageStatus.SUCCESS, "DELIVERED")
    assert classify("MK:0023") == (MessageStatus.FAILED, "MK:0023")


@pytest.mark.parametrize(("code", "words"), [
    ("MK:0001", "no such subscriber"), ("MK:0115", "spam"), ("DB:0141", "blacklist"),
    ("MK:9999", "China Mobile"), ("MN:0017", "network-side"), ("MI:0054", "HLR"),
    ("IB:0011", "inter-gateway"), ("GB:0001", "frequency control"),
    ("ESME_RINVDSTADR", "SMPP gateway"), ("expired", "validity period"),
])
def test_every_family_is_explained(code: str, words: str) -> None:
    info = explain(code)
    assert info is not None and words in info.cause


def test_an_unknown_code_has_no_explanation() -> None:
    assert explain("XYZ") is None
