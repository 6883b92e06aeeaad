"""The error-code registry: every code documented, in both languages, with a sane status."""

from __future__ import annotations

from pathlib import Path

import pytest

from yizhan.domain.errors import REGISTRY, Lang, Refusal


def test_every_code_has_both_languages_and_a_status() -> None:
    for code, error in REGISTRY.items():
        assert error.en and error.zh, code
        assert 400 <= error.http_status < 600, code


def test_every_code_is_documented_for_users() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "errors.md").read_text()
    for code in REGISTRY:
        assert f"`{code}`" in docs, f"docs/errors.md does not list {code}"


def test_refusal_message_carries_the_detail_and_unknown_codes_are_bugs() -> None:
    refusal = Refusal("isv.MOBILE_NUMBER_ILLEGAL", "12345")
    assert refusal.message(Lang.EN).endswith("(12345)")
    assert refusal.message(Lang.ZH).startswith("手机号码格式错误")
    assert refusal.error.business and not Refusal("Unauthorized").error.business
    with pytest.raises(ValueError):
        Refusal("isv.NO_SUCH_CODE")
