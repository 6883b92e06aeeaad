"""What SMGP 3.0 carries inside its fields: the authenticators against vectors computed here
with hashlib (and the spec's own timestamp example), the BCD MsgID, the three text formats
and long messages over SMGP's TLVs, and the status report's text layout."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.dispatch.channels.smgp_pdu import (
    Command,
    Deliver,
    Login,
    LoginResp,
    Pdu,
    PduError,
    Submit,
    Tlvs,
    decode,
    encode,
)
from yizhan.dispatch.channels.smgp_text import (
    MsgFmt,
    MsgId,
    Report,
    check_client,
    check_server,
    client_authenticator,
    contents,
    decode_report,
    decode_text,
    encode_report,
    reassemble,
    server_authenticator,
    status_text,
    strip_udh,
    timestamp_of,
)

SECRET = "s3cret"


def test_the_client_authenticator_matches_a_vector_computed_here() -> None:
    # 1 March 00:00:00: the spec's example, TimeStamp 0x11F0E540 hashed as "0301000000"
    assert 0x11F0E540 == 301000000
    expected = hashlib.md5(b"SP000001" + bytes(7) + b"s3cret" + b"0301000000").digest()
    assert client_authenticator("SP000001", SECRET, 0x11F0E540) == expected
    assert check_client(expected, "SP000001", SECRET, 0x11F0E540)
    assert not check_client(expected, "SP000001", "wrong", 0x11F0E540)
    assert not check_client(expected, "SP000001", SECRET, 0x11F0E541)


def test_a_short_account_is_checked_in_both_forms_clients_hash_it() -> None:
    bare = hashlib.md5(b"901234" + bytes(7) + b"s3cret" + b"1207185300").digest()
    padded = hashlib.md5(b"901234\0\0" + bytes(7) + b"s3cret" + b"1207185300").digest()
    assert bare != padded
    assert check_client(bare, "901234", SECRET, 1207185300)
    assert check_client(padded, "901234", SECRET, 1207185300)  # gosmgp pads to 8 octets


def test_the_server_authenticator_and_its_one_octet_form() -> None:
    client = client_authenticator("SP000001", SECRET, 1207185300)
    four = hashlib.md5(bytes(4) + client + b"s3cret").digest()
    one = hashlib.md5(bytes(1) + client + b"s3cret").digest()
    assert server_authenticator(0, client, SECRET) == four
    assert check_server(four, 0, client, SECRET)
    assert check_server(one, 0, client, SECRET)  # gosmgp hashes Status as one octet
    assert not check_server(four, 21, client, SECRET)
    assert not check_server(four, 0, client, "wrong")


def test_a_login_both_ends_check_over_the_wire() -> None:
    stamp = timestamp_of(datetime(2026, 12, 7, 10, 53, 0, tzinfo=UTC))
    assert stamp == 1207185300  # China time
    sent = Login("SP000001", client_authenticator("SP000001", SECRET, stamp), 2, stamp)
    got = decode(encode(Pdu(Command.LOGIN, 1, sent))).body
    assert isinstance(got, Login)
    assert check_client(got.authenticator, got.client_id, SECRET, got.timestamp)
    answer = LoginResp(0, server_authenticator(0, got.authenticator, SECRET))
    back = decode(encode(Pdu(Command.LOGIN_RESP, 1, answer))).body
    assert isinstance(back, LoginResp)
    assert check_server(back.authenticator, back.status, sent.authenticator, SECRET)


def test_statuses_are_named() -> None:
    assert status_text(21) == "AUTH_FAILED (21)"
    assert status_text(99) == "status 99"


# ---- MsgID -------------------------------------------------------------------------------


def test_msg_id_is_bcd_written_out() -> None:
    msg_id = MsgId(gateway=591234, month=12, day=7, hour=18, minute=53, sequence=42)
    assert msg_id.pack() == bytes.fromhex("59 12 34 12 07 18 53 00 00 42")
    assert MsgId.unpack(msg_id.pack()) == msg_id
    assert MsgId.at(datetime(2026, 12, 7, 10, 53, tzinfo=UTC), 591234, 1_000_042) == msg_id


def test_msg_ids_that_are_not_bcd_are_refused() -> None:
    with pytest.raises(PduError, match="MsgID 0a000000000000000000 is not 10 octets of BCD"):
        MsgId.unpack(bytes.fromhex("0a000000000000000000"))
    with pytest.raises(ValueError, match="do not fit"):
        MsgId(1_000_000, 1, 1, 0, 0, 0).pack()


@given(st.text(alphabet="0123456789", min_size=20, max_size=20))
def test_any_20_digits_unpack_and_pack_back(digits: str) -> None:
    raw = bytes.fromhex(digits)
    assert MsgId.unpack(raw).pack() == raw


# ---- text and long messages ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "fmt", "octets"), [
    ("Code 1234", MsgFmt.ASCII, b"Code 1234"),
    ("验证码", MsgFmt.UCS2, bytes.fromhex("9a8c8bc17801")),
    ("验证码1", MsgFmt.GBK, bytes.fromhex("d1e9d6a4c2eb31")),
])
def test_the_three_formats(text: str, fmt: MsgFmt, octets: bytes) -> None:
    assert contents(text, fmt, 1) == [octets]
    assert decode_text(octets, fmt) == text


def test_binary_and_broken_headers_raise_smgp_errors() -> None:
    with pytest.raises(PduError, match="4 is not text"):
        decode_text(b"\x01", MsgFmt.BINARY)
    with pytest.raises(PduError, match="runs past"):
        strip_udh(bytes((9, 0, 3)))
    with pytest.raises(PduError, match="no concatenation element"):
        reassemble([bytes((2, 0x24, 0)) + b"x"], MsgFmt.ASCII)


def test_a_long_message_travels_as_submits_with_tp_udhi_and_back() -> None:
    text = "【驿站】" + "您的验证码是一二三四，五分钟内有效，请勿泄露给他人。" * 6
    parts = contents(text, MsgFmt.UCS2, reference=0xA7)
    assert len(parts) == 3
    received = []
    for n, part in enumerate(parts, 1):
        pdu = Pdu(Command.SUBMIT, n, Submit(
            dest_term_ids=["13300000000"], msg_content=part, msg_format=MsgFmt.UCS2,
            tlvs=Tlvs(tp_udhi=1, pk_total=3, pk_number=n)))
        body = decode(encode(pdu)).body
        assert isinstance(body, Submit) and body.tlvs.tp_udhi == 1
        assert body.msg_content[:6] == bytes((5, 0, 3, 0xA7, 3, n))
        received.append(body.msg_content)
    assert reassemble(list(reversed(received)), MsgFmt.UCS2) == text


# ---- status reports ----------------------------------------------------------------------


def test_a_status_report_written_out() -> None:
    msg_id = bytes.fromhex("59123412071853000042")
    raw = (b"id:" + msg_id + b" sub:001 dlvrd:001 Submit date:2612071853 done date:2612071854"
           b" stat:DELIVRD err:000 Text:" + b"hello".ljust(20, b"\0"))
    assert len(raw) == 122
    report = Report(msg_id, "DELIVRD", "000", "2612071853", "2612071854", text="hello")
    assert decode_report(raw) == report
    assert encode_report(report) == raw
    # Text trimmed, as gateways send it; labels in another case
    trimmed = raw[:-20].replace(b"Submit date", b"submit date") + b"hello"
    assert decode_report(trimmed) == report


def test_what_is_not_a_status_report_is_refused_with_the_field_named() -> None:
    good = encode_report(Report(bytes(10), "UNDELIV", "612"))
    with pytest.raises(PduError, match="a status report is 122 octets, not 101"):
        decode_report(good[:101])
    with pytest.raises(PduError, match="no 'stat:' at octet"):
        decode_report(good.replace(b" stat:", b" STAT="))
    with pytest.raises(ValueError, match="stat 'TOOLONGX' is longer than 7"):
        encode_report(Report(bytes(10), "TOOLONGX"))


def test_a_report_deliver_reads_back_through_the_codec() -> None:
    report = Report(bytes.fromhex("59123412071853000042"), "EXPIRED", "006", "2612071853",
                    "2612081853")
    frame = encode(Pdu(Command.DELIVER, 3, Deliver(
        msg_id=bytes(10), is_report=1, src_term_id="13300000000",
        dest_term_id="106590001234", msg_content=encode_report(report))))
    body = decode(frame).body
    assert isinstance(body, Deliver) and body.is_report == 1
    assert decode_report(body.msg_content) == report


@given(st.binary(max_size=140))
def test_any_content_decodes_as_a_report_or_is_refused(content: bytes) -> None:
    try:
        report = decode_report(content)
    except PduError:
        return
    assert len(report.msg_id) == 10 and len(report.stat) <= 7
