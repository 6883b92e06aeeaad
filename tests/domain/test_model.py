"""`Message`'s constructors: one per use, by keyword, the same records as the plain build."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from yizhan.domain.model import (
    SET_AFTER_ACCEPTANCE,
    AccountId,
    BizId,
    DispatchState,
    Message,
    MessageId,
    MessageStatus,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)

AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
GIVEN: dict[str, Any] = {
    "id": MessageId(7), "biz_id": BizId("7^0"), "account_id": AccountId(3),
    "phone": PhoneNumber("+8613800138000"), "sign_name": "驿站",
    "template_code": TemplateCode("SMS_1"), "template_type": TemplateType.PROMOTION,
    "content": "【驿站】hi", "segments": 2, "out_id": "o-1", "created_at": AT,
    "part_price": 45}


def test_queued_is_a_waiting_message_queued_for_dispatch_with_every_other_field_default(
        ) -> None:
    queued = Message.queued(**GIVEN, reason="voice")
    assert queued == Message(**GIVEN, status=MessageStatus.WAITING, error_code="",
                             dispatch_state=DispatchState.QUEUED, reason="voice")
    assert type(queued) is Message and len(queued) == len(Message._fields)
    # Every field reads back under its own name (the fast build puts them by position).
    assert {name: getattr(queued, name) for name in Message._fields} == {
        **Message._field_defaults, **GIVEN, "status": MessageStatus.WAITING,
        "error_code": "", "dispatch_state": DispatchState.QUEUED, "reason": "voice"}


def test_refused_is_a_failed_record_that_never_leaves_with_its_code_and_rule() -> None:
    refused = Message.refused(**GIVEN, error_code="isv.BLACK", reason="blacklist: listed")
    assert refused == Message(**GIVEN, status=MessageStatus.FAILED, error_code="isv.BLACK",
                              dispatch_state=DispatchState.DONE, reason="blacklist: listed")


def test_both_leave_what_dispatch_receipts_and_billing_set_at_its_default() -> None:
    for made in (Message.queued(**GIVEN),
                 Message.refused(**GIVEN, error_code="isv.BLACK", reason="r")):
        assert {name: getattr(made, name) for name in SET_AFTER_ACCEPTANCE} == {
            name: Message._field_defaults[name] for name in SET_AFTER_ACCEPTANCE}
