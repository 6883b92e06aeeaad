"""The values sent for a template's variables, checked against the variable attributes the
template was applied with (CreateSmsTemplate's TemplateRule; docs/compliance.md "Variable
attributes at send").

A template applied with TemplateRule `{"code": "numberCaptcha"}` promises the reviewer that
`${code}` is a 4-6 digit code; a send that puts anything else there is refused, naming the
variable and the rule: too short or too long with `isv.PARAM_LENGTH_LIMIT`, of the wrong kind
with `isv.TEMPLATE_PARAMS_ILLEGAL`. The kinds and their limits are Alibaba's documented ones
(`KINDS`); CreateSmsTemplate accepts exactly these. Templates without variable attributes
(AddSmsTemplate, the CLI) keep the general checks only (`templates.render`); a stored
attribute of a kind not in `KINDS` checks nothing more.

Runs on the send path once per parameter set (`policy/rules.render_bodies`), never per
number: the template's attributes are parsed once per text (`attributes`, cached).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import orjson

from yizhan.domain.errors import Refusal
from yizhan.policy.templates import INVISIBLE, MAX_PARAM_LENGTH


@dataclass(frozen=True, slots=True)
class Kind:
    """One variable attribute: its length range (characters) and the shape of a value."""

    low: int
    high: int
    shape: re.Pattern[str] | None
    en: str
    zh: str


_DIGITS = re.compile(r"\d+", re.ASCII)
_LETTERS_DIGITS = re.compile(r"[A-Za-z0-9]+")
_PHONE = re.compile(r"1\d{10}|\d(?:-?\d){4,12}", re.ASCII)
"""A mainland mobile number (11 digits from 1), or a landline / service number: 5 to 13
digits, single hyphens between them (0571-82123456, 400-123-1234, 95555)."""
_TIME = re.compile(r"(?=.*\d)[\d\-/: 年月日号时点分秒上下中午晚早凌晨]+", re.ASCII)
"""A date, a time or both as people write them: 20261207, 2026-12-07, 2026/12/07,
2026年12月7日, 09:30, 09:30:00, 9点30分, 下午3点; no underscores or other symbols."""
_MONEY = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|(?![元圆角分整])[\d零一二三四五"
                    r"六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟两元圆角分整]+", re.ASCII)
"""An amount: digits with an optional decimal part (thousands may be grouped with commas),
or in Chinese numerals and units (壹佰元整, 12元8角); the currency sign belongs in the
template's text."""

KINDS: dict[str, Kind] = {
    "numberCaptcha": Kind(4, 6, _DIGITS, "a verification code of digits only",
                          "仅数字的验证码"),
    "characterWithNumber2": Kind(4, 6, _LETTERS_DIGITS,
                                 "a verification code of letters and digits",
                                 "数字与字母组合的验证码"),
    "phone_number2": Kind(5, 15, _PHONE, "a phone number: 11 mobile digits from 1, or a "
                          "landline of 5-13 digits and hyphens",
                          "电话号码：1 开头的 11 位手机号，或 5~13 位数字与短横线组成的固话"),
    "time": Kind(1, MAX_PARAM_LENGTH, _TIME, "a date or time such as 2026-12-07 or 09:30",
                 "日期或时间，如 2026-12-07、09:30"),
    "money": Kind(1, MAX_PARAM_LENGTH, _MONEY, "an amount: digits with an optional decimal "
                  "point, or Chinese numerals, without a currency sign",
                  "金额：数字（可带小数点）或中文大写数字，不含货币符号"),
    "name": Kind(1, MAX_PARAM_LENGTH, None, "a name", "名称"),
    "other_number2": Kind(1, MAX_PARAM_LENGTH, None, "a number such as an order number",
                          "其他号码，如订单号"),
}
"""The variable attributes of TemplateRule, as Alibaba documents them for CreateSmsTemplate
("TemplateRule&TemplateContent examples" and its template rules): verification codes 4-6
characters, a phone number up to 15, every other kind 1 to 35 characters."""


@lru_cache(maxsize=1024)
def attributes(variable_attribute: str) -> tuple[tuple[str, Kind], ...]:
    """The checked (variable, kind) pairs of a template's stored TemplateRule; () when it
    has none, is not a JSON object, or names no kind of `KINDS`."""
    try:
        parsed = orjson.loads(variable_attribute) if variable_attribute else None
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(parsed, dict):
        return ()
    return tuple((name, KINDS[kind]) for name, kind in parsed.items()
                 if isinstance(kind, str) and kind in KINDS)


def check(variable_attribute: str, params: dict[str, str]) -> Refusal | None:
    """The first value of `params` that breaks its variable's attribute, or None. Values
    are taken as sent (invisible characters removed); a missing one is `render`'s to
    refuse."""
    for name, kind in attributes(variable_attribute):
        value = params.get(name)
        if value is None:
            continue
        if not (value.isascii() and value.isprintable()):
            value = INVISIBLE.sub("", value)
        if not kind.low <= len(value) <= kind.high:
            span = f"{kind.low}-{kind.high}" if kind.low > 1 else f"at most {kind.high}"
            return Refusal("isv.PARAM_LENGTH_LIMIT",
                           f"${{{name}}} has {len(value)} characters: {kind.en} has {span} "
                           f"/ {kind.zh}长度须为 {kind.low}~{kind.high} 个字符",
                           "template.params")
        if kind.shape is not None and not kind.shape.fullmatch(value):
            return Refusal("isv.TEMPLATE_PARAMS_ILLEGAL",
                           f"${{{name}}} must be {kind.en} / 须为{kind.zh}",
                           "template.params")
    return None
