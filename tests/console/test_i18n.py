"""The console's words and its guards, without a browser: every key a template names exists
in both languages, and the login's `next` never leads to another host."""

from __future__ import annotations

import re

import pytest

import yizhan.console.app  # noqa: F401  (every page group adds its words)
from yizhan.console import i18n
from yizhan.console.pages import OPERATOR_NAV, TEMPLATES, TENANT_NAV, safe_next


def test_every_word_a_template_uses_exists_in_both_languages() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\.(\w+)\b(?!\()", template.read_text(encoding="utf-8")))
    used |= {word for _, word in TENANT_NAV + OPERATOR_NAV}
    for lang in i18n.LANGS:
        words = i18n.words(lang)
        assert used <= set(words), (lang, used - set(words))
        assert all(words.values())
    # `t.keys` in a template would be the mapping's method, not the word
    assert not set(i18n.words("en")) & set(dir(dict))


def test_a_word_is_defined_once() -> None:
    with pytest.raises(ValueError, match="overview"):
        i18n.add({"overview": ("Overview", "概览")})


def test_the_language_is_the_switch_then_the_browser_then_the_default() -> None:
    assert i18n.choose("en", "zh-CN,zh;q=0.9", "zh") == "en"
    assert i18n.choose(None, "zh-CN,zh;q=0.9", "en") == "zh"
    assert i18n.choose("fr", "", "zh") == "zh"


@pytest.mark.parametrize(("target", "expected"), [
    ("/console/records?phone=1", "/console/records?phone=1"),
    ("https://evil.example/console/", "/console/overview"),
    ("//evil.example/console/x", "/console/overview"),
    ("/console/\\evil.example", "/console/overview"),
    ("/elsewhere", "/console/overview"),
    ("", "/console/overview"),
])
def test_next_stays_in_the_console(target: str, expected: str) -> None:
    assert safe_next(target, "/console/overview") == expected
