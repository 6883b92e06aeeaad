"""The rules of qualifications (资质) on the record itself: the checks, and which ones carrier
registration may use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from yizhan.compliance.qualifications import (
    credit_code_valid,
    id_card_valid,
    problems,
)
from yizhan.domain.model import (
    AccountId,
    Qualification,
    QualificationDetails,
    QualificationKind,
    ReviewState,
)

DETAILS = QualificationDetails(
    "驿站科技资质", QualificationKind.ENTERPRISE, True, company_type="COMPANY",
    company_name="驿站科技（杭州）有限公司", organization_code="91350100M000100Y43",
    license_valid="2020-01-01~2099-12-31", legal_person_name="张三",
    legal_person_id_type="identityCard", legal_person_id_no="11010519491231002X",
    legal_person_id_valid="2015-01-01~2035-01-01", admin_name="李四",
    admin_id_type="passport", admin_id_no="E12345678", admin_id_valid="2020-05-01~2030-05-01",
    admin_phone="13800138000",
    documents=(("admin_id_front", "a/front.jpg"), ("admin_id_back", "a/back.png")))


def qualification(kind: QualificationKind, for_self: bool, state: ReviewState) -> Qualification:
    return Qualification(1, AccountId(1), replace(DETAILS, kind=kind, for_self=for_self), state,
                         "", datetime(2026, 12, 7, tzinfo=UTC), 1)


@pytest.mark.parametrize(("kind", "for_self", "state", "usable"), [
    (QualificationKind.PERSONAL, True, ReviewState.APPROVED, False),
    (QualificationKind.PERSONAL, False, ReviewState.APPROVED, True),
    (QualificationKind.ENTERPRISE, True, ReviewState.APPROVED, True),
    (QualificationKind.ENTERPRISE, False, ReviewState.APPROVED, True),
    (QualificationKind.ENTERPRISE, True, ReviewState.PENDING, False),
    (QualificationKind.ENTERPRISE, True, ReviewState.REJECTED, False),
])
def test_an_individuals_own_use_qualification_is_never_usable_for_registration(
        kind: QualificationKind, for_self: bool, state: ReviewState, usable: bool) -> None:
    assert qualification(kind, for_self, state).usable_for_registration is usable


def test_check_characters() -> None:
    assert credit_code_valid("91350100M000100Y43")
    assert not credit_code_valid("91350100M000100Y44")
    assert not credit_code_valid("91350100M000100Y4")
    assert not credit_code_valid("91350100I000100Y43")  # I is not in the alphabet
    assert id_card_valid("11010519491231002X")
    assert not id_card_valid("110105194912310021")
    assert not id_card_valid("11010519491231002x")


def test_complete_details_pass_and_each_problem_is_named() -> None:
    assert problems(DETAILS) == []
    wrong = replace(DETAILS, company_type="", admin_phone="110",
                    admin_id_valid="2030-13-01~2031-01-01", documents=())
    assert problems(wrong) == [
        "CompanyType must be COMPANY or NON_PROFIT_ORGANIZATION",
        "Admin certificate validity holds a date that does not exist",
        "AdminPhoneNo must be a mainland mobile number",
        "the administrator's identity card photos are required (admin_id_front)",
        "the administrator's identity card photos are required (admin_id_back)"]
    assert problems(replace(DETAILS, for_self=False)) == [
        "BusinessLicensePics is required for a qualification for others (他用)"]
    assert problems(replace(DETAILS, for_self=False, documents=(
        *DETAILS.documents, ("business_license:businessLicense", "a/licence.pdf")))) == []
