"""Template parameters, rendering and the checks on template text (docs/domain.md "Sending").

TemplateParam is a JSON object whose values are strings (`{"code":"0207"}` keeps its zero);
every `${var}` of the template needs a value; values have a length limit and may not carry
links. Extra keys are ignored (docs/aliyun.md "Actions": applications written for Alibaba
often send one parameter set to several templates). Hands the rendered body back to intake.

Characters handsets cannot show (docs/policy.md "Characters"):
- invisible ones (control characters other than the newline, zero-width and direction marks,
  soft hyphen, byte-order mark, variation selectors) are removed, from variable values at
  send and from the template text at send, before the length, link and keyword checks, so
  that a zero-width space cannot hide a link or a keyword;
- characters outside UCS-2 (emoji and other characters beyond U+FFFF) and private-use ones
  show as `?`: a variable value with one is refused (`isv.PARAM_NOT_SUPPORT_CHARACTER`);
- the review linter (`lint`) warns about both kinds in a template's text, at review.

A promotion template must carry the opt-out instruction 拒收请回复R: refused when added or
modified (`check_new_template`) and, for templates that predate the rule, at send.

Template review linter (`lint`, docs/compliance.md "Template review"; financial content
refused in notifications and promotions, `FINANCIAL`): every problem of a
template's text as a `Finding` (a rule code, refuse or warn, its place, what to change in
Chinese and English) before an operator sees it. `check_new_template` refuses with the first
refusing finding; warnings are recomputed from the stored text for the reviewer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from yizhan.domain.errors import Refusal
from yizhan.domain.model import TemplateType

if TYPE_CHECKING:
    from yizhan.policy.chain import SendContext

VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
MAX_PARAM_LENGTH = 35
"""Longest value of one variable, in characters (Alibaba's documented default)."""
URL = re.compile(r"(?i)(?:https?://|www\.)\S|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|"
                 r"io|cc|top|xyz|info|biz|me|co|vip|shop|link|ly|gl)\b")
"""A link in a variable: links belong in the reviewed template text, not in parameters
(carriers intercept messages whose links were not reviewed)."""
INVISIBLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f"
                       "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufe00-\ufe0f\ufeff"
                       "\ufff9-\ufffb]")
"""Characters with nothing to show: removed at send."""
UNSUPPORTED = re.compile("[\ue000-\uf8ff\U00010000-\U0010ffff]")
"""Characters a handset shows as `?`: private use, and everything outside UCS-2 (emoji)."""
OPT_OUT = "拒收请回复R"
"""The opt-out instruction every promotion template carries (docs/domain.md)."""


def variables(content: str) -> list[str]:
    """The template's variable names, in order of first appearance."""
    return list(_plan(content)[0])


@lru_cache(maxsize=4096)
def _plan(content: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """How to render a template, worked out once per text (every send renders one): its
    distinct variable names in order of first appearance, its text pieces without invisible
    characters (one more than the variables' places), and the variable at each place."""
    pieces = VARIABLE.split(content)
    texts = tuple(INVISIBLE.sub("", p) for p in pieces[0::2])
    return tuple(dict.fromkeys(pieces[1::2])), texts, tuple(pieces[1::2])


def parse_params(raw: str | dict[str, Any] | None) -> dict[str, str] | Refusal:
    """TemplateParam as given (a JSON text, or an object already decoded) -> str values."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Refusal("isv.INVALID_JSON_PARAM", "TemplateParam is not valid JSON",
                           "template.params")
    if not isinstance(raw, dict):
        return Refusal("isv.INVALID_JSON_PARAM", "TemplateParam is not a JSON object",
                       "template.params")
    for key, value in raw.items():
        if not isinstance(value, str):
            return Refusal("isv.INVALID_JSON_PARAM",
                           f"the value of {key!r} is {type(value).__name__}, not a string",
                           "template.params")
    return raw


def render(content: str, params: dict[str, str],
           max_length: int = MAX_PARAM_LENGTH) -> str | Refusal:
    names, texts, places = _plan(content)
    values: dict[str, str] = {}
    for name in names:
        value = params.get(name)
        if value is None:
            return Refusal("isv.TEMPLATE_MISSING_PARAMETERS", f"no value for ${{{name}}}",
                           "template.params")
        # Most values (codes, amounts, names) pass every check of `_value` at a glance.
        if (not (value.isascii() and value.isprintable()) or len(value) > max_length
                or "." in value or "://" in value):
            sent = _value(name, value, max_length)
            if isinstance(sent, Refusal):
                return sent
            value = sent
        values[name] = value
    if len(places) == 1:  # the usual template: one variable
        return texts[0] + values[places[0]] + texts[1]
    out = [texts[0]]
    for place, text in zip(places, texts[1:], strict=True):
        out.append(values[place])
        out.append(text)
    return "".join(out)


def _value(name: str, value: str, max_length: int) -> str | Refusal:
    """A variable's value as sent: invisible characters removed, then checked."""
    if not (value.isascii() and value.isprintable()):  # the common case skips both scans
        value = INVISIBLE.sub("", value)
        bad = UNSUPPORTED.search(value)
        if bad:
            return Refusal("isv.PARAM_NOT_SUPPORT_CHARACTER",
                           f"${{{name}}} contains {_describe(bad.group())}", "template.params")
    if len(value) > max_length:
        return Refusal("isv.PARAM_LENGTH_LIMIT",
                       f"${{{name}}} has {len(value)} characters, at most {max_length}",
                       "template.params")
    if ("." in value or "://" in value) and URL.search(value):
        return Refusal("isv.PARAM_NOT_SUPPORT_URL", f"${{{name}}} contains a link",
                       "template.params")
    return value


class Severity(StrEnum):
    REFUSE = "refuse"
    """The template cannot be added or modified until it is changed."""
    WARN = "warn"
    """Added; the reviewer decides."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem of a template's text: `rule` names it (docs/compliance.md), `start`/`end`
    are 0-based character offsets into the text, `code` is the registry code it is refused
    with (refusing findings only)."""

    rule: str
    severity: Severity
    start: int
    end: int
    en: str
    zh: str
    code: str = ""

    def describe(self) -> str:
        return f"{self.severity.value} {self.rule} at {self.start}: {self.en} / {self.zh}"

    def refusal(self) -> Refusal:
        return Refusal(self.code, f"{self.rule} at {self.start}: {self.en} / {self.zh}",
                       "template.review")


MAX_TEMPLATE_LENGTH = 500
"""Longest template text (AddSmsTemplate's TemplateContent)."""
ONE_PART = 70
"""Characters of one message part with the signature; longer texts are sent and billed as
several parts."""
ONE_PART_GSM = 160
"""The same for an international text in plain ASCII (GSM 7-bit)."""
MAX_VARIABLE_NAME = 20
GOOD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""Variable names as Alibaba's template rules write them: a letter, then letters, digits
and underscores."""
LOOSE_VARIABLE = re.compile(r"\$\{([^{}]*)\}|\$\{|\{\{[^{}]*\}\}")
"""Anything that looks like a variable: `${...}` of any content, an unclosed `${`, and
`{{name}}` written in another system's syntax."""
MARKETING = ("优惠券", "优惠", "促销", "折扣", "打折", "特价", "秒杀", "领券", "红包", "抢购",
             "限时", "免费领", "大促", "满减", "新品上市", "福利", "抽奖", "返现", "低至",
             "清仓", "会员日", "包邮")
"""Words of promotional content: refused in verification and notification templates (the
carriers intercept promotions sent as notifications)."""
FINANCIAL = ("贷款", "网贷", "借贷", "借款", "放款", "下款", "信用卡套现", "套现",
             "信用卡提额", "提额", "投资理财", "理财收益", "理财产品", "理财", "高收益", "保本",
             "股票推荐", "荐股", "牛股", "炒股", "股票", "私募", "期货", "虚拟货币", "数字货币",
             "催收", "催款")
"""Words of financial content (loans and credit, card cash-out, investment and returns,
stock tips, futures and virtual currencies, debt collection): Alibaba's template rules and
the carriers refuse them in notifications and promotions; a financial business sends
verification codes only."""
CODE_NAMES = re.compile(r"(?i)code")
"""A verification template's one variable is the code: its name says so (`code`,
`verifyCode`, `smsCode`)."""


Add = Callable[[Finding], None]


def lint(type_: TemplateType, content: str) -> list[Finding]:
    """Every problem of a template's text for its type, in order of position."""
    found: list[Finding] = []
    add = found.append
    visible = INVISIBLE.sub("", content)
    if not VARIABLE.sub("", visible).strip():
        add(Finding("template.empty_text", Severity.REFUSE, 0, len(content),
                    "the template has no fixed text: write the message around its variables",
                    "模板不能只有变量或为空：请在变量之外写出短信内容", "isv.SMS_CONTENT_ILLEGAL"))
    if len(visible) > MAX_TEMPLATE_LENGTH:
        add(Finding("template.too_long", Severity.REFUSE, MAX_TEMPLATE_LENGTH, len(content),
                    f"the text has {len(visible)} characters, at most {MAX_TEMPLATE_LENGTH}: "
                    "shorten it", f"模板内容 {len(visible)} 字，最多 {MAX_TEMPLATE_LENGTH} 字，"
                    "请删减", "isv.SMS_CONTENT_ILLEGAL"))
    elif len(visible) > (ONE_PART_GSM if type_ is TemplateType.INTERNATIONAL
                         and visible.isascii() else ONE_PART):
        add(Finding("template.long", Severity.WARN, ONE_PART, len(content),
                    f"the text has {len(visible)} characters: with the signature it is sent "
                    f"and billed as several parts (one part holds {ONE_PART})",
                    f"模板内容 {len(visible)} 字，加上签名后按多条短信发送和计费"
                    f"（每条 {ONE_PART} 字）"))
    _lint_variables(type_, content, add)
    _lint_type(type_, content, visible, add)
    for match in (*INVISIBLE.finditer(content), *UNSUPPORTED.finditer(content)):
        char = _describe(match.group())
        if INVISIBLE.match(match.group()):
            add(Finding("template.invisible_character", Severity.WARN, match.start(),
                        match.end(), f"{char} is invisible and removed at send: delete it",
                        f"{char} 为不可见字符，发送时会被去除，请删除"))
        else:
            add(Finding("template.unsupported_character", Severity.WARN, match.start(),
                        match.end(), f"{char} shows as ? on handsets: replace it",
                        f"{char} 在手机上显示为 ?，请替换"))
    return sorted(found, key=lambda f: (f.start, f.rule))


def _lint_variables(type_: TemplateType, content: str, add: Add) -> None:
    names: list[str] = []
    for match in LOOSE_VARIABLE.finditer(content):
        name = match.group(1)
        if name is None or not VARIABLE.fullmatch(match.group()):
            add(Finding("template.variable_malformed", Severity.REFUSE, match.start(),
                        match.end(), f"{match.group()!r} is not a variable and would be sent "
                        "as written: write ${name} with letters, digits and _",
                        f"{match.group()!r} 不是合法变量，会按原样发出：请写成 ${{name}}"
                        "（字母、数字、下划线）", "isv.TEMPLATE_PARAMS_ILLEGAL"))
            continue
        names.append(name)
        if not GOOD_NAME.fullmatch(name) or len(name) > MAX_VARIABLE_NAME:
            add(Finding("template.variable_name", Severity.WARN, match.start(), match.end(),
                        f"variable name {name!r}: use a letter, then letters, digits or _, "
                        f"at most {MAX_VARIABLE_NAME} characters",
                        f"变量名 {name!r}：请以字母开头，只用字母、数字、下划线，"
                        f"最多 {MAX_VARIABLE_NAME} 个字符"))
    if type_ is TemplateType.VERIFICATION:
        distinct = list(dict.fromkeys(names))
        if len(distinct) != 1:
            add(Finding("template.verification_variables", Severity.REFUSE, 0, len(content),
                        f"a verification template carries exactly one variable, the code "
                        f"(it has {len(distinct)}): keep only ${{code}}",
                        f"验证码模板只能含一个变量即验证码（现有 {len(distinct)} 个）："
                        "只保留 ${code}", "isv.TEMPLATE_PARAMS_ILLEGAL"))
        elif not CODE_NAMES.search(distinct[0]):
            at = content.index("${" + distinct[0])
            add(Finding("template.verification_code_name", Severity.WARN, at,
                        at + len(distinct[0]) + 3, f"the verification variable "
                        f"${{{distinct[0]}}} should be named for the code: ${{code}}",
                        f"验证码变量 ${{{distinct[0]}}} 应以验证码命名：${{code}}"))


def _first_words(words: tuple[str, ...], content: str) -> list[tuple[str, int]]:
    """The listed words found in `content` with their first place, a word left out when a
    longer listed word holding it is found too (理财收益 reported, not also 理财)."""
    return [(word, content.find(word)) for word in words if word in content
            and not any(word in other and word != other and other in content
                        for other in words)]


def _lint_type(type_: TemplateType, content: str, visible: str, add: Add) -> None:
    if type_ in (TemplateType.NOTIFICATION, TemplateType.PROMOTION):
        for word, at in _first_words(FINANCIAL, content):
            add(Finding("template.financial", Severity.REFUSE, at, at + len(word),
                        f"{word!r} is financial content (loans, credit, investment, stocks), "
                        "which notifications and promotions may not carry: remove it; a "
                        "financial business sends verification codes only",
                        f"“{word}”属于金融类内容（贷款、信用卡、投资理财、股票等），"
                        "通知和推广短信不支持：请删除；金融类业务仅支持验证码短信",
                        "isv.SMS_CONTENT_ILLEGAL"))
    if type_ is TemplateType.PROMOTION:
        if OPT_OUT not in visible:
            add(Finding("template.opt_out_missing", Severity.REFUSE, len(content),
                        len(content), f"add {OPT_OUT} to the promotion's text",
                        f"推广短信模板须包含退订说明“{OPT_OUT}”，请在末尾加上",
                        "isv.PROMOTION_OPT_OUT_MISSING"))
        return
    if type_ not in (TemplateType.VERIFICATION, TemplateType.NOTIFICATION):
        return
    kind_en, kind_zh = (("verification", "验证码") if type_ is TemplateType.VERIFICATION
                        else ("notification", "通知"))
    for word, at in _first_words(MARKETING, content):
        add(Finding("template.marketing", Severity.REFUSE, at, at + len(word),
                    f"{word!r} is promotional content, not allowed in a {kind_en} "
                    "template: remove it, or add the text as a promotion template",
                    f"“{word}”属于推广内容，{kind_zh}模板不允许：请删除，"
                    "或改为申请推广短信模板", "isv.SMS_CONTENT_ILLEGAL"))
    if type_ is TemplateType.VERIFICATION:
        for match in URL.finditer(VARIABLE.sub(lambda m: " " * len(m.group()), content)):
            add(Finding("template.verification_link", Severity.REFUSE, match.start(),
                        match.end(), "a verification template may not carry a link: remove it",
                        "验证码模板不能包含链接，请删除", "isv.SMS_CONTENT_ILLEGAL"))


def check_new_template(type_: TemplateType, content: str) -> Refusal | None:
    """A template being added or modified: refused with its first refusing finding."""
    for finding in lint(type_, content):
        if finding.severity is Severity.REFUSE:
            return finding.refusal()
    return None


def promotion_opt_out(ctx: SendContext) -> Refusal | None:
    """At send, for promotion templates approved before the opt-out rule was enforced."""
    assert ctx.template is not None
    if (ctx.template.type is not TemplateType.PROMOTION
            or OPT_OUT in INVISIBLE.sub("", ctx.template.content)):
        return None
    return Refusal("isv.PROMOTION_OPT_OUT_MISSING", f"add {OPT_OUT} to the promotion's text",
                   "template.opt_out")


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"
