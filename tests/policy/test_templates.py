"""Template rendering at its edges: invisible characters removed before the checks,
characters handsets cannot show refused, the linter's character findings, and the promotion
opt-out text."""

from __future__ import annotations

import pytest

from tests.policy.contexts import ACCOUNT, T0, context, template
from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType
from yizhan.policy import rules
from yizhan.policy.chain import Recipient, SendContext
from yizhan.policy.templates import (
    MAX_PARAM_LENGTH,
    check_new_template,
    lint,
    promotion_opt_out,
    render,
)

TEMPLATE = "您的验证码为${code}。"


@pytest.mark.parametrize(("value", "sent"), [
    ("12\u200b34", "1234"),  # zero-width space
    ("\ufeff1234", "1234"),  # byte-order mark
    ("12\u00ad34", "1234"),  # soft hyphen
    ("\u202e1234", "1234"),  # right-to-left override
    ("12\t34\r", "1234"),  # control characters
    ("第一行\n第二行", "第一行\n第二行"),  # the newline stays
    ("☀天气", "☀天气"),  # inside UCS-2: shown as is
])
def test_invisible_characters_are_removed_from_values(value: str, sent: str) -> None:
    assert render(TEMPLATE, {"code": value}) == f"您的验证码为{sent}。"


@pytest.mark.parametrize(("value", "named"), [
    ("好😀", "U+1F600 GRINNING FACE"),
    ("\ue000", "U+E000 unnamed character"),  # private use
    ("𠀀", "U+20000 CJK UNIFIED IDEOGRAPH-20000"),  # beyond U+FFFF
])
def test_characters_handsets_cannot_show_are_refused(value: str, named: str) -> None:
    refusal = render(TEMPLATE, {"code": value})
    assert refusal == Refusal("isv.PARAM_NOT_SUPPORT_CHARACTER", f"${{code}} contains {named}",
                              "template.params")


def test_length_is_counted_after_invisible_characters_are_removed() -> None:
    at_limit = "9" * MAX_PARAM_LENGTH
    assert isinstance(render(TEMPLATE, {"code": at_limit + "\u200b"}), str)
    refusal = render(TEMPLATE, {"code": at_limit + "9"})
    assert isinstance(refusal, Refusal) and refusal.code == "isv.PARAM_LENGTH_LIMIT"


def test_a_zero_width_space_cannot_hide_a_link() -> None:
    refusal = render(TEMPLATE, {"code": "t\u200b.cn/x1"})
    assert isinstance(refusal, Refusal) and refusal.code == "isv.PARAM_NOT_SUPPORT_URL"


def test_extra_variables_are_ignored() -> None:
    assert render(TEMPLATE, {"code": "1", "unused": "😀"}) == "您的验证码为1。"


def test_invisible_characters_of_the_template_text_are_removed_at_send() -> None:
    assert render("验证码\u200b${code}\u2060。", {"code": "1"}) == "验证码1。"


def test_the_linter_names_each_character_and_its_position() -> None:
    found = lint(TemplateType.NOTIFICATION, "您好\u200b${name}\u200b😀")
    assert [(f.rule, f.start, f.en) for f in found] == [
        ("template.invisible_character", 2,
         "U+200B ZERO WIDTH SPACE is invisible and removed at send: delete it"),
        ("template.invisible_character", 10,
         "U+200B ZERO WIDTH SPACE is invisible and removed at send: delete it"),
        ("template.unsupported_character", 11,
         "U+1F600 GRINNING FACE shows as ? on handsets: replace it"),
    ]
    assert lint(TemplateType.NOTIFICATION, "您的验证码为${code}，请勿泄露。\n谢谢") == []


@pytest.mark.parametrize(("type_", "content", "refused"), [
    (TemplateType.PROMOTION, "新品上市，全场${d}折。", True),
    (TemplateType.PROMOTION, "新品上市，全场${d}折。拒收请回复r", True),  # exact text
    (TemplateType.PROMOTION, "新品上市，全场${d}折。拒收请回复R", False),
    (TemplateType.PROMOTION, "拒收请回复R：新品上市", False),
    (TemplateType.PROMOTION, "新品上市。拒收请回\u200b复R", False),  # invisible: removed
    (TemplateType.NOTIFICATION, "您的订单${o}已发货", False),
    (TemplateType.INTERNATIONAL, "Sale: ${d}% off", False),
])
def test_a_promotion_template_must_carry_the_opt_out_text(
        type_: TemplateType, content: str, refused: bool) -> None:
    refusal = check_new_template(type_, content)
    assert (refusal is not None) is refused
    if refusal:
        assert refusal.code == "isv.PROMOTION_OPT_OUT_MISSING"


def test_opt_out_is_checked_at_send_for_older_promotion_templates() -> None:
    ctx = context(["+8613800138000"])
    ctx.template = template(TemplateType.PROMOTION, "新品上市")
    refusal = promotion_opt_out(ctx)
    assert refusal is not None and refusal.rule == "template.opt_out"
    ctx.template = template(TemplateType.PROMOTION, "新品上市。拒收请回复R")
    assert promotion_opt_out(ctx) is None


def test_numbers_that_share_signature_and_parameters_are_rendered_once() -> None:
    """SendSms: one rendering for every number; SendBatchSms: one per parameter set."""
    shared = '{"code":"0207"}'
    ctx = SendContext(ACCOUNT, "SMS_1", [Recipient(f"1390000000{n}", "驿站", shared)
                                         for n in range(3)], 1000, now=T0)
    ctx.template = template()
    assert rules.render_bodies(ctx) is None
    assert ctx.bodies == ["【驿站】您的验证码为0207"] * 3
    mixed = SendContext(ACCOUNT, "SMS_1", [Recipient("13900000001", "驿站", shared),
                                           Recipient("13900000002", "阿里", '{"code":"1"}')],
                        1000, now=T0)
    mixed.template = template()
    assert rules.render_bodies(mixed) is None
    assert mixed.bodies == ["【驿站】您的验证码为0207", "【阿里】您的验证码为1"]


def test_shared_parameters_that_are_refused_refuse_the_request() -> None:
    ctx = SendContext(ACCOUNT, "SMS_1", [Recipient(f"1390000000{n}", "驿站", '{"code":207}')
                                         for n in range(3)], 1000, now=T0)
    ctx.template = template()
    refusal = rules.render_bodies(ctx)
    assert refusal is not None and refusal.code == "isv.INVALID_JSON_PARAM"
