"""Template parameters and rendering (DOMAIN.md "Sending": TemplateParam rules).

TemplateParam is a JSON object whose values are strings (`{"code":"0207"}` keeps its zero);
every `${var}` of the template needs a value; values have a length limit. Extra keys are
ignored (SPEC.md §5.1 decision). Hands the rendered body back to intake.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

from yizhan.domain.errors import Refusal

VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
MAX_PARAM_LENGTH = 35
"""Longest value of one variable, in characters (Alibaba's documented default)."""
URL = re.compile(r"(?i)(?:https?://|www\.)\S|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|cn|net|org|"
                 r"io|cc|top|xyz|info|biz|me|co|vip|shop|link|ly|gl)\b")
"""A link in a variable: links belong in the reviewed template text, not in parameters
(carriers intercept messages whose links were not reviewed)."""


def variables(content: str) -> list[str]:
    """The template's variable names, in order of first appearance."""
    return list(_variables(content))


@lru_cache(maxsize=4096)
def _variables(content: str) -> tuple[str, ...]:
    # Every send renders its template: scan each template text once, not once per request.
    return tuple(dict.fromkeys(VARIABLE.findall(content)))


@lru_cache(maxsize=4096)
def _pieces(content: str) -> tuple[str, ...]:
    """The template cut at its variables: text, name, text, name, ..., text."""
    return tuple(VARIABLE.split(content))


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
    for name in _variables(content):
        value = params.get(name)
        if value is None:
            return Refusal("isv.TEMPLATE_MISSING_PARAMETERS", f"no value for ${{{name}}}",
                           "template.params")
        if len(value) > max_length:
            return Refusal("isv.PARAM_LENGTH_LIMIT",
                           f"${{{name}}} has {len(value)} characters, at most {max_length}",
                           "template.params")
        if ("." in value or "://" in value) and URL.search(value):
            return Refusal("isv.PARAM_NOT_SUPPORT_URL", f"${{{name}}} contains a link",
                           "template.params")
    pieces = _pieces(content)
    return "".join([params[p] if i % 2 else p for i, p in enumerate(pieces)])
