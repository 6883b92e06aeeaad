"""The signature-name validator, rule by rule and source by source (docs/compliance.md
"Signature names")."""

from __future__ import annotations

import pytest

from yizhan.compliance.signatures import (
    ALIBABA_SOURCES,
    CLOSED_SOURCES,
    SignSource,
    check_sign_name,
    closed_source,
)

COMPANY = "杭州驿站科技有限公司"
NAME = "isv.SMS_SIGN_NAME_ILLEGAL"
CLOSED = "isv.SMS_SIGN_SOURCE_CLOSED"
MISMATCH = "isv.SMS_SIGN_COMPANY_MISMATCH"


@pytest.mark.parametrize(("name", "source", "company", "code", "rule"), [
    # length: 2 to 12 characters, counted as characters (a Chinese one counts one)
    ("驿站", "trademark", None, None, None),
    ("驿站短信平台科技服务中心一", "trademark", None, NAME, "signature.length"),  # 13
    ("驿站短信平台科技服务中心", "trademark", None, None, None),  # 12
    ("a", "trademark", None, NAME, "signature.length"),
    ("", "trademark", None, NAME, "signature.length"),
    ("Y" * 27, "trademark", None, NAME, "signature.length"),
    ("Yizhan", "trademark", None, None, None),
    # characters: Chinese, letters, digits; no spaces, no punctuation, no brackets
    ("驿站 短信", "trademark", None, NAME, "signature.characters"),
    ("【驿站】", "trademark", None, NAME, "signature.characters"),
    ("驿站,短信", "trademark", None, NAME, "signature.characters"),
    ("驿站。", "trademark", None, NAME, "signature.characters"),
    ("Yi-zhan", "trademark", None, NAME, "signature.characters"),
    ("Ｙｉｚｈａｎ", "trademark", None, NAME, "signature.characters"),  # full-width letters
    ("驿站365", "trademark", None, None, None),
    # only digits
    ("12345", "trademark", None, NAME, "signature.digits"),
    ("12", "app", None, NAME, "signature.digits"),
    # neutral words: alone, combined, or 测试/test anywhere
    ("测试", "trademark", None, NAME, "signature.neutral"),
    ("验证码", "trademark", None, NAME, "signature.neutral"),
    ("短信通知", "trademark", None, NAME, "signature.neutral"),
    ("签名", "trademark", None, NAME, "signature.neutral"),
    ("TEST", "trademark", None, NAME, "signature.neutral"),
    ("驿站测试", "trademark", None, NAME, "signature.neutral"),
    ("YizhanTest", "trademark", None, NAME, "signature.neutral"),
    ("驿站短信", "trademark", None, None, None),  # a neutral word beside a real name
    # sources: open ones pass, closed ones are refused for new signatures
    ("驿站", "enterprise", None, None, None),
    ("驿站", "app", None, None, None),
    ("驿站", "website", None, CLOSED, "signature.source"),
    ("驿站", "public_account", None, CLOSED, "signature.source"),
    ("驿站", "shop", None, CLOSED, "signature.source"),
    ("驿站", "test", None, CLOSED, "signature.source"),
    ("驿站", "trial", None, CLOSED, "signature.source"),
    # enterprise name: the full name or a contiguous part, when the company is known
    ("驿站", "enterprise", COMPANY, None, None),
    ("杭州驿站", "enterprise", COMPANY, None, None),
    ("驿站科技有限公司", "enterprise", COMPANY, None, None),
    ("阿里", "enterprise", COMPANY, MISMATCH, "signature.company"),  # the FAQ's bad example
    ("杭州科技", "enterprise", COMPANY, MISMATCH, "signature.company"),  # not contiguous
    ("阿里", "enterprise", None, None, None),  # no company known yet: not applied
    ("阿里", "trademark", COMPANY, None, None),  # other sources: not about the company
    ("Acme", "enterprise", "ACME Trading Ltd", None, None),  # letters: case-insensitive
])
def test_each_rule(name: str, source: str, company: str | None, code: str | None,
                   rule: str | None) -> None:
    refusal = check_sign_name(name, source, company)
    assert (refusal.code if refusal else None, refusal.rule if refusal else None) == (code, rule)
    if refusal:  # says what was wrong, in both languages
        assert refusal.detail and refusal.message() and refusal.message().count("(") >= 1


def test_every_source_is_named_and_flagged_as_documented() -> None:
    assert ALIBABA_SOURCES == {0: "enterprise", 1: "website", 2: "app", 3: "public_account",
                               4: "shop", 5: "trademark"}
    assert {s for s in SignSource if closed_source(s)} == set(CLOSED_SOURCES) == {
        "website", "public_account", "shop", "test", "trial"}
    for source in SignSource:
        refusal = check_sign_name("驿站", source)
        assert (refusal is not None) == closed_source(source)
