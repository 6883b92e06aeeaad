"""What blocks a signature, per carrier, and the next step (issue 16 point 6): one cause per
carrier from the signature, its qualification and its registration rows, in both languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.compliance.test_qualifications import DETAILS
from yizhan.compliance.blocking import TEXTS, Cause, signature_status
from yizhan.domain.model import (
    AccountId,
    Qualification,
    QualificationKind,
    ReviewState,
    Signature,
    SignatureScenario,
)
from yizhan.domain.registration import Isp, RegistrationState, SubPortRegistration

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)
SIGNATURE = Signature(7, AccountId(1), "驿站科技", SignatureScenario.GENERAL,
                      ReviewState.APPROVED, "", NOW, qualification_id=1)
APPROVED = Qualification(1, AccountId(1), DETAILS, ReviewState.APPROVED, "", NOW, 1)


def row(isp: Isp, state: RegistrationState, reasons: tuple[str, ...] = (),
        detail: str = "", channel: str = "") -> SubPortRegistration:
    return SubPortRegistration(
        1, AccountId(1), 7, "驿站科技", isp, channel or isp.value, "1069001", state, reasons,
        detail, 1, NOW, NOW + timedelta(days=7), None, 0, NOW)


def causes(signature: Signature = SIGNATURE, qualification: Qualification | None = APPROVED,
           *rows: SubPortRegistration) -> list[Cause]:
    return [s.cause for s in signature_status(signature, qualification, rows)]


@pytest.mark.parametrize(("qualification", "cause"), [
    (None, Cause.NO_QUALIFICATION),
    (replace(APPROVED, state=ReviewState.PENDING), Cause.QUALIFICATION_PENDING),
    (replace(APPROVED, state=ReviewState.REJECTED, reason="营业执照模糊"),
     Cause.QUALIFICATION_REJECTED),
    (replace(APPROVED, details=replace(DETAILS, admin_phone="")), Cause.QUALIFICATION_INCOMPLETE),
    (replace(APPROVED, details=replace(DETAILS, kind=QualificationKind.PERSONAL)),
     Cause.PERSONAL_OWN_USE),
    (APPROVED, Cause.NOT_STARTED),
])
def test_nothing_filed_is_explained_by_the_qualification(qualification: Qualification | None,
                                                         cause: Cause) -> None:
    found = signature_status(SIGNATURE, qualification, [])
    assert [(s.isp, s.cause, s.state, s.blocked) for s in found] == [
        (isp, cause, RegistrationState.NOT_REGISTERED, True) for isp in Isp]
    assert found[0].zh == TEXTS[cause][0].format(remark="营业执照模糊")
    assert found[0].next_en == TEXTS[cause][3]


def test_the_rejected_qualifications_reason_is_quoted() -> None:
    [mobile, *_] = signature_status(SIGNATURE, replace(
        APPROVED, state=ReviewState.REJECTED, reason="营业执照模糊"), [])
    assert (mobile.zh, mobile.en) == ("关联的资质未通过审核：营业执照模糊",
                                      "the bound qualification was rejected: 营业执照模糊")


def test_each_carrier_says_where_its_registration_stands() -> None:
    found = signature_status(SIGNATURE, APPROVED, [
        row(Isp.MOBILE, RegistrationState.REGISTERING, ("REGISTERING",)),
        row(Isp.UNICOM, RegistrationState.FAILED, ("QUALIFICATION_ERROR",),
            "资质信息与工信部登记信息不一致"),
        row(Isp.TELECOM, RegistrationState.LAPSED, ("NO_SEND_RECORD",))])
    mobile, unicom, telecom = found
    assert (mobile.cause, mobile.since, mobile.due) == (Cause.REGISTERING, NOW,
                                                        NOW + timedelta(days=7))
    assert mobile.zh == "报备中：2026-12-07 提交，预计 2026-12-14 前答复"
    assert mobile.en == ("registering: filed 2026-12-07, the carrier's answer expected by "
                         "2026-12-14")
    assert (unicom.cause, unicom.reasons) == (Cause.FAILED, ("QUALIFICATION_ERROR",))
    assert unicom.zh == ("报备失败：资质原因：资质信息与工信部登记信息不一致; "
                         "资质信息与工信部登记信息不一致")
    assert unicom.en.startswith("registration failed: the qualification does not match the "
                                "company records")
    assert telecom.cause is Cause.LAPSED and "six months" in telecom.en
    assert all(s.blocked for s in found)


def test_a_carrier_that_accepts_it_on_one_sub_port_does_not_block() -> None:
    found = signature_status(SIGNATURE, APPROVED, [
        row(Isp.MOBILE, RegistrationState.FAILED, ("OTHERS_ERROR",), channel="cmcc-b"),
        row(Isp.MOBILE, RegistrationState.AWAITING_VERIFICATION, ("DETECTING",)),
        row(Isp.UNICOM, RegistrationState.REGISTERED, ("DETECT_SUCCESS",))])
    mobile, unicom, telecom = found
    assert (mobile.cause, mobile.blocked) == (Cause.AWAITING_VERIFICATION, False)
    assert "send a few messages" in mobile.next_en and "少量多次" in mobile.next_zh
    assert (unicom.cause, unicom.blocked) == (Cause.REGISTERED, False)
    assert telecom.cause is Cause.NOT_STARTED


@pytest.mark.parametrize(("state", "cause"), [(ReviewState.PENDING, Cause.SIGNATURE_PENDING),
                                              (ReviewState.REJECTED, Cause.SIGNATURE_REJECTED)])
def test_a_signature_not_approved_is_blocked_everywhere_by_its_review(
        state: ReviewState, cause: Cause) -> None:
    signature = replace(SIGNATURE, state=state, reason="签名与资质不符")
    assert causes(signature, APPROVED) == [cause] * 3
    if cause is Cause.SIGNATURE_REJECTED:
        assert signature_status(signature, APPROVED, [])[0].en == (
            "the signature was rejected: 签名与资质不符")


def test_every_cause_has_words_and_a_next_step_in_both_languages() -> None:
    assert set(TEXTS) == set(Cause)
    assert all(all(text for text in texts) for texts in TEXTS.values())
