"""Receipt text and TLVs as carriers write them, id spellings, and long messages' parts
folded into one receipt."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yizhan.dispatch.channels.smpp_pdu import Tag, tlv_cstr, tlv_int
from yizhan.dispatch.channels.smpp_receipts import (
    IdBase,
    PartGroups,
    canonical_id,
    handset_number,
    parse_receipt,
    parse_text,
    receipt_text,
    submitted_at,
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


@pytest.mark.parametrize(("address", "number"), [
    ("8613800138000", "+8613800138000"), ("13800138000", "+8613800138000"),
    ("+8613800138000", "+8613800138000"), ("008613800138000", "+8613800138000"),
    ("85291234560", "+85291234560"), ("", ""), ("1069 001", "")])
def test_a_receipts_handset_is_written_as_the_store_writes_numbers(address: str,
                                                                    number: str) -> None:
    """issue 14 point 13: the handset names the message a lost submit answer left."""
    assert handset_number(address) == number


def test_the_submit_date_is_read_in_the_carriers_time() -> None:
    text = receipt_text("1", "DELIVRD", submitted="2612071524", done="2612071525")
    assert submitted_at(text) == datetime(2026, 12, 7, 15, 24, tzinfo=UTC)
    assert submitted_at(text, 8) == datetime(2026, 12, 7, 7, 24, tzinfo=UTC)
    with_seconds = "id:1 submit date:261207152459 done date:261207152501 stat:DELIVRD"
    assert submitted_at(with_seconds) == datetime(2026, 12, 7, 15, 24, 59, tzinfo=UTC)
    assert submitted_at(receipt_text("1", "DELIVRD")) is None  # left empty
    assert submitted_at("id:1 submit date:2613991524 stat:DELIVRD") is None  # no such day
    assert submitted_at("id:1 stat:DELIVRD") is None
