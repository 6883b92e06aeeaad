"""The one masking function: digits and letters hidden, the rest readable."""

from __future__ import annotations

from yizhan.records.masking import mask


def test_digits_and_letters_become_stars_and_chinese_text_stays() -> None:
    assert mask("【驿站】您的验证码为0207，详情 https://x.cn/Ab9") == \
        "【驿站】您的验证码为****，详情 *****://*.**/***"
    assert mask("全角１２３ＡＢ") == "全角*****"
    assert mask("") == ""


def test_numbers_keep_their_first_three_and_last_four_characters() -> None:
    from yizhan.records.masking import mask_number

    assert mask_number("13800138000") == "138****8000"
    assert mask_number("+14155550123") == "+14*****0123"
    assert mask_number("12-abc") == "**-abc"
    assert mask_number("") == ""
