"""The one masking function: digits and letters hidden, the rest readable."""

from __future__ import annotations

from yizhan.records.masking import mask


def test_digits_and_letters_become_stars_and_chinese_text_stays() -> None:
    assert mask("【驿站】您的验证码为0207，详情 https://x.cn/Ab9") == \
        "【驿站】您的验证码为****，详情 *****://*.**/***"
    assert mask("全角１２３ＡＢ") == "全角*****"
    assert mask("") == ""
