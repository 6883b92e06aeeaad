"""What CMPP carries inside its fields: the authenticators against vectors computed here
with hashlib, the Msg_Id's bits, the three text formats, long messages cut and put back
together, and status reports."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.dispatch.channels.cmpp_pdu import (
    Command,
    Connect,
    ConnectResp,
    Pdu,
    PduError,
    Version,
    decode,
    encode,
)
from yizhan.dispatch.channels.cmpp_text import (
    MsgFmt,
    MsgId,
    Report,
    check_ismg,
    check_source,
    connect_status_text,
    contents,
    decode_report,
    decode_text,
    encode_report,
    encode_text,
    format_for,
    ismg_authenticator,
    reassemble,
    source_authenticator,
    strip_udh,
    timestamp_of,
)
from yizhan.domain import segments

SECRET = "s3cret"


def test_the_source_authenticator_matches_a_vector_computed_here() -> None:
    # 7 January, 09:30:05 China time: the month's leading zero is part of the digest
    expected = hashlib.md5(b"901234" + b"\x00" * 9 + b"s3cret" + b"0107093005").digest()
    assert expected.hex() == "260dab7f7c130848a618d5f50d80fc6a"
    assert source_authenticator("901234", SECRET, 107093005) == expected
    assert check_source(expected, "901234", SECRET, 107093005)
    assert not check_source(expected, "901234", "wrong", 107093005)
    assert not check_source(expected, "901234", SECRET, 107093006)


def test_the_timestamp_is_china_time_whatever_the_host_zone() -> None:
    moment = datetime(2027, 1, 7, 1, 30, 5, tzinfo=UTC)  # 09:30:05 in Shanghai
    assert timestamp_of(moment) == 107093005
    assert timestamp_of(datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC)) == 101000000


def test_the_ismg_authenticator_in_both_versions() -> None:
    source = source_authenticator("901234", SECRET, 107093005)
    v2 = hashlib.md5(b"\x00" + source + b"s3cret").digest()
    v3 = hashlib.md5(b"\x00\x00\x00\x00" + source + b"s3cret").digest()
    assert v2.hex() == "14011a72bd51410917dd3e4badab50e2"
    assert ismg_authenticator(0, source, SECRET, Version.V20) == v2
    assert ismg_authenticator(0, source, SECRET, Version.V30) == v3
    assert check_ismg(v2, 0, source, SECRET, Version.V20)
    assert check_ismg(v3, 0, source, SECRET, Version.V30)
    assert check_ismg(v2, 0, source, SECRET, Version.V30)  # gocmpp's 1-octet form
    assert not check_ismg(v3, 0, source, SECRET, Version.V20)
    assert not check_ismg(v2, 0, source, "wrong", Version.V20)
    assert not check_ismg(v2, 3, source, SECRET, Version.V20)


def test_a_login_both_ends_check_over_the_wire() -> None:
    """The SP's CONNECT at an instant of its clock, the ISMG's check and answer, and the
    SP's check of the answer, each side reading the other's bytes."""
    moment = datetime(2026, 12, 7, 10, 53, 0, tzinfo=UTC)
    for version in (Version.V20, Version.V30):
        stamp = timestamp_of(moment)
        sent = Connect("901234", source_authenticator("901234", SECRET, stamp), version, stamp)
        got = decode(encode(Pdu(Command.CONNECT, 1, sent), version), version).body
        assert isinstance(got, Connect) and got.timestamp == 1207185300
        assert check_source(got.authenticator, got.source_addr, SECRET, got.timestamp)
        answer = ConnectResp(0, ismg_authenticator(0, got.authenticator, SECRET, version),
                             version)
        back = decode(encode(Pdu(Command.CONNECT_RESP, 1, answer), version), version).body
        assert isinstance(back, ConnectResp) and back.status == 0
        assert check_ismg(back.authenticator, back.status, sent.authenticator, SECRET, version)


def test_connect_statuses_are_named() -> None:
    assert connect_status_text(3) == "AUTH_FAILED (3)"
    assert connect_status_text(9) == "status 9"


# ---- Msg_Id ----------------------------------------------------------------------------


def test_msg_id_bits_written_out() -> None:
    msg_id = MsgId(month=12, day=7, hour=18, minute=53, second=0, gateway=0x2ABCD,
                   sequence=0x0102)
    expected = (12 << 60 | 7 << 55 | 18 << 50 | 53 << 44 | 0 << 38 | 0x2ABCD << 16 | 0x0102)
    assert msg_id.pack() == expected
    assert MsgId.unpack(expected) == msg_id
    assert struct.pack(">Q", expected)[:2] == bytes((0xC3, 0xCB))  # 1100 00111 00101 1...


def test_msg_id_at_a_moment_is_china_time() -> None:
    msg_id = MsgId.at(datetime(2026, 12, 7, 10, 53, 9, tzinfo=UTC), 99, 7)
    assert msg_id == MsgId(12, 7, 18, 53, 9, 99, 7)


@given(st.integers(0, 2**64 - 1))
def test_any_64_bits_unpack_and_pack_back(value: int) -> None:
    assert MsgId.unpack(value).pack() == value


def test_msg_id_fields_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="gateway 4194304 does not fit in 22 bits"):
        MsgId(1, 1, 0, 0, 0, 1 << 22, 0).pack()
    with pytest.raises(ValueError, match="not 64 bits"):
        MsgId.unpack(1 << 64)


# ---- text ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fmt", "octets"), [
    ("Code 1234", MsgFmt.ASCII, b"Code 1234"),
    ("验证码", MsgFmt.UCS2, bytes.fromhex("9a8c8bc17801")),
    ("验证码1", MsgFmt.GBK, bytes.fromhex("d1e9d6a4c2eb31")),
    ("😀", MsgFmt.UCS2, bytes.fromhex("d83dde00")),
])
def test_the_three_formats(text: str, fmt: MsgFmt, octets: bytes) -> None:
    assert encode_text(text, fmt) == octets
    assert decode_text(octets, fmt) == text


def test_format_choice_and_refusals() -> None:
    assert format_for("Your code is 1234") is MsgFmt.ASCII
    assert format_for("验证码 1234") is MsgFmt.UCS2
    assert format_for("back`tick") is MsgFmt.UCS2  # ASCII, but no GSM character for it
    with pytest.raises(ValueError):
        encode_text("验证码", MsgFmt.ASCII)
    with pytest.raises(ValueError, match="Msg_Fmt 4 carries no text"):
        encode_text("x", MsgFmt.BINARY)
    with pytest.raises(PduError, match="Msg_Fmt 4 is not text"):
        decode_text(b"\x01", MsgFmt.BINARY)
    assert decode_text(b"\xff", MsgFmt.ASCII) == "\ufffd"


# ---- long messages ---------------------------------------------------------------------


def test_a_long_ucs2_message_is_split_and_reassembled() -> None:
    text = "【驿站】" + "您的验证码是一二三四，五分钟内有效，请勿泄露给他人。" * 6 + "😀结束"
    parts = contents(text, MsgFmt.UCS2, reference=0xA7)
    assert len(parts) == segments.count_parts(text) == 3
    for n, part in enumerate(parts, 1):
        assert len(part) <= 140
        assert part[:6] == bytes((5, 0, 3, 0xA7, 3, n))  # the 6-octet UDH
    assert reassemble(list(reversed(parts)), MsgFmt.UCS2) == text
    # the surrogate pair is never cut in two
    assert all(strip_udh(p).decode("utf-16-be") for p in parts)


def test_a_short_message_is_one_content_without_header() -> None:
    assert contents("验证码 1234", MsgFmt.UCS2, 1) == ["验证码 1234".encode("utf-16-be")]
    assert contents("A" * 160, MsgFmt.ASCII, 1) == [b"A" * 160]


def test_gsm_compatible_text_sent_as_ucs2_is_cut_by_ucs2_units() -> None:
    text = "A" * 100
    parts = contents(text, MsgFmt.UCS2, 5)
    assert [len(p) for p in parts] == [6 + 134, 6 + 66]
    assert reassemble(parts, MsgFmt.UCS2) == text


def test_long_ascii_and_wide_reference() -> None:
    text = "x" * 200
    parts = contents(text, MsgFmt.ASCII, 0x1234, wide=True)
    assert [len(p) for p in parts] == [7 + 152, 7 + 48]
    assert parts[0][:7] == bytes((6, 0x08, 4, 0x12, 0x34, 2, 1))
    assert reassemble(parts, MsgFmt.ASCII) == text


def test_gbk_parts_are_cut_by_octets_never_inside_a_character() -> None:
    text = "a" + "中" * 80  # 161 octets: two parts of at most 134
    parts = contents(text, MsgFmt.GBK, 9)
    assert [len(p) for p in parts] == [6 + 133, 6 + 28]
    assert reassemble(parts, MsgFmt.GBK) == text
    assert contents("中" * 70, MsgFmt.GBK, 9) == ["中".encode("gbk") * 70]


def test_malformed_headers_are_refused() -> None:
    with pytest.raises(PduError, match="runs past Msg_Content"):
        strip_udh(bytes((9, 0, 3)))
    with pytest.raises(PduError, match="runs past Msg_Content"):
        strip_udh(b"")
    with pytest.raises(PduError, match="no concatenation element"):
        reassemble([bytes((2, 0x24, 0)) + b"x"], MsgFmt.ASCII)


# ---- status reports --------------------------------------------------------------------


@pytest.mark.parametrize(("version", "size"), [(Version.V20, 60), (Version.V30, 71)])
def test_a_status_report_written_out(version: Version, size: int) -> None:
    width = size - 39
    raw = b"".join((
        (0x0102030405060708).to_bytes(8, "big"),      # Msg_Id
        b"DELIVRD",                                   # Stat, 7
        b"2612071853", b"2612071854",                 # Submit_time, Done_time, 10 each
        b"8613800138000".ljust(width, b"\0"),         # Dest_terminal_Id, 21 or 32
        (77).to_bytes(4, "big"),                      # SMSC_sequence
    ))
    assert len(raw) == size
    report = Report(0x0102030405060708, "DELIVRD", "2612071853", "2612071854",
                    "8613800138000", 77)
    assert decode_report(raw, version) == report
    assert encode_report(report, version) == raw
    with pytest.raises(PduError, match=f"a status report is {size} octets in CMPP"):
        decode_report(raw[:-1], version)
    with pytest.raises(ValueError, match="longer than 7 octets"):
        encode_report(Report(1, "TOOLONGX"), version)
