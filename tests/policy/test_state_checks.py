"""The per-number and balance checks at their edges: blacklist scope, opt-outs only for
promotions, test numbers for test signatures or templates, balance below zero."""

from __future__ import annotations

from datetime import UTC, datetime

from yizhan.domain.model import (
    Account,
    AccountId,
    AccountStatus,
    BlacklistEntry,
    OptOut,
    PhoneNumber,
    ReviewState,
    Signature,
    SignatureScenario,
    Template,
    TemplateCode,
    TemplateType,
)
from yizhan.policy import balance, blacklist, compliance, opt_outs
from yizhan.policy.lists import Blacklist, OptOuts

NOW = datetime(2026, 11, 25, tzinfo=UTC)
A = PhoneNumber("+8613800138000")
B = PhoneNumber("+8613900139000")


def test_blacklist_refuses_only_the_signatures_concerned() -> None:
    listed = Blacklist()
    listed.apply([BlacklistEntry(A, ("驿站",), "complaint", NOW),
                  BlacklistEntry(B, (), "12321", NOW)])
    refusal = blacklist.check(listed, A, "驿站")
    assert refusal is not None and refusal.code == "isv.MOBILE_IN_BLACKLIST"
    assert refusal.rule == "blacklist" and "13800138000" in refusal.detail
    assert blacklist.check(listed, A, "别的") is None
    assert blacklist.check(listed, B, "别的") is not None  # every signature
    assert blacklist.check(listed, PhoneNumber("+8613700137000"), "驿站") is None


def test_opt_out_concerns_promotions_of_that_signature_only() -> None:
    refused = OptOuts()
    refused.apply([OptOut(AccountId(1), "驿站", A, "R", NOW)])
    hit = opt_outs.check(refused, TemplateType.PROMOTION, 1, "驿站", A)
    assert hit is not None and hit.code == "isv.MOBILE_OPTED_OUT"
    assert hit.rule == "promotion.opt_out"
    for type_ in (TemplateType.VERIFICATION, TemplateType.NOTIFICATION):
        assert opt_outs.check(refused, type_, 1, "驿站", A) is None
    assert opt_outs.check(refused, TemplateType.PROMOTION, 1, "别的", A) is None
    assert opt_outs.check(refused, TemplateType.PROMOTION, 2, "驿站", A) is None


def signature(test: bool) -> Signature:
    return Signature(1, AccountId(1), "驿站", SignatureScenario.GENERAL, ReviewState.APPROVED,
                     "", NOW, test)


def template(test: bool) -> Template:
    return Template(TemplateCode("SMS_1"), AccountId(1), "t", TemplateType.VERIFICATION,
                    "${code}", ReviewState.APPROVED, "", NOW, test)


def test_test_signature_or_template_sends_only_to_bound_numbers() -> None:
    bound = frozenset({A})
    assert compliance.check_test_number(signature(False), template(False), B, bound) is None
    for sig, tpl in ((True, False), (False, True), (True, True)):
        assert compliance.check_test_number(signature(sig), template(tpl), A, bound) is None
        refusal = compliance.check_test_number(signature(sig), template(tpl), B, bound)
        assert refusal is not None and refusal.code == "isv.SMS_TEST_NUMBER_LIMIT"
        assert "13900139000" in refusal.detail
    refusal = compliance.check_test_number(signature(False), template(True), B, frozenset())
    assert refusal is not None and "SMS_1" in refusal.detail


def account(money: int) -> Account:
    return Account(AccountId(1), "acme", AccountStatus.ACTIVE, NOW, money)


def test_balance_below_zero_refuses_zero_does_not() -> None:
    assert balance.check(account(0)) is None
    refusal = balance.check(account(-1))
    assert refusal is not None and refusal.code == "isv.AMOUNT_NOT_ENOUGH"
    assert refusal.detail == "balance -0.001 yuan"
    assert [balance.money(v) for v in (0, 45, 12_500, -1_500)] == [
        "0.000", "0.045", "12.500", "-1.500"]
