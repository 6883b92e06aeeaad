"""The chain (policy/chain.py): a declared sequence of rule names, the first refusal decides,
and every rule's verdict for every number is kept in the number's trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    ReviewState,
    TemplateType,
)
from yizhan.policy import rules, trail
from yizhan.policy.chain import DEFAULT, Chain, Recipient, SendContext
from yizhan.policy.content_filter import KeywordMatcher
from yizhan.policy.rules import NumberRule
from yizhan.policy.trail import Step, Verdict

from .contexts import SIGNATURE, blacklisted, context

CODE = '{"code":"1234"}'


def request(phones: list[str], **more: object) -> SendContext:
    """A context as intake has it after its lookups, before any rule ran."""
    ctx = context(phones, **more)
    ctx.recipients = [Recipient(p, "驿站", CODE) for p in phones]
    ctx.numbers, ctx.bodies = [], []
    ctx.signatures = {"驿站": SIGNATURE}
    return ctx


def run(ctx: SendContext, chain: Chain = DEFAULT) -> Refusal | None:
    refusal = (chain.run_request(ctx, looked_up=False)
               or chain.run_request(ctx, looked_up=True))
    if refusal is None:
        chain.run_numbers(ctx)
    return refusal


def test_the_shipped_chain_is_its_released_layout() -> None:
    assert DEFAULT.names == trail.VERSIONS[DEFAULT.version]
    with pytest.raises(ValueError, match="declare a new version"):
        Chain(DEFAULT.version, list(reversed(DEFAULT.names[:9])), DEFAULT.names[9:])


def test_rules_that_need_the_lookups_come_last() -> None:
    with pytest.raises(ValueError, match="lookups"):
        Chain(trail.AD_HOC, ["template.approved", "account.active"], [])


def test_a_number_that_passes_every_rule() -> None:
    ctx = request(["13800138000"])
    assert run(ctx) is None
    assert ctx.refusals == [None]
    # request rules: all pass but the promotion's opt-out text (a verification code);
    # number rules: segment, then the test, country and promotion rules do not apply, the
    # empty blacklist and keyword lists pass, the frequency control is off.
    assert ctx.trails == ["1:+++++++-+" "+--+--+-"]
    assert rules.read_trail(ctx.trails[0]) == [
        Step(name, Verdict.NOT_APPLICABLE if name in (
            "template.opt_out", "test.numbers", "international.country",
            "promotion.opt_out", "promotion.hours", "frequency") else Verdict.PASSED)
        for name in DEFAULT.names]


def test_a_refused_number_is_still_checked_by_every_later_rule() -> None:
    ctx = request(["13800138000", "17012345678"], counted=True,
                  blacklist=blacklisted("+8617012345678"),
                  keywords=(KeywordMatcher(["赌博"], "platform"),))
    assert run(ctx) is None
    first = ctx.refusals[1]
    assert ctx.refusals[0] is None
    assert first is not None and first.rule == "numbers.segment"  # the first refusal decides
    assert ctx.trails[0] == "1:+++++++-+" "+--+--++"
    # segment and blacklist both refuse; the frequency control never counts a refused number
    assert ctx.trails[1] == "1:+++++++-+" "0--0--+."
    steps = {s.rule: s for s in rules.read_trail(ctx.trails[1]) or []}
    assert steps["numbers.segment"] == Step("numbers.segment", Verdict.REFUSED,
                                            "isv.MOBILE_NUMBER_ILLEGAL")
    assert steps["blacklist"] == Step("blacklist", Verdict.REFUSED, "isv.MOBILE_IN_BLACKLIST")
    assert steps["content.keywords"].verdict is Verdict.PASSED
    assert steps["frequency"].verdict is Verdict.NOT_EVALUATED


def test_the_frequency_control_records_its_refusal_in_the_trail() -> None:
    ctx = request(["13800138000", "13900139000"], counted=True)
    assert run(ctx) is None
    blocked = Refusal("isv.BUSINESS_LIMIT_CONTROL", "5 per hour", "frequency.number_hour")
    ctx.refuse(1, "frequency", blocked)
    assert ctx.refusals == [None, blocked]
    assert [t[-1] for t in ctx.trails] == [trail.PASSED, "0"]
    assert ctx.trails[0][:-1] == ctx.trails[1][:-1]
    with pytest.raises(ValueError, match="request rule"):
        ctx.refuse(0, "account.active", Refusal("isv.OUT_OF_SERVICE"))


def test_international_and_mainland_numbers_of_one_request() -> None:
    ctx = request(["13800138000", "+12025550123"])
    ctx.registrations = frozenset({("US", "toll_free")})
    assert run(ctx) is None
    # the segment rule is for mainland numbers, the country rule for the others
    assert ctx.trails == ["1:+++++++-+" "+--+--+-", "1:+++++++-+" "--++--+-"]


def test_a_request_refusal_leaves_the_later_request_rules_not_evaluated() -> None:
    ctx = request(["12345"])
    refusal = run(ctx)
    assert refusal is not None and refusal.rule == "numbers.format"
    assert ctx.request_marks == "+++0" + "....."
    ctx = request(["13800138000"])
    ctx.signatures = {"驿站": replace(SIGNATURE, state=ReviewState.PENDING)}
    refusal = run(ctx)
    assert refusal is not None and refusal.code == "isv.SMS_SIGNATURE_ILLEGAL"
    assert ctx.request_marks == "++++0...."


def spy(name: str, calls: list[str],
        refuse: Callable[[SendContext, int], bool] = lambda ctx, index: False) -> NumberRule:
    def check(ctx: SendContext, index: int) -> Refusal | None:
        calls.append(f"{name}:{index}")
        return (Refusal("isv.MOBILE_NUMBER_ILLEGAL", "spied", name) if refuse(ctx, index)
                else None)
    base = rules.RULES[name]
    assert isinstance(base, NumberRule)
    return replace(base, check=check)


def test_rules_run_only_where_they_apply_and_each_chain_keeps_its_own_plans() -> None:
    calls: list[str] = []
    registry = {**rules.RULES, **{n: spy(n, calls) for n in (
        "numbers.segment", "blacklist", "promotion.hours")}}
    chain = Chain(trail.AD_HOC, [], ["numbers.segment", "blacklist", "promotion.hours"],
                  registry)
    ctx = context(["+8613800138000"])  # no blacklist, not a promotion
    chain.run_numbers(ctx)
    assert calls == ["numbers.segment:0"]
    assert ctx.trails == ["0:++-"]  # the empty blacklist passes without a look
    ctx = context(["+8613800138000", "+12025550123"], TemplateType.PROMOTION,
                  blacklist=blacklisted("+8613900139000"))
    chain.run_numbers(ctx)
    assert calls[1:] == ["numbers.segment:0", "blacklist:0", "promotion.hours:0",
                         "blacklist:1"]  # mainland-only rules skip the international number
    assert ctx.trails == ["0:+++", "0:-+-"]
    other = Chain(trail.AD_HOC, [], ["blacklist"], registry)
    other.run_numbers(context(["+8613800138000"]))
    assert ctx.chain is chain and len(chain._plans) == 2 and len(other._plans) == 1


def test_a_refusal_in_a_custom_chain_names_its_rule() -> None:
    calls: list[str] = []
    registry = {**rules.RULES,
                "numbers.segment": spy("numbers.segment", calls, lambda ctx, i: i == 1),
                "content.keywords": spy("content.keywords", calls, lambda ctx, i: True)}
    registry["content.keywords"] = replace(registry["content.keywords"], vacuous=None,
                                           codes=("isv.MOBILE_NUMBER_ILLEGAL",))
    chain = Chain(trail.AD_HOC, [], ["numbers.segment", "content.keywords"], registry)
    ctx = context(["+8613800138000", "+8613900139000"])
    chain.run_numbers(ctx)
    assert [r.rule if r else None for r in ctx.refusals] == ["content.keywords",
                                                             "numbers.segment"]
    assert ctx.trails == ["0:+0", "0:00"]
    codes = {name: rule.codes for name, rule in registry.items()}
    assert trail.decode(ctx.trails[1], codes, {trail.AD_HOC: chain.names}) == [
        Step("numbers.segment", Verdict.REFUSED, "isv.MOBILE_NUMBER_ILLEGAL"),
        Step("content.keywords", Verdict.REFUSED, "isv.MOBILE_NUMBER_ILLEGAL")]
