"""The operator's review, as `yizhan review queue` and the console's review page both run it
(docs/compliance.md "Operator review of signatures and templates"): everything waiting for
an operator, oldest first, and the decision on a qualification with its checks.

`waiting` lists qualifications, signatures and templates under review, each since its
submission or its tenant's latest resubmission, templates with the review linter's
findings. `decide_qualification` approves, rejects or asks for more material: only one
under review, a rejection with a reason (shown to the tenant), an approval of one for
others (他用) only with a valid letter of authorization; an approval files the
qualification's approved signatures with the carriers again. A refused decision is a
`Problem`, which each caller words in its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from yizhan.compliance import letters
from yizhan.compliance.registration import RegistrationService, Started
from yizhan.domain.model import (
    AccountId,
    AuthorizationLetter,
    Qualification,
    ReviewState,
    Signature,
    Template,
)
from yizhan.domain.timezone import china_today
from yizhan.policy import templates


class ReviewStore(Protocol):
    """What the review reads and changes, of every account."""

    async def list_qualifications(self, account_id: AccountId | None = None,
                                  state: ReviewState | None = None) -> list[Qualification]: ...
    async def list_signatures(self, account_id: AccountId | None = None) -> list[Signature]: ...
    async def list_templates(self, account_id: AccountId | None = None) -> list[Template]: ...
    async def resubmitted_at(self, kind: str) -> dict[str, datetime]: ...
    async def qualification_by_id(self, qualification_id: int) -> Qualification | None: ...
    async def letters(self, account_id: AccountId,
                      where: letters.LetterFilter) -> Sequence[AuthorizationLetter]: ...
    async def review_qualification(self, qualification_id: int, state: ReviewState,
                                   reason: str, actor: str,
                                   now: datetime) -> Qualification | None: ...


class Kind(StrEnum):
    QUALIFICATION = "qualification"
    SIGNATURE = "signature"
    TEMPLATE = "template"


@dataclass(frozen=True, slots=True)
class Waiting:
    """One item of the review queue: what to decide and since when."""

    since: datetime
    account_id: AccountId
    kind: str
    key: str  # the id or code the approve|reject command takes
    name: str
    findings: tuple[templates.Finding, ...] | None = field(default=None)
    """The review linter's findings (templates only)."""


async def waiting(store: ReviewStore, kind: Kind | None = None,
                  account_id: AccountId | None = None) -> list[Waiting]:
    """Everything under review (of one `kind`, of one account), oldest first: since its
    submission, or its latest resubmission by the tenant (signatures and templates)."""
    pending = ReviewState.PENDING
    items: list[Waiting] = []
    if kind in (None, Kind.QUALIFICATION):
        items += [Waiting(q.created_at, q.account_id, "qualification", str(q.id),
                          q.details.name)
                  for q in await store.list_qualifications(account_id, state=pending)]
    if kind in (None, Kind.SIGNATURE):
        again = await store.resubmitted_at("signature")
        items += [Waiting(again.get(str(s.id), s.created_at), s.account_id, "signature",
                          str(s.id), s.name)
                  for s in await store.list_signatures(account_id) if s.state is pending]
    if kind in (None, Kind.TEMPLATE):
        again = await store.resubmitted_at("template")
        items += [Waiting(again.get(t.code, t.created_at), t.account_id, "template", t.code,
                          t.name, tuple(templates.lint(t.type, t.content)))
                  for t in await store.list_templates(account_id) if t.state is pending]
    return sorted(items, key=lambda w: (w.since, w.kind, w.key))


class Problem(StrEnum):
    """Why a decision on a qualification is refused."""

    NOT_FOUND = "not found"
    NOT_PENDING = "not under review"
    NEEDS_REASON = "needs a reason"
    NEEDS_LETTER = "needs a letter of authorization"


@dataclass(frozen=True, slots=True)
class Decided:
    qualification: Qualification
    registrations: list[Started]
    """The carrier registrations an approval started again."""


async def decide_qualification(store: ReviewStore, qualification_id: int, state: ReviewState,
                               reason: str, actor: str, now: datetime,
                               registration: RegistrationService | None = None,
                               ) -> Decided | tuple[Problem, Qualification | None]:
    """Approve or reject a qualification under review (or ask for more material), audited
    (`review_qualification`); else why not, with the qualification when there is one."""
    found = await store.qualification_by_id(qualification_id)
    if found is None:
        return Problem.NOT_FOUND, None
    if found.state is not ReviewState.PENDING:
        return Problem.NOT_PENDING, found
    if state in (ReviewState.REJECTED, ReviewState.INCOMPLETE) and not reason.strip():
        return Problem.NEEDS_REASON, found
    if state is ReviewState.APPROVED and letters.needs_letter(found):
        code = found.details.organization_code
        held = await store.letters(found.account_id, letters.LetterFilter(organization_code=code))
        if letters.covering_letter(found, held, china_today(now)) is None:
            return Problem.NEEDS_LETTER, found
    decided = await store.review_qualification(found.id, state, reason, actor, now)
    assert decided is not None
    started = []
    if registration is not None and decided.state is ReviewState.APPROVED:
        started = await registration.on_qualification_approved(decided, actor)
    return Decided(decided, started)
