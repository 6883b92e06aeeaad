"""Each rule as a unit (policy/rules.py): its check answers one of its declared codes under
its own name, and it applies exactly where it says (promotion only, international only, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    AccountStatus,
    OptOut,
    PhoneNumber,
    Signature,
    SignatureScenario,
    TemplateType,
)
from yizhan.policy import rules
from yizhan.policy.chain import DEFAULT, Recipient, SendContext
from yizhan.policy.content_filter import KeywordMatcher
from yizhan.policy.flow_control import RULE as FREQUENCY
from yizhan.policy.lists import OptOuts
from yizhan.policy.rules import NumberRule, Rule

from .contexts import ACCOUNT, SIGNATURE, T0, blacklisted, context, template

LATE = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 23:00 China time


def signed(ctx: SendContext, signature: Signature | None = SIGNATURE) -> SendContext:
    ctx.signatures = {"驿站": signature}
    return ctx


def opted_out(phone: str) -> OptOuts:
    found = OptOuts()
    found.apply([OptOut(ACCOUNT.id, "驿站", PhoneNumber(phone), "R", T0)])
    return found


def with_params(params: str) -> SendContext:
    ctx = signed(context(["+8613800138000"]))
    ctx.recipients = [Recipient("13800138000", "驿站", params)]
    return ctx


def promotion(**more: object) -> SendContext:
    ctx = signed(context(["+8613800138000"], TemplateType.PROMOTION, **more))
    ctx.template = template(TemplateType.PROMOTION, "新品上市。拒收请回复R")
    return ctx


REFUSED: dict[str, Callable[[], SendContext]] = {
    "account.active": lambda: replace(
        context([]), account=replace(ACCOUNT, status=AccountStatus.SUSPENDED)),
    "account.balance": lambda: replace(context([]), account=replace(ACCOUNT, balance=-1)),
    "numbers.count": lambda: context([]),
    "numbers.format": lambda: replace(context([]), recipients=[Recipient("12345", "驿站")]),
    "signature.approved": lambda: signed(context(["+8613800138000"]), None),
    "template.approved": lambda: replace(signed(context(["+8613800138000"])), template=None),
    "signature.scene": lambda: signed(context(["+8613800138000"], TemplateType.NOTIFICATION),
                                      replace(SIGNATURE,
                                              scenario=SignatureScenario.VERIFICATION)),
    "template.opt_out": lambda: replace(promotion(), template=template(TemplateType.PROMOTION,
                                                                       "新品上市")),
    "template.params": lambda: with_params('{"code": 1}'),
    "numbers.segment": lambda: context(["+8617012345678"]),
    "test.numbers": lambda: signed(context(["+8613800138000"]), replace(SIGNATURE, test=True)),
    "international.country": lambda: signed(context(["+12025550123"])),
    "blacklist": lambda: signed(context(["+8613800138000"],
                                        blacklist=blacklisted("+8613800138000"))),
    "promotion.opt_out": lambda: promotion(opt_outs=opted_out("+8613800138000")),
    "promotion.hours": lambda: promotion(now=LATE),
    "content.keywords": lambda: context(
        ["+8613800138000"], keywords=(KeywordMatcher(["验证码"], "platform"),)),
}
"""Per rule with a check, a context its check refuses."""


def refusal_of(rule: Rule | NumberRule, ctx: SendContext) -> Refusal | None:
    if isinstance(rule, Rule):
        return rule.check(ctx)
    assert rule.check is not None
    return rule.check(ctx, 0)


@pytest.mark.parametrize("name", list(REFUSED))
def test_each_check_answers_a_declared_code_under_its_name(name: str) -> None:
    rule = rules.RULES[name]
    refusal = refusal_of(rule, REFUSED[name]())
    assert refusal is not None
    assert refusal.rule == name and refusal.code in rule.codes


def test_every_rule_of_the_registry_and_chain_is_covered() -> None:
    decided_later = {name for name, r in rules.RULES.items()
                     if isinstance(r, NumberRule) and r.check is None}
    assert decided_later == {FREQUENCY}
    assert set(REFUSED) | decided_later == set(rules.RULES) == set(DEFAULT.names)


def test_a_request_the_rules_pass() -> None:
    ctx = with_params('{"code": "1234"}')
    for rule in DEFAULT.request:
        assert rule.check(ctx) is None, rule.name
    for number_rule in DEFAULT.numbers:
        assert number_rule.check is None or number_rule.check(ctx, 0) is None


def test_promotion_rules_apply_to_promotions_only() -> None:
    verification, promo = signed(context(["+8613800138000"])), promotion()
    for name in ("template.opt_out", "promotion.opt_out", "promotion.hours"):
        applies = rules.RULES[name].applies
        assert applies is not None and applies(promo) and not applies(verification), name


def test_the_test_number_rule_applies_to_test_signatures_and_templates_only() -> None:
    applies = rules.RULES["test.numbers"].applies
    assert applies is not None
    assert not applies(signed(context(["+8613800138000"])))
    assert applies(signed(context(["+8613800138000"]), replace(SIGNATURE, test=True)))
    test_template = signed(context(["+8613800138000"]))
    test_template.template = replace(template(), test=True)
    assert applies(test_template)


def test_mainland_and_international_rules_apply_per_number() -> None:
    ctx = signed(context(["+8613800138000", "+12025550123"]))
    country = rules.RULES["international.country"]
    assert isinstance(country, NumberRule)
    assert country.applies is not None and country.applies(ctx)
    assert country.applies is not None and not country.applies(context(["+8613800138000"]))
    assert country.applies_to is not None
    assert [country.applies_to(ctx, i) for i in (0, 1)] == [False, True]
    for name in ("numbers.segment", "promotion.hours"):
        rule = rules.RULES[name]
        assert isinstance(rule, NumberRule) and rule.applies_to is not None
        assert [rule.applies_to(ctx, i) for i in (0, 1)] == [True, False], name


def test_list_rules_are_vacuous_while_their_list_is_empty() -> None:
    blacklist, keywords = rules.RULES["blacklist"], rules.RULES["content.keywords"]
    assert isinstance(blacklist, NumberRule) and blacklist.vacuous is not None
    assert isinstance(keywords, NumberRule) and keywords.vacuous is not None
    empty = context(["+8613800138000"])
    assert blacklist.vacuous(empty) and keywords.vacuous(empty)
    full = context(["+8613800138000"], blacklist=blacklisted("+8613900139000"),
                   keywords=(KeywordMatcher(["赌博"], "platform"),))
    assert not blacklist.vacuous(full) and not keywords.vacuous(full)


def test_the_frequency_rule_applies_when_a_frequency_control_counts() -> None:
    frequency = rules.RULES[FREQUENCY]
    assert frequency.applies is not None
    assert not frequency.applies(context(["+8613800138000"]))
    assert frequency.applies(context(["+8613800138000"], counted=True))
