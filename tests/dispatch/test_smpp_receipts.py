"""Receipt text and TLVs as carriers write them, id spellings, and long messages' parts
folded into one receipt."""

from __future__ import annotations

import pytest

from yizhan.dispatch.channels.smpp_pdu import Tag, tlv_cstr, tlv_int
from yizhan.dispatch.channels.smpp_receipts import (
    IdBase,
    PartGroups,
    canonical_id,
    parse_receipt,
    parse_text,
    receipt_text,
)


def test_the_standard_receipt_text() -> None:
    text = ("id:0123456789 sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 "
            "stat:DELIVRD err:000 text:Your code is 1234")
    assert parse_text(text) == {
        "id": "0123456789", "sub": "001", "dlvrd": "001", "submit date": "2611251200",
        "done date": "2611251201", "stat": "DELIVRD", "err": "000",
        "text": "Your code is 1234"}


def test_chinese_gateway_codes_with_colons_and_odd_spacing() -> None:
    fields = parse_text("ID:AB12  Sub:001 dlvrd:000 Submit Date:2611251200 done date:2611251201"
                        " stat:MK:0001 err:001 Text:stat:fake id:fake")
    assert (fields["id"], fields["stat"], fields["err"]) == ("AB12", "MK:0001", "001")
    assert fields["text"] == "stat:fake id:fake"  # words inside the text are not fields


def test_the_tlvs_win_over_the_text_and_fill_in_for_it() -> None:
    parsed = parse_receipt(receipt_text("999", "UNDELIV").encode(),
                           {Tag.RECEIPTED_MESSAGE_ID: tlv_cstr("0A1B")})
    assert parsed and (parsed.remote_id, parsed.code) == ("0A1B", "UNDELIV")
    parsed = parse_receipt(b"", {Tag.RECEIPTED_MESSAGE_ID: tlv_cstr("77"),
                                 Tag.MESSAGE_STATE: tlv_int(3, 1)})
    assert parsed and (parsed.remote_id, parsed.code) == ("77", "EXPIRED")
    assert parse_receipt(b"stat:DELIVRD", {}) is None


@pytest.mark.parametrize(("written", "base", "canonical"), [
    ("0A1B2C", IdBase.TEXT, "a1b2c"), ("000a1b2c", IdBase.TEXT, "a1b2c"),
    ("0A1B", IdBase.HEX, "2587"), ("2587", IdBase.DEC, "2587"), ("002587", IdBase.DEC, "2587"),
    ("not-hex", IdBase.HEX, "not-hex"), ("000", IdBase.TEXT, "0"), (" 42 ", IdBase.DEC, "42"),
])
def test_ids_are_brought_to_one_spelling(written: str, base: IdBase, canonical: str) -> None:
    assert canonical_id(written, base) == canonical


def test_parts_report_once_when_all_are_delivered() -> None:
    groups = PartGroups()
    groups.add(["a", "b", "c"])
    assert groups.resolve("c", "DELIVRD") is None
    assert groups.resolve("a", "DELIVRD") is None
    assert groups.resolve("b", "DELIVRD") == "a"
    assert len(groups) == 0
    assert groups.resolve("z", "DELIVRD") == "z"  # a single-part message is itself


def test_the_first_failing_part_decides_and_the_rest_are_absorbed() -> None:
    groups = PartGroups()
    groups.add(["a", "b"])
    assert groups.resolve("b", "EXPIRED") == "a"
    assert groups.resolve("a", "DELIVRD") is None


def test_groups_are_capped() -> None:
    groups = PartGroups(capacity=4)
    groups.add(["a", "b"])
    groups.add(["c", "d"])
    groups.add(["e", "f"])
    assert len(groups) == 4
    assert groups.resolve("a", "DELIVRD") == "a"  # forgotten: reported as itself
