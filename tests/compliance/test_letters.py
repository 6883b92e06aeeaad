"""The rules of letters of authorization (compliance/letters.py) as pure functions: the
validity status by China's calendar day, the review state following the signatures, and
which letter a qualification for others stands on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from yizhan.compliance import letters
from yizhan.domain.model import (
    AccountId,
    AuthorizationLetter,
    LetterDetails,
    Qualification,
    QualificationDetails,
    QualificationKind,
    ReviewState,
)

CODE = "91350100M000100Y43"
LETTER = AuthorizationLetter(1, AccountId(1), LetterDetails(
    "授权书", "驿站科技有限公司", CODE, "代理公司", ("驿站科技", "云帆物流"),
    "2026-01-01~2026-12-31", "a.png"), datetime(2026, 1, 1, tzinfo=UTC))
DETAILS = LetterDetails("授权书", "驿站科技有限公司", CODE, "代理公司",
                                ("驿站科技",), "2026-01-01~2027-12-31", "letters/a.jpg")


def qualification(for_self: bool, code: str = CODE) -> Qualification:
    return Qualification(7, AccountId(1), QualificationDetails(
        "资质", QualificationKind.ENTERPRISE, for_self, organization_code=code),
        ReviewState.PENDING, "", datetime(2026, 1, 1, tzinfo=UTC), 1)


def test_status_is_the_validity_period_inclusive() -> None:
    assert [letters.status(LETTER, d) for d in (
        date(2025, 12, 31), date(2026, 1, 1), date(2026, 12, 31), date(2027, 1, 1))] == [
        "INVALID", "VALID", "VALID", "INVALID"]


def test_state_follows_the_covered_signatures() -> None:
    assert letters.state(LETTER, set()) == "INT"
    assert letters.state(LETTER, {"驿站"}) == "INT"
    assert letters.state(LETTER, {"云帆物流"}) == "PASSED"


def test_a_qualification_for_others_stands_on_a_valid_letter_of_its_company() -> None:
    today = date(2026, 6, 1)
    assert letters.needs_letter(qualification(False))
    assert not letters.needs_letter(qualification(True))
    assert letters.covering_letter(qualification(False), [LETTER], today) is LETTER
    assert letters.covering_letter(qualification(False), [LETTER], date(2027, 6, 1)) is None
    other = qualification(False, "91110000600037341L")
    assert letters.covering_letter(other, [LETTER], today) is None


def test_details_checks() -> None:
    today = date(2026, 6, 1)
    assert letters.problems(DETAILS, today) == []
    assert letters.problems(DETAILS, date(2028, 1, 1)) == [
        "AuthorizationLetterExpDate has ended already"]
    assert letters.problems(replace(DETAILS, signs=("a",)), today)[0].startswith("SignList")
    assert letters.problems(replace(DETAILS, document="a.gif.exe"), today)[0].startswith(
        "AuthorizationLetterPic")
