"""The request chain's shortcuts: a verdict remembered for the very signature and template
objects it checked, and the per-number rules filtered once per request shape."""

from __future__ import annotations

from dataclasses import replace

from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    BlacklistEntry,
    PhoneNumber,
    ReviewState,
    Signature,
    SignatureScenario,
    TemplateType,
)
from yizhan.policy import chain
from yizhan.policy.lists import Blacklist

from .contexts import ACCOUNT, T0, context

SIGNATURE = Signature(1, ACCOUNT.id, "驿站", SignatureScenario.VERIFICATION,
                      ReviewState.APPROVED, "", T0)


def checked(signature: Signature | None, type_: TemplateType = TemplateType.VERIFICATION,
            code: str = "SMS_1", found: bool = True) -> Refusal | None:
    ctx = context(["+8613800138000"], type_)
    ctx.template_code = code
    ctx.signatures = {"驿站": signature}
    if not found:
        ctx.template = None
    return chain.catalogue_state(ctx)


def test_the_same_objects_share_a_verdict_and_a_changed_one_is_checked_again() -> None:
    assert checked(SIGNATURE) is None
    assert checked(SIGNATURE) is None
    pending = replace(SIGNATURE, state=ReviewState.PENDING)  # reloaded after a change
    refusal = checked(pending)
    assert refusal is not None and refusal.code == "isv.SMS_SIGNATURE_ILLEGAL"
    assert "pending" in refusal.detail


def test_verdicts_name_what_was_asked_for() -> None:
    missing_a = checked(SIGNATURE, code="SMS_A", found=False)
    missing_b = checked(SIGNATURE, code="SMS_B", found=False)
    assert missing_a is not None and "SMS_A" in missing_a.detail
    assert missing_b is not None and "SMS_B" in missing_b.detail
    unknown = checked(None)
    assert unknown is not None and "'驿站': not found" in unknown.detail


def test_a_verification_signature_with_a_notification_template_is_refused_every_time() -> None:
    for _ in range(3):
        refusal = checked(SIGNATURE, TemplateType.NOTIFICATION)
        assert refusal is not None and refusal.code == "isv.SMS_SIGNATURE_SCENE_ILLEGAL"


def test_per_number_rules_follow_each_request_shape() -> None:
    calls: list[str] = []

    def seen(name: str) -> chain.NumberCheck:
        def check(ctx: chain.SendContext, index: int) -> Refusal | None:
            calls.append(name)
            return None
        return check

    rules = (("always", seen("always")), ("blacklist", seen("blacklist")),
             ("promotion.hours", seen("promotion.hours")))
    ctx = context(["+8613800138000"])
    chain.run_numbers(ctx, rules)  # no blacklist, not a promotion
    assert calls == ["always"]
    listed = Blacklist()
    listed.apply([BlacklistEntry(PhoneNumber("+8613900000000"), (), "complaint", T0)])
    ctx = context(["+8613800138000"], TemplateType.PROMOTION, blacklist=listed)
    chain.run_numbers(ctx, rules)
    assert calls == ["always", "always", "blacklist", "promotion.hours"]
    ctx = context(["+8613800138000"])
    chain.run_numbers(ctx, rules)
    assert calls[4:] == ["always"]
