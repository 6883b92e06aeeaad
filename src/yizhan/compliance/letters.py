"""Letters of authorization (委托授权书): the checks on what a tenant states, the two states
the Alibaba SDK names (`State`: review, `Status`: validity), the rule that a qualification
for others (他用) needs a valid letter from its company, and the store the actions use
(docs/compliance.md "Authorization letters").

A letter is never reviewed on its own: its `State` follows its signatures (`PASSED` once one
of the signatures it covers is approved, `INT` before) and its `Status` its validity period
(`VALID` within it, `INVALID` before or after), so both are computed when asked, never
stored.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from yizhan.compliance.qualifications import (
    COMPANY,
    IMAGE_SUFFIXES,
    NAME,
    PERIOD,
    REFERENCE,
    credit_code_valid,
    period_problem,
    text_problem,
)
from yizhan.compliance.signatures import check_sign_name
from yizhan.domain.model import AccountId, AuthorizationLetter, LetterDetails, Qualification

MAX_SIGNS = 100
"""The SDK: a letter covers at most 100 signatures."""
MAX_IDS = 100
"""At most so many ids in QuerySmsAuthorizationLetter's AuthorizationLetterIdList."""
STATES = ("INT", "PASSED")
STATUSES = ("VALID", "INVALID")


def problems(details: LetterDetails, today: date) -> list[str]:
    """Everything wrong with a letter's details, in the SDK's field names; empty when it may
    be created. A letter already expired is refused: it could cover nothing."""
    found = [text_problem("AuthorizationLetterName", details.name, 100, NAME),
             text_problem("Authorization", details.authorizing, 150, COMPANY),
             text_problem("ProxyAuthorization", details.authorized, 150, COMPANY)]
    if not credit_code_valid(details.organization_code):
        found.append("OrganizationCode is not a valid unified social credit code")
    period = period_problem("AuthorizationLetterExpDate", details.valid)
    if period is None and _period(details.valid)[1] < today:
        period = "AuthorizationLetterExpDate has ended already"
    found.append(period)
    if not REFERENCE.fullmatch(details.document) \
            or not details.document.lower().endswith(IMAGE_SUFFIXES):
        found.append(f"AuthorizationLetterPic {details.document!r}: a path of letters, "
                     f"digits, _-./ ending in {', '.join(IMAGE_SUFFIXES)}")
    found += _sign_problems(details.signs)
    return [p for p in found if p]


def _sign_problems(signs: Sequence[str]) -> list[str]:
    if not 1 <= len(signs) <= MAX_SIGNS:
        return [f"SignList must name 1 to {MAX_SIGNS} signatures"]
    if len(set(signs)) != len(signs):
        return ["SignList names a signature twice"]
    found = []
    for sign in signs:
        # a signature's source is checked when it is applied for; here only its name
        refusal = check_sign_name(sign, "app")
        if refusal is not None:
            found.append(f"SignList: {refusal.detail}")
    return found


def _period(valid: str) -> tuple[date, date]:
    match = PERIOD.fullmatch(valid)
    assert match is not None
    start, end = (date.fromisoformat(d) for d in match.groups())
    return start, end


def status(letter: AuthorizationLetter, today: date) -> str:
    """`VALID` within the letter's validity period (China's calendar day), else `INVALID`."""
    start, end = _period(letter.details.valid)
    return "VALID" if start <= today <= end else "INVALID"


def state(letter: AuthorizationLetter, approved_signs: Collection[str]) -> str:
    """`PASSED` once a signature the letter covers is approved, else `INT`."""
    return "PASSED" if any(s in approved_signs for s in letter.details.signs) else "INT"


def covering_letter(qualification: Qualification, letters: Iterable[AuthorizationLetter],
                    today: date) -> AuthorizationLetter | None:
    """The letter a qualification for others (他用) stands on: one of the account's letters
    from the qualification's company (the same unified social credit code), valid today.
    A qualification for own use needs none (returns None too: ask `needs_letter`)."""
    return next((letter for letter in letters
                 if letter.details.organization_code == qualification.details.organization_code
                 and status(letter, today) == "VALID"), None)


def sign_letter_problem(letter: AuthorizationLetter, qualification: Qualification,
                        sign_name: str, today: date) -> str | None:
    """What keeps `letter` from standing behind the signature `sign_name` applied for under
    a qualification for others (docs/compliance.md "Signature actions"); None when it may:
    valid today, from the qualification's company and naming the signature in its SignList.
    """
    if status(letter, today) != "VALID":
        return f"AuthorizationLetterId {letter.id} is not valid today ({letter.details.valid})"
    if letter.details.organization_code != qualification.details.organization_code:
        return (f"AuthorizationLetterId {letter.id} is from another company than "
                f"qualification {qualification.id} (OrganizationCode)")
    if sign_name not in letter.details.signs:
        return f"AuthorizationLetterId {letter.id}: its SignList does not name {sign_name!r}"
    return None


def needs_letter(qualification: Qualification) -> bool:
    """A qualification for others (他用) of a company needs a letter of authorization."""
    return not qualification.details.for_self and bool(qualification.details.organization_code)


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """The store-side filters of QuerySmsAuthorizationLetter; None: any. `State` and
    `Status` are computed and filtered by the action."""

    ids: tuple[int, ...] | None = None
    organization_code: str | None = None
    sign_name: str | None = None


class LetterStore(Protocol):
    """A tenant's letters of authorization: every method sees only that account's."""

    async def create_letter(self, account_id: AccountId, details: LetterDetails,
                            now: datetime) -> AuthorizationLetter | None: ...
    async def letter_named(self, account_id: AccountId,
                           name: str) -> AuthorizationLetter | None: ...
    async def letters(self, account_id: AccountId,
                      where: LetterFilter) -> Sequence[AuthorizationLetter]: ...
    async def approved_sign_names(self, account_id: AccountId) -> set[str]: ...
