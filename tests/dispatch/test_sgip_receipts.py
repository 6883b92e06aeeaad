"""Reports and replies as the platform's events: a Report's id is its Submit's sequence
number and its ErrorCode is read through the channel's code table (the shipped one by
default); the parts of a long reply wait for each other, a part offered twice counts once,
and a reply missing a part is given with the rest when its time is up. (Through a running
channel and the simulated gateway: tests/dispatch/test_sgip.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

from yizhan.dispatch.channels.sgip_pdu import Deliver, Report, ReportState, Sequence
from yizhan.dispatch.channels.sgip_receipts import (
    ReplyParts,
    concat_of,
    default_codes,
    receipt_of,
    uplink_of,
)
from yizhan.dispatch.channels.sgip_text import MessageCoding, contents
from yizhan.domain.codes import CodeTable

SP_NUMBER = "1065501234"
NOW = datetime(2026, 12, 7, 10, 53, tzinfo=UTC)
SEQ = Sequence(1, 1207185300, 5)


def test_reports_read_through_the_shipped_code_table() -> None:
    def read(state: ReportState, error: int) -> tuple[str, str, str]:
        receipt = receipt_of(Report(SEQ, "8613000000001", state, error), "cucc",
                             default_codes(), NOW)
        assert receipt is not None
        assert (receipt.remote_id, receipt.phone) == ("1-1207185300-5", "+8613000000001")
        return receipt.status, receipt.code, receipt.raw

    assert read(ReportState.DELIVERED, 0) == ("success", "DELIVRD", "stat:DELIVRD err:000")
    assert read(ReportState.FAILED, 29) == ("failed", "MK:0001", "stat:UNDELIV err:029")
    assert read(ReportState.FAILED, 25) == ("failed", "MK:0023", "stat:UNDELIV err:025")
    assert read(ReportState.FAILED, 26) == ("failed", "SGIP:026", "stat:UNDELIV err:026")
    assert read(ReportState.FAILED, 99) == ("failed", "UNDELIV", "stat:UNDELIV err:099")
    info = default_codes().explain("SGIP:026")
    assert info is not None and "memory is full" in info.cause
    waiting = Report(SEQ, "8613000000001", ReportState.WAITING, 0)
    assert receipt_of(waiting, "cucc", default_codes(), NOW) is None


def test_a_channel_table_of_its_own_wins() -> None:
    own = CodeTable.from_data({"codes": {"UNDELIV/032": {"code": "CU:SYS",
                                                         "cause": "gateway down"}}})
    failed = Report(SEQ, "", ReportState.FAILED, 32)
    receipt = receipt_of(failed, "cucc", own, NOW)
    assert receipt is not None and (receipt.code, receipt.phone) == ("CU:SYS", "")


def _parts(text: str, reference: int) -> list[Deliver]:
    return [Deliver("8613000000001", SP_NUMBER + "0042", part, MessageCoding.UCS2, tp_udhi=1)
            for part in contents(text, MessageCoding.UCS2, reference)]


def test_the_parts_of_a_reply_wait_for_each_other_in_any_order() -> None:
    text = "回复" + "好" * 140
    parts = _parts(text, 9)
    assert len(parts) == 3 and concat_of(parts[0]) == (9, 3, 1)
    replies: ReplyParts[str] = ReplyParts(timeout=60)
    assert replies.offer(parts[2], "ack3", 0.0) is None
    assert replies.offer(parts[0], "ack1", 1.0) is None
    assert replies.offer(parts[0], "ack1-again", 2.0) is None  # offered twice: counts once
    assert replies.next_expiry() == 60.0
    whole = replies.offer(parts[1], "ack2", 3.0)
    assert whole is not None and len(replies) == 0 and replies.next_expiry() is None
    delivers, acks = whole
    assert acks == ["ack3", "ack1", "ack1-again", "ack2"]  # every answer is released
    uplink = uplink_of(delivers, "cucc", SP_NUMBER, NOW)
    assert uplink is not None
    assert (uplink.phone, uplink.dest_code, uplink.extension, uplink.content) == \
        ("+8613000000001", SP_NUMBER + "0042", "0042", text)


def test_a_reply_missing_a_part_is_given_with_the_rest_when_its_time_is_up() -> None:
    parts = _parts("好" * 100, 7)
    replies: ReplyParts[str] = ReplyParts(timeout=30)
    assert replies.offer(parts[0], "ack1", 100.0) is None
    assert replies.expired(129.9) == []
    ((delivers, acks),) = replies.expired(130.0)
    assert acks == ["ack1"] and len(replies) == 0
    uplink = uplink_of(delivers, "cucc", SP_NUMBER, NOW)
    assert uplink is not None and uplink.content == "好" * 67


def test_a_whole_reply_and_one_that_is_not_text() -> None:
    replies: ReplyParts[str] = ReplyParts()
    single = Deliver("8613000000001", "1069999", b"R", MessageCoding.ASCII)
    assert replies.offer(single, "a", 0.0) == ([single], ["a"])
    uplink = uplink_of([single], "cucc", SP_NUMBER, NOW)
    assert uplink is not None and (uplink.content, uplink.extension) == ("R", "")
    assert uplink_of([Deliver("8613000000001", SP_NUMBER, b"\x00", 4)], "cucc", SP_NUMBER,
                     NOW) is None
