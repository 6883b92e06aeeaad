"""Encoding, length and part counting at the edges docs/domain.md "Length and billing" names."""

from __future__ import annotations

from itertools import pairwise

import gsm0338  # noqa: F401  (registers the gsm03.38 codec: the oracle)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.domain.segments import (
    Encoding,
    count_parts,
    decode,
    encode,
    encoding_of,
    split,
    udh,
    units,
)

CN = "验"  # any CJK character: UCS-2, one unit
EMOJI = "😀"  # outside the BMP: a surrogate pair, two UTF-16 units


def _check_parts(text: str, parts: list[str]) -> None:
    assert "".join(parts) == text
    assert len(parts) == count_parts(text)


# --- encoding and units ---------------------------------------------------------------------


def test_plain_ascii_is_gsm7() -> None:
    assert encoding_of("Your code is 1234. Valid for 5 minutes.") is Encoding.GSM7


def test_gsm_specials_and_extension_stay_gsm7() -> None:
    assert encoding_of("@£$¥èé ΔΦΓ ÄÖÑÜ§¿ äöñüà {}[]~|^\\€\f\n\r") is Encoding.GSM7


@pytest.mark.parametrize("text", ["【阿里云】code 1234", "ç", "`", "\x1b", EMOJI])
def test_characters_outside_gsm_0338_make_ucs2(text: str) -> None:
    assert encoding_of(text) is Encoding.UCS2


def test_chinese_signature_makes_the_whole_text_ucs2() -> None:
    text = "【阿里云】" + "a" * 60
    assert encoding_of(text) is Encoding.UCS2
    assert units(text, Encoding.UCS2) == 65


def test_extension_characters_count_two_septets() -> None:
    assert units("€", Encoding.GSM7) == 2
    assert units("{}[]~|^\\\f", Encoding.GSM7) == 18
    assert units("a€b", Encoding.GSM7) == 4


def test_emoji_counts_two_utf16_units() -> None:
    assert units(EMOJI, Encoding.UCS2) == 2
    assert units("验" + EMOJI, Encoding.UCS2) == 3


def test_units_refuses_gsm7_for_non_gsm_text() -> None:
    with pytest.raises(ValueError):
        units("验", Encoding.GSM7)


def test_empty_text_is_one_part() -> None:
    assert count_parts("") == 1
    assert split("") == [""]
    assert units("", Encoding.GSM7) == units("", Encoding.UCS2) == 0


# --- part boundaries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, parts: int) -> None:
    text = CN * length
    assert count_parts(text) == parts
    _check_parts(text, split(text))


def test_71_chinese_chars_split_67_plus_4() -> None:
    assert [len(p) for p in split(CN * 71)] == [67, 4]


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, parts: int) -> None:
    text = "a" * length
    assert count_parts(text) == parts
    _check_parts(text, split(text))


def test_161_gsm_chars_split_153_plus_8() -> None:
    assert [len(p) for p in split("a" * 161)] == [153, 8]


def test_gsm_text_split_in_the_encoding_a_channel_sends() -> None:
    # a channel sending GSM-compatible text as UCS-2 needs UCS-2's limits: 70, then 67
    assert split("a" * 70, encoding=Encoding.UCS2) == ["a" * 70]
    assert [len(p) for p in split("a" * 71, encoding=Encoding.UCS2)] == [67, 4]
    assert [len(p) for p in split("a" * 161)] == [153, 8]


def test_euro_signs_count_two_septets_in_the_single_limit() -> None:
    assert count_parts("€" * 80) == 1  # 160 septets
    assert count_parts("€" * 79 + "a") == 1  # 159 septets
    assert count_parts("€" * 80 + "a") == 2  # 161 septets


def test_160_euro_signs_are_three_parts_of_whole_escape_pairs() -> None:
    parts = split("€" * 160)  # 320 septets; 153 is odd, so each full part holds 76 (152)
    assert [units(p, Encoding.GSM7) for p in parts] == [152, 152, 16]
    assert count_parts("€" * 160) == 3


def test_escape_char_at_the_153_boundary_moves_whole() -> None:
    text = "a" * 152 + "€" + "b" * 20  # the € would need septets 153 and 154
    parts = split(text)
    assert parts == ["a" * 152, "€" + "b" * 20]
    assert [units(p, Encoding.GSM7) for p in parts] == [152, 22]
    assert count_parts(text) == 2


def test_escape_char_that_fits_exactly_stays() -> None:
    text = "a" * 151 + "€" + "b" * 20  # the € takes septets 152 and 153
    assert split(text) == ["a" * 151 + "€", "b" * 20]


def test_emoji_at_the_67_boundary_moves_whole() -> None:
    text = CN * 66 + EMOJI + CN * 10  # the pair would need units 67 and 68
    parts = split(text)
    assert parts == [CN * 66, EMOJI + CN * 10]
    assert [units(p, Encoding.UCS2) for p in parts] == [66, 12]
    assert count_parts(text) == 2


def test_emoji_counts_in_the_single_limit() -> None:
    assert count_parts(CN * 68 + EMOJI) == 1  # 70 units
    assert count_parts(CN * 69 + EMOJI) == 2  # 71 units


def test_signed_chinese_message_at_70() -> None:
    signature = "【阿里云】"
    body = "您的验证码为1234，5分钟内有效。" * 5
    text = signature + body[: 70 - len(signature)]
    assert count_parts(text) == 1
    assert count_parts(text + "。") == 2


# --- properties -----------------------------------------------------------------------------

_MIXED = st.text(
    alphabet=st.sampled_from(list("aZ09 .,\n@£ΔÄ" + "€{}[]~|^\\" + "验证码阿里云" + "😀🇨")),
    max_size=500,
)
_GSM_ONLY = st.text(alphabet=st.sampled_from(list("ab1 @Δ€{}[]~|^\\\f")), max_size=500)


def _assert_split_is_sound(text: str) -> None:
    enc = encoding_of(text)
    parts = split(text)
    assert "".join(parts) == text
    assert len(parts) == count_parts(text)
    if len(parts) == 1:
        assert units(text, enc) <= (160 if enc is Encoding.GSM7 else 70)
        return
    limit = 153 if enc is Encoding.GSM7 else 67
    for part, following in pairwise(parts):
        assert 0 < units(part, enc) <= limit
        # Greedy: the next character did not fit, so no part is cut short.
        assert units(part + following[0], enc) > limit
    assert 0 < units(parts[-1], enc) <= limit


@given(_MIXED)
def test_split_property_mixed_alphabet(text: str) -> None:
    _assert_split_is_sound(text)


@given(_GSM_ONLY)
def test_split_property_gsm_with_many_escapes(text: str) -> None:
    _assert_split_is_sound(text)


# --- octets on the wire (gsm0338 as the oracle) ---------------------------------------------

_GSM_FULL = st.text(alphabet=st.sampled_from(sorted(
    set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿"
        "abcxyzäöñüà") | set("\f^{}\\[~]|€"))), max_size=400)


@given(_GSM_FULL, st.booleans())
def test_gsm_parts_encode_as_gsm0338_does_and_never_end_in_an_escape(
        text: str, wide: bool) -> None:
    parts = split(text, wide_reference=wide)
    limit = 160 if len(parts) == 1 else (152 if wide else 153)
    for part in parts:
        octets = encode(part, Encoding.GSM7)
        assert octets == part.encode("gsm03.38")
        assert len(octets) <= limit and not octets.endswith(b"\x1b")
        assert decode(octets, Encoding.GSM7) == part


@given(_MIXED.filter(lambda t: encoding_of(t) is Encoding.UCS2), st.booleans())
def test_ucs2_parts_are_whole_utf16(text: str, wide: bool) -> None:
    parts = split(text, wide_reference=wide)
    limit = 70 if len(parts) == 1 else (66 if wide else 67)
    for part in parts:
        octets = encode(part, Encoding.UCS2)
        assert len(octets) <= 2 * limit
        assert octets.decode("utf-16-be") == part  # strict: no half surrogate pair


def test_a_wide_reference_leaves_one_unit_less_per_part() -> None:
    assert [len(p) for p in split("a" * 305, wide_reference=True)] == [152, 152, 1]
    assert [len(p) for p in split(CN * 133, wide_reference=True)] == [66, 66, 1]
    assert count_parts("a" * 305) == len(split("a" * 305)) == 2


def test_concatenation_headers() -> None:
    assert udh(0x1A, 3, 2) == bytes.fromhex("0500031a0302")
    assert udh(0x1234, 3, 1, wide=True) == bytes.fromhex("060804123403" "01")
    assert udh(0x1FF, 2, 1) == bytes.fromhex("050003ff0201")  # an 8-bit reference wraps


def test_unknown_gsm_escapes_read_as_space() -> None:
    assert decode(b"a\x1b\x01b", Encoding.GSM7) == "a b"
