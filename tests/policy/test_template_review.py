"""The template review linter, rule by rule: each rule's finding fires on its bad example,
at its place, and not on the good one (docs/compliance.md "Template review")."""

from __future__ import annotations

import pytest

from yizhan.domain.model import TemplateType
from yizhan.policy.templates import Severity, check_new_template, lint

V, N, P = TemplateType.VERIFICATION, TemplateType.NOTIFICATION, TemplateType.PROMOTION
REFUSE, WARN = Severity.REFUSE, Severity.WARN

# rule, severity, type, bad text, where the finding starts, good text
RULES = [
    ("template.opt_out_missing", REFUSE, P, "全场${d}折", 7, "全场${d}折，拒收请回复R"),
    ("template.opt_out_missing", REFUSE, P, "全场${d}折，拒收请回复r", 14,
     "拒收请回复R，全场${d}折"),
    ("template.marketing", REFUSE, N, "订单${o}已发货，领取优惠券", 12, "订单${o}已发货"),
    ("template.marketing", REFUSE, V, "验证码${code}，限时秒杀", 11, "验证码${code}，5分钟内有效"),
    ("template.verification_link", REFUSE, V, "验证码${code}，详见 https://a.cn/x", 14,
     "验证码${code}，请勿泄露"),
    ("template.verification_variables", REFUSE, V, "${name}的验证码${code}", 0,
     "您的验证码${code}"),
    ("template.verification_variables", REFUSE, V, "您的验证码是1234", 0, "您的验证码${code}"),
    ("template.verification_code_name", WARN, V, "您的验证码${num}", 5, "您的验证码${smsCode}"),
    ("template.variable_malformed", REFUSE, N, "订单${订单号}已发货", 2, "订单${order}已发货"),
    ("template.variable_malformed", REFUSE, N, "订单{{order}}已发货", 2, "订单${order}已发货"),
    ("template.variable_malformed", REFUSE, N, "订单${order已发货", 2, "订单${order}已发货"),
    ("template.variable_name", WARN, N, "订单${order.no}已发货", 2, "订单${order_no}已发货"),
    ("template.variable_name", WARN, N, "订单${1st}已发货", 2, "订单${first}已发货"),
    ("template.empty_text", REFUSE, N, "${a}${b}", 0, "${a}：${b}"),
    ("template.empty_text", REFUSE, N, " \u200b ", 0, "您好"),
    ("template.too_long", REFUSE, N, "字" * 501, 500, "字" * 500),
    ("template.long", WARN, N, "字" * 71, 70, "字" * 70),
    ("template.invisible_character", WARN, N, "订单\u200b${o}已发货", 2, "订单${o}已发货"),
    ("template.invisible_character", WARN, N, "订单\u202e${o}已发货", 2, "订单${o}已发货"),
    ("template.unsupported_character", WARN, N, "订单${o}已发货😀", 9, "订单${o}已发货☀"),
    ("template.financial", REFUSE, N, "尊敬的${name}，您的贷款额度已到账", 13,
     "尊敬的${name}，您的订单已到账"),
    ("template.financial", REFUSE, P, "会员专享：股票推荐，拒收请回复R", 5,
     "会员专享：新品试用，拒收请回复R"),
    ("template.financial", REFUSE, N, "信用卡套现秒到，联系${c}", 0, "快递已到，联系${c}"),
    ("template.financial", REFUSE, N, "本月理财收益${m}元", 2, "本月积分${m}分"),
]


@pytest.mark.parametrize(("rule", "severity", "type_", "bad", "at", "good"), RULES)
def test_each_rule_fires_on_its_bad_example_only(rule: str, severity: Severity,
                                                 type_: TemplateType, bad: str, at: int,
                                                 good: str) -> None:
    found = [f for f in lint(type_, bad) if f.rule == rule]
    assert [(f.severity, f.start) for f in found][:1] == [(severity, at)]
    assert found[0].en and found[0].zh and found[0].zh != found[0].en
    assert (found[0].code != "") == (severity is REFUSE)
    assert [f for f in lint(type_, good) if f.rule == rule] == []


def test_marketing_words_are_allowed_in_promotions() -> None:
    assert lint(P, "限时秒杀，领取优惠券，拒收请回复R") == []


def test_a_marketing_word_inside_a_longer_one_is_named_once() -> None:
    found = lint(N, "订单${o}已发货，领取优惠券")
    assert [(f.rule, f.start, f.end) for f in found] == [("template.marketing", 12, 15)]


def test_a_plain_international_text_has_160_characters_in_one_part() -> None:
    assert lint(TemplateType.INTERNATIONAL, "a" * 160) == []
    assert [f.rule for f in lint(TemplateType.INTERNATIONAL, "a" * 161)] == ["template.long"]
    assert [f.rule for f in lint(TemplateType.INTERNATIONAL, "é" * 71)] == ["template.long"]


def test_a_link_is_allowed_in_a_notification() -> None:
    assert lint(N, "订单${o}已发货，详见 https://a.cn/x") == []


@pytest.mark.parametrize(("type_", "content", "code"), [
    (P, "全场五折", "isv.PROMOTION_OPT_OUT_MISSING"),
    (N, "订单${o}已发货，特价包邮", "isv.SMS_CONTENT_ILLEGAL"),
    (V, "${a}${code}验证码", "isv.TEMPLATE_PARAMS_ILLEGAL"),
    (N, "订单\u200b${o}已发货😀", None),  # warnings only
])
def test_new_templates_are_refused_with_the_first_refusing_finding(
        type_: TemplateType, content: str, code: str | None) -> None:
    refusal = check_new_template(type_, content)
    assert (refusal.code if refusal else None) == code
    if refusal:
        assert refusal.rule == "template.review" and " at " in refusal.detail


def test_financial_words_are_named_once_and_allowed_in_verification_codes() -> None:
    found = lint(N, "您的理财收益已到账，借贷请谨慎")
    assert [(f.rule, f.start, f.end) for f in found] == [("template.financial", 2, 6),
                                                         ("template.financial", 10, 12)]
    assert lint(V, "您正在申请贷款，验证码${code}，5分钟内有效") == []
    refusal = check_new_template(N, "您的贷款已放款")
    assert refusal is not None and refusal.code == "isv.SMS_CONTENT_ILLEGAL"
    assert "verification codes only" in refusal.detail and "金融类" in refusal.detail
