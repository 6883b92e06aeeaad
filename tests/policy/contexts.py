"""A `SendContext` as intake leaves it after the request chain, for unit tests of the
per-number checks."""

from __future__ import annotations

from datetime import UTC, datetime

from yizhan.domain.model import (
    Account,
    AccountId,
    AccountStatus,
    BlacklistEntry,
    PhoneNumber,
    ReviewState,
    Signature,
    SignatureScenario,
    Template,
    TemplateCode,
    TemplateType,
)
from yizhan.policy.chain import Recipient, SendContext
from yizhan.policy.lists import Blacklist

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ACCOUNT = Account(AccountId(1), "acme", AccountStatus.ACTIVE, T0)
SIGNATURE = Signature(1, ACCOUNT.id, "驿站", SignatureScenario.GENERAL, ReviewState.APPROVED,
                      "", T0)


def blacklisted(phone: str) -> Blacklist:
    """A blacklist holding `phone` for every signature."""
    found = Blacklist()
    found.apply([BlacklistEntry(PhoneNumber(phone), (), "complaint", T0)])
    return found


def template(type_: TemplateType = TemplateType.VERIFICATION,
             content: str = "您的验证码为${code}") -> Template:
    return Template(TemplateCode("SMS_1"), ACCOUNT.id, "t", type_, content,
                    ReviewState.APPROVED, "", T0)


def context(numbers: list[str], type_: TemplateType = TemplateType.VERIFICATION,
            bodies: list[str] | None = None, now: datetime = T0, **more: object) -> SendContext:
    ctx = SendContext(ACCOUNT, "SMS_1", [Recipient(n, "驿站") for n in numbers], 1000,
                      now=now, **more)  # type: ignore[arg-type]
    ctx.template = template(type_)
    ctx.numbers = [PhoneNumber(n) for n in numbers]
    ctx.bodies = bodies or ["【驿站】您的验证码为1234"] * len(numbers)
    return ctx
