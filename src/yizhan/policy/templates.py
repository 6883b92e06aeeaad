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
- `review_warnings` lists both kinds in a template's text for the operator at review.

A promotion template must carry the opt-out instruction 拒收请回复R: refused when added or
modified (`check_new_template`) and, for templates that predate the rule, at send.
"""

from __future__ import annotations

import re
import unicodedata
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


def review_warnings(content: str) -> list[str]:
    """What an operator should know about a template's text before approving it: each
    invisible or unsupported character, with its positions (0-based)."""
    found: dict[str, list[int]] = {}
    for match in (*INVISIBLE.finditer(content), *UNSUPPORTED.finditer(content)):
        found.setdefault(match.group(), []).append(match.start())
    warnings = []
    for char, positions in sorted(found.items(), key=lambda item: item[1][0]):
        effect = ("is invisible and removed at send" if INVISIBLE.match(char)
                  else "shows as ? on handsets")
        at = ", ".join(map(str, positions))
        warnings.append(f"{_describe(char)} at {at} {effect}")
    return warnings


def check_new_template(type_: TemplateType, content: str) -> Refusal | None:
    """A template being added or modified: a promotion must carry the opt-out text."""
    if type_ is TemplateType.PROMOTION and OPT_OUT not in INVISIBLE.sub("", content):
        return Refusal("isv.PROMOTION_OPT_OUT_MISSING",
                       f"add {OPT_OUT} to the promotion's text", "template.opt_out")
    return None


def promotion_opt_out(ctx: SendContext) -> Refusal | None:
    """At send, for promotion templates approved before the opt-out rule was enforced."""
    assert ctx.template is not None
    if ctx.template.type is not TemplateType.PROMOTION:
        return None
    return check_new_template(ctx.template.type, ctx.template.content)


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"
