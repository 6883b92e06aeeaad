"""Reports as the platform's receipts: a Report's id is its Submit's sequence number and its
ErrorCode is read through the channel's code table (the shipped one by default). (Through a
running channel and the simulated gateway, replies too: tests/dispatch/test_sgip.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

from yizhan.dispatch.channels.sgip_pdu import Report, ReportState, Sequence
from yizhan.dispatch.channels.sgip_receipts import default_codes, receipt_of
from yizhan.domain.codes import CodeTable

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
