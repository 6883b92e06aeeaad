"""Values sent for a template's variables against its variable attributes (CreateSmsTemplate's
TemplateRule; docs/compliance.md "Variable attributes at send"): each documented kind
accepts its good values and refuses the others with the code and the variable named."""

from __future__ import annotations

import pytest

from yizhan.policy.template_values import KINDS, attributes, check

LENGTH, KIND = "isv.PARAM_LENGTH_LIMIT", "isv.TEMPLATE_PARAMS_ILLEGAL"


@pytest.mark.parametrize(("kind", "value", "code"), [
    ("numberCaptcha", "0207", None),
    ("numberCaptcha", "123456", None),
    ("numberCaptcha", "123", LENGTH),
    ("numberCaptcha", "1234567", LENGTH),
    ("numberCaptcha", "12a4", KIND),
    ("numberCaptcha", "１２３４", KIND),  # full-width digits are not sent as typed
    ("characterWithNumber2", "a1B2", None),
    ("characterWithNumber2", "ab-12", KIND),
    ("characterWithNumber2", "abcdefg", LENGTH),
    ("phone_number2", "13800138000", None),
    ("phone_number2", "0571-82123456", None),
    ("phone_number2", "400-123-1234", None),
    ("phone_number2", "95555", None),
    ("phone_number2", "1234", LENGTH),
    ("phone_number2", "0571--8212345", KIND),
    ("phone_number2", "tel 95555", KIND),
    ("phone_number2", "0571-8212-3456-78", LENGTH),
    ("time", "2026-12-07", None),
    ("time", "2026/12/07 09:30", None),
    ("time", "20261207", None),
    ("time", "2026年12月7日", None),
    ("time", "下午3点30分", None),
    ("time", "09:30:00", None),
    ("time", "明天", KIND),
    ("time", "2026_12_07", KIND),
    ("money", "12.50", None),
    ("money", "1,280.00", None),
    ("money", "壹佰元整", None),
    ("money", "¥12", KIND),
    ("money", "12元8角", None),
    ("money", "ten", KIND),
    ("money", "1" * 36, LENGTH),
    ("name", "张三", None),
    ("name", "", LENGTH),
    ("name", "名" * 36, LENGTH),
    ("other_number2", "SO-2026-0001", None),
])
def test_each_kind(kind: str, value: str, code: str | None) -> None:
    refusal = check(f'{{"v":"{kind}"}}', {"v": value})
    assert (refusal.code if refusal else None) == code
    if refusal:
        assert "${v}" in refusal.detail and refusal.rule == "template.params"


def test_the_kinds_are_alibabas_documented_ones() -> None:
    assert set(KINDS) == {"numberCaptcha", "characterWithNumber2", "phone_number2", "time",
                          "money", "name", "other_number2"}


def test_templates_without_attributes_or_with_unknown_kinds_check_nothing_more() -> None:
    assert attributes("") == () and attributes("not json") == () and attributes("[]") == ()
    assert check('{"v":"link_param"}', {"v": "anything at all"}) is None
    assert check("", {"v": "x"}) is None


def test_invisible_characters_do_not_count_and_a_missing_value_is_left_to_render() -> None:
    assert check('{"code":"numberCaptcha"}', {"code": "12\u200b34"}) is None
    assert check('{"code":"numberCaptcha"}', {}) is None


def test_every_variable_is_checked_and_the_first_bad_one_named() -> None:
    rule = '{"order":"other_number2","fee":"money"}'
    assert check(rule, {"order": "A1", "fee": "12"}) is None
    refusal = check(rule, {"order": "A1", "fee": "twelve"})
    assert refusal is not None and "${fee}" in refusal.detail and "金额" in refusal.detail
