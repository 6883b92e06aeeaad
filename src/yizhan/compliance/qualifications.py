"""Qualifications (资质): the checks on what a tenant states, the review states as the
Alibaba SDK names them, what may change in which state, and the store the actions use
(docs/compliance.md "Qualifications").

A qualification is submitted pending review (a new review ticket, `order_id`); an operator
approves or rejects it with a reason; the tenant may update it while it is not approved
(each update opens a new ticket and returns it to review) and delete it unless a signature
uses it. Every step is audited (`QualificationDecision`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from yizhan.domain.model import (
    AccountId,
    Qualification,
    QualificationDecision,
    QualificationDetails,
    QualificationKind,
    ReviewState,
)

ID_TYPES = frozenset({"identityCard", "passport", "homeReturnPermit", "TaiwanCompatriotPermit",
                      "residencePermit", "other"})
"""The certificate types of the legal person and the administrator (the SDK's values)."""
COMPANY_TYPES = frozenset({"COMPANY", "NON_PROFIT_ORGANIZATION"})
"""The SDK's CompanyType: an enterprise, or a government agency or public institution."""

RECORD_STATES = {ReviewState.PENDING: "INIT", ReviewState.APPROVED: "PASS",
                 ReviewState.REJECTED: "NOT_PASS", ReviewState.DELETED: "CANCEL",
                 ReviewState.INCOMPLETE: "NOT_FINISH"}
"""The state names of QuerySmsQualificationRecord (its StateName and State filter)."""
SINGLE_STATES = {ReviewState.PENDING: "INT", ReviewState.APPROVED: "PASSED",
                 ReviewState.REJECTED: "FAILED", ReviewState.DELETED: "CANCELED",
                 ReviewState.INCOMPLETE: "NOT_FINISH"}
"""The state names of QuerySingleSmsQualification (the SDK spells them differently)."""

UPDATABLE = frozenset({ReviewState.PENDING, ReviewState.REJECTED, ReviewState.INCOMPLETE})
"""An approved qualification is not changed (a new one is submitted); a deleted one is gone."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")
"""The SDK: identity card photos are jpg, png, gif or jpeg."""
FILE_SUFFIXES = (*IMAGE_SUFFIXES, ".pdf")
REFERENCE = re.compile(r"[A-Za-z0-9_\-./]{1,255}")
"""A document reference: a path without Chinese or special characters (the SDK's rule)."""
NAME = re.compile(r"[\w]+")
COMPANY = re.compile(r"[\w·【】（）() ]+")
PHONE = re.compile(r"(?:\+86|0086|86|\+)?(1\d{10})")
PERIOD = re.compile(r"(\d{4}-\d{2}-\d{2})~(\d{4}-\d{2}-\d{2})")
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def credit_code_valid(code: str) -> bool:
    """A unified social credit code (GB 32100-2015): 18 characters, the last a check."""
    if len(code) != 18 or any(c not in CREDIT_CODE_ALPHABET for c in code):
        return False
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w
                for c, w in zip(code[:17], CREDIT_CODE_WEIGHTS, strict=True))
    return code[17] == CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def id_card_valid(number: str) -> bool:
    """A mainland resident identity card number (GB 11643): 18 characters, the last a check."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], ID_CARD_WEIGHTS, strict=True))
    return number[17] == "10X98765432"[total % 11]


def period_problem(field: str, value: str) -> str | None:
    match = PERIOD.fullmatch(value)
    if match is None:
        return f"{field} must be YYYY-MM-DD~YYYY-MM-DD"
    try:
        start, end = (date.fromisoformat(d) for d in match.groups())
    except ValueError:
        return f"{field} holds a date that does not exist"
    return f"{field} ends before it starts" if end < start else None


def text_problem(field: str, value: str, longest: int, pattern: re.Pattern[str]) -> str | None:
    if not value:
        return f"{field} is required"
    if len(value) > longest:
        return f"{field} must be at most {longest} characters"
    if not pattern.fullmatch(value) or value.isdigit():
        return f"{field} holds characters that are not allowed, or only digits"
    return None


def _person_problems(who: str, name: str, id_type: str, id_no: str,
                     valid: str) -> list[str]:
    problems = [text_problem(f"{who}Name", name, 50, NAME)]
    if id_type not in ID_TYPES:
        problems.append(f"{who}IDCardType must be one of {', '.join(sorted(ID_TYPES))}")
    elif id_type == "identityCard" and not id_card_valid(id_no):
        problems.append(f"{who}IDCardNo is not a valid identity card number")
    if not id_no:
        problems.append(f"{who}IDCardNo is required")
    problems.append(period_problem(f"{who} certificate validity", valid))
    return [p for p in problems if p]


def problems(details: QualificationDetails) -> list[str]:
    """Everything wrong with a qualification's details, in the SDK's field names; empty
    when it may be submitted."""
    found = [text_problem("QualificationName", details.name, 100, NAME),
             text_problem("CompanyName", details.company_name, 150, COMPANY)]
    if details.kind is QualificationKind.ENTERPRISE and details.company_type not in COMPANY_TYPES:
        found.append("CompanyType must be COMPANY or NON_PROFIT_ORGANIZATION")
    if not credit_code_valid(details.organization_code):
        found.append("OrganizationCode is not a valid unified social credit code")
    found.append(period_problem("BussinessLicenseExpDate", details.license_valid))
    found += _person_problems("LegalPerson", details.legal_person_name,
                              details.legal_person_id_type, details.legal_person_id_no,
                              details.legal_person_id_valid)
    found += _person_problems("Admin", details.admin_name, details.admin_id_type,
                              details.admin_id_no, details.admin_id_valid)
    if PHONE.fullmatch(details.admin_phone) is None:
        found.append("AdminPhoneNo must be a mainland mobile number")
    found += _document_problems(details)
    return [p for p in found if p]


def personal_problems(details: QualificationDetails) -> list[str]:
    """Everything wrong with an individual's qualification (the operator records it: the
    SDK has no field for individuals): the name, the person (as legal person and
    administrator both) and the phone."""
    found = [text_problem("QualificationName", details.name, 100, NAME)]
    found += _person_problems("Admin", details.admin_name, details.admin_id_type,
                              details.admin_id_no, details.admin_id_valid)
    if PHONE.fullmatch(details.admin_phone) is None:
        found.append("AdminPhoneNo must be a mainland mobile number")
    return [p for p in found if p]


def _document_problems(details: QualificationDetails) -> list[str]:
    found = []
    roles = {role.split(":")[0] for role, _ in details.documents}
    for role in ("admin_id_front", "admin_id_back"):
        if role not in roles:
            found.append(f"the administrator's identity card photos are required ({role})")
    if not details.for_self and "business_license" not in roles:
        found.append("BusinessLicensePics is required for a qualification for others (他用)")
    for role, reference in details.documents:
        suffixes = IMAGE_SUFFIXES if role.endswith("_front") or role.endswith("_back") \
            else FILE_SUFFIXES
        if not REFERENCE.fullmatch(reference) or not reference.lower().endswith(suffixes):
            found.append(f"document {reference!r}: a path of letters, digits, _-./ ending in "
                         f"{', '.join(suffixes)}")
    return found


def admin_phone(raw: str) -> str:
    """The administrator's number without its +86/0086/86 prefix."""
    match = PHONE.fullmatch(raw)
    return match.group(1) if match else raw


@dataclass(frozen=True, slots=True)
class QualificationFilter:
    """The filters of QuerySmsQualificationRecord; None: any."""

    name: str | None = None
    company_name: str | None = None
    legal_person_name: str | None = None
    state: ReviewState | None = None
    for_self: bool | None = None
    order_id: int | None = None


class QualificationStore(Protocol):
    """A tenant's qualifications as the API reads and changes them: every method that takes
    an account id sees only that account's qualifications, deleted ones never."""

    async def submit_qualification(self, account_id: AccountId, details: QualificationDetails,
                                   actor: str, now: datetime) -> Qualification | None: ...
    async def qualification(self, account_id: AccountId,
                            qualification_id: int) -> Qualification | None: ...
    async def qualification_named(self, account_id: AccountId,
                                  name: str) -> Qualification | None: ...
    async def page_qualifications(self, account_id: AccountId, where: QualificationFilter,
                                  offset: int, limit: int,
                                  ) -> tuple[int, Sequence[Qualification]]: ...
    async def update_qualification(self, qualification_id: int, details: QualificationDetails,
                                   actor: str, now: datetime) -> Qualification: ...
    async def delete_qualification(self, qualification_id: int, actor: str,
                                   now: datetime) -> None: ...
    async def signatures_using(self, qualification_id: int) -> int: ...
    async def review_qualification(self, qualification_id: int, state: ReviewState,
                                   reason: str, actor: str,
                                   now: datetime) -> Qualification | None: ...
    async def qualification_decisions(self, qualification_id: int,
                                      ) -> Sequence[QualificationDecision]: ...
