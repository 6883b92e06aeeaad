"""What SGIP carries inside its fields: the three text codings, long messages cut into parts
behind a concatenation header (TP_udhi) and put back together, and a Report's State and
ErrorCode in the stat/err words of receipts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.dispatch.channels.sgip_pdu import (
    Command,
    Deliver,
    Pdu,
    PduError,
    Report,
    ReportState,
    Sequence,
    Submit,
    decode,
    encode,
)
from yizhan.dispatch.channels.sgip_text import (
    MessageCoding,
    contents,
    decode_text,
    encode_text,
    error_code_of,
    format_for,
    reassemble,
    result_text,
    stat_of,
    strip_udh,
    text_of,
)

SEQ = Sequence(1, 1207185300, 9)


def test_codings_are_ascii_ucs2_and_gbk() -> None:
    assert (MessageCoding.ASCII, MessageCoding.UCS2, MessageCoding.GBK) == (0, 8, 15)
    assert format_for("Your code is 1234") is MessageCoding.ASCII
    assert format_for("【驿站】验证码 1234") is MessageCoding.UCS2
    assert encode_text("驿站", MessageCoding.GBK) == "驿站".encode("gbk")
    assert decode_text(bytes.fromhex("e6e4d5be"), MessageCoding.GBK) == "驿站"
    with pytest.raises(PduError, match="MessageCoding 4 is not text"):
        decode_text(b"\x00", 4)


def test_a_long_ucs2_text_goes_in_parts_that_come_back_in_any_order() -> None:
    text = "【驿站】" + "您的订单已发货，请注意查收。" * 8
    parts = contents(text, MessageCoding.UCS2, reference=0x2A)
    assert len(parts) == 2 and all(len(p) <= 140 for p in parts)
    assert [p[:6] for p in parts] == [bytes((5, 0, 3, 0x2A, 2, n)) for n in (1, 2)]
    submits = [Submit(user_numbers=["8613000000000"], message_content=p, message_coding=8,
                      tp_udhi=1) for p in parts]
    wire = [decode(encode(Pdu(Command.SUBMIT, SEQ, s))).body for s in submits]
    assert all(isinstance(b, Submit) for b in wire)
    got = [b.message_content for b in wire if isinstance(b, Submit)]
    assert reassemble(got[::-1], MessageCoding.UCS2) == text


def test_gbk_parts_are_cut_by_octets_never_inside_a_character() -> None:
    text = "联通" * 100  # 400 octets of GBK
    parts = contents(text, MessageCoding.GBK, reference=1)
    assert len(parts) == 3 and all(len(p) <= 140 for p in parts)
    assert reassemble(parts, MessageCoding.GBK) == text


def test_a_deliver_with_a_header_reads_as_its_text() -> None:
    content = bytes((5, 0, 3, 7, 1, 1)) + "退订".encode("utf-16-be")
    deliver = Deliver("8613000000000", "10655012340001", content, 8, tp_udhi=1)
    assert text_of(deliver.message_content, deliver.message_coding, deliver.tp_udhi) == "退订"
    assert text_of(b"R", 0, 0) == "R"
    with pytest.raises(PduError, match="runs past MessageContent"):
        strip_udh(b"\x09\x00")
    with pytest.raises(PduError, match="no concatenation element"):
        reassemble([b"\x02\x01\x00abc"], 0)


def test_a_report_reads_as_stat_and_err() -> None:
    assert (stat_of(Report(SEQ, "86130", ReportState.DELIVERED, 0)),
            error_code_of(Report(SEQ, "86130", ReportState.DELIVERED, 0))) == ("DELIVRD", "000")
    failed = Report(SEQ, "86130", ReportState.FAILED, 25)
    assert (stat_of(failed), error_code_of(failed)) == ("UNDELIV", "025")
    assert stat_of(Report(SEQ, "86130", ReportState.WAITING, 0)) == "ENROUTE"
    assert result_text(11) == "NODE_BUSY (11)" and result_text(99) == "result 99"


@given(st.text(st.characters(codec="utf-16", exclude_categories=("Cs",)), min_size=1,
               max_size=600), st.integers(0, 255))
def test_any_text_survives_its_parts_in_ucs2(text: str, reference: int) -> None:
    parts = contents(text, MessageCoding.UCS2, reference)
    assert all(len(p) <= 140 for p in parts)
    if len(parts) == 1:
        assert decode_text(parts[0], MessageCoding.UCS2) == text
    else:
        assert reassemble(parts, MessageCoding.UCS2) == text


@given(st.text(st.characters(codec="gbk"), min_size=1, max_size=400))
def test_any_gbk_text_survives_its_parts(text: str) -> None:
    parts = contents(text, MessageCoding.GBK, 3)
    assert all(len(p) <= 140 for p in parts)
    got = decode_text(parts[0], 15) if len(parts) == 1 else reassemble(parts, 15)
    assert got == text
