"""The SMGP 3.0 codec: round trips of every PDU, Login/Submit/Deliver frames written out by
hand from the field tables (the layout go_smgp and gosmgp read and write, see
test_smgp_interop.py), the TLVs, framing of a byte stream, and what a broken peer may send."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.dispatch.channels.smgp_pdu import (
    MAX_PDU,
    Command,
    Deliver,
    Framer,
    Login,
    LoginResp,
    MsgIdResp,
    Pdu,
    PduError,
    Status,
    Submit,
    Tag,
    Tlvs,
    decode,
    encode,
)
from yizhan.dispatch.channels.smgp_text import (
    MsgFmt,
    MsgId,
    Report,
    client_authenticator,
    decode_report,
    encode_report,
)

MSG_ID = MsgId(591234, 12, 7, 18, 53, 42).pack()


def submit(**fields: object) -> Submit:
    base: dict[str, object] = dict(
        dest_term_ids=["13300000000", "18900000000"],
        msg_content="验证码 1234".encode("utf-16-be"), msg_format=MsgFmt.UCS2,
        src_term_id="106590001234", service_id="MYZ0001", need_report=1, priority=1,
        fee_type="01", fee_code="000010", fixed_fee="000000",
        tlvs=Tlvs(link_id="LINK-42", charge_user_type=0, msg_src="SP000001"))
    base.update(fields)
    return Submit(**base)  # type: ignore[arg-type]


def deliver(**fields: object) -> Deliver:
    base: dict[str, object] = dict(
        msg_id=MSG_ID, recv_time="20261207185300", src_term_id="13300000000",
        dest_term_id="1065900012345", msg_content=b"TD", msg_format=MsgFmt.ASCII,
        tlvs=Tlvs(tp_pid=0, tp_udhi=0, link_id="LINK-42"))
    base.update(fields)
    return Deliver(**base)  # type: ignore[arg-type]


def every_pdu() -> list[Pdu]:
    report = Report(MSG_ID, "DELIVRD", "000", "2612071853", "2612071854", text="hello")
    return [
        Pdu(Command.LOGIN, 1, Login("SP000001", bytes(range(16)), 2, 1207185300, 0x30)),
        Pdu(Command.LOGIN_RESP, 1, LoginResp(0, bytes(range(16, 32)), 0x30)),
        Pdu(Command.LOGIN_RESP, 2, LoginResp(Status.AUTH_FAILED, bytes(16), 0x30)),
        Pdu(Command.SUBMIT, 3, submit()),
        Pdu(Command.SUBMIT, 4, submit(
            msg_content=bytes((5, 0, 3, 9, 2, 2)) + b"\x4e\x2d", valid_time="261208185300032+",
            tlvs=Tlvs(tp_udhi=1, pk_total=2, pk_number=2, tp_pid=0))),
        Pdu(Command.SUBMIT_RESP, 3, MsgIdResp(MSG_ID, Status.OK)),
        Pdu(Command.SUBMIT_RESP, 4, MsgIdResp(bytes(10), Status.SYSTEM_BUSY)),
        Pdu(Command.DELIVER, 5, deliver()),
        Pdu(Command.DELIVER, 6, deliver(is_report=1, msg_format=0, tlvs=Tlvs(),
                                        msg_content=encode_report(report))),
        Pdu(Command.DELIVER_RESP, 6, MsgIdResp(MSG_ID, Status.OK)),
        Pdu(Command.ACTIVE_TEST, 7), Pdu(Command.ACTIVE_TEST_RESP, 7),
        Pdu(Command.EXIT, 8), Pdu(Command.EXIT_RESP, 8),
    ]


def test_every_pdu_round_trips() -> None:
    for pdu in every_pdu():
        data = encode(pdu)
        assert int.from_bytes(data[:4], "big") == len(data)
        assert decode(data) == pdu, pdu.command.title


def test_fixed_sizes_are_the_specs() -> None:
    sizes = {p.command: len(encode(p)) for p in every_pdu()
             if p.body is None or p.command.is_response}
    assert sizes == {Command.LOGIN_RESP: 12 + 21, Command.SUBMIT_RESP: 12 + 14,
                     Command.DELIVER_RESP: 12 + 14, Command.ACTIVE_TEST: 12,
                     Command.ACTIVE_TEST_RESP: 12, Command.EXIT: 12, Command.EXIT_RESP: 12}
    assert len(encode(every_pdu()[0])) == 42  # Login: 12 + 8 + 16 + 1 + 4 + 1


def test_a_report_in_a_deliver_reads_back() -> None:
    report = Report(MSG_ID, "UNDELIV", "612", "2612071853", "2612071900", text="您好".encode(
        "utf-16-be").decode("latin-1"))
    pdu = decode(encode(Pdu(Command.DELIVER, 1, deliver(
        is_report=1, msg_content=encode_report(report)))))
    assert isinstance(pdu.body, Deliver) and len(pdu.body.msg_content) == 122
    assert decode_report(pdu.body.msg_content) == report


# ---- frames written out by hand from the field tables ----------------------------------


def _nul(text: str, width: int) -> bytes:
    return text.encode("ascii").ljust(width, b"\0")


def test_login_frame_byte_for_byte() -> None:
    # 1 March, 00:00:00: TimeStamp 0x11F0E540, hashed as "0301000000" (the spec's example)
    auth = hashlib.md5(b"SP000001" + bytes(7) + b"s3cret" + b"0301000000").digest()
    expected = bytes.fromhex("0000002A 00000001 0000002A") + b"SP000001" + auth \
        + b"\x02" + bytes.fromhex("11F0E540") + b"\x30"
    pdu = Pdu(Command.LOGIN, 0x2A, Login(
        "SP000001", client_authenticator("SP000001", "s3cret", 301000000), 2, 301000000))
    assert encode(pdu) == expected
    assert decode(expected) == pdu


def test_submit_frame_byte_for_byte() -> None:
    content = "你好".encode("utf-16-be")
    body = b"".join((
        b"\x06\x01\x01",                # MsgType MT, NeedReport, Priority
        _nul("MYZ0001", 10),            # ServiceID, 10
        b"01", b"000010", b"000000",    # FeeType 2, FeeCode 6, FixedFee 6
        b"\x08",                        # MsgFormat: UCS2
        _nul("", 17), _nul("", 17),     # ValidTime, AtTime, 17 each
        _nul("106590001234", 21),       # SrcTermID, 21
        _nul("", 21),                   # ChargeTermID, 21
        b"\x01", _nul("13300000000", 21),  # DestTermIDCount, DestTermID
        b"\x04", content,               # MsgLength, MsgContent
        bytes(8),                       # Reserve, 8
        bytes.fromhex("0002 0001 01"),  # TLV TP_udhi = 1
        bytes.fromhex("0009 0001 02"),  # TLV PkTotal = 2
        bytes.fromhex("000A 0001 01"),  # TLV PkNumber = 1
        bytes.fromhex("0010 0008") + b"SP000001",  # TLV MsgSrc, 8
    ))
    expected = (12 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000002") \
        + (7).to_bytes(4, "big") + body
    ours = submit(dest_term_ids=["13300000000"], msg_content=content,
                  tlvs=Tlvs(tp_udhi=1, pk_total=2, pk_number=1, msg_src="SP000001"))
    assert encode(Pdu(Command.SUBMIT, 7, ours)) == expected
    assert decode(expected) == Pdu(Command.SUBMIT, 7, ours)


def test_deliver_and_responses_byte_for_byte() -> None:
    assert MSG_ID == bytes.fromhex("59123412071853000042")  # BCD: gateway, MMDDHHMM, sequence
    body = MSG_ID + b"\x00\x00" + b"20261207185300" + _nul("13300000000", 21) \
        + _nul("1065900012345", 21) + b"\x02TD" + bytes(8) \
        + bytes.fromhex("0003 0014") + _nul("LINK-42", 20)
    frame = (12 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000003 00000009") + body
    assert decode(frame) == Pdu(Command.DELIVER, 9, deliver(tlvs=Tlvs(link_id="LINK-42")))
    assert encode(Pdu(Command.SUBMIT_RESP, 5, MsgIdResp(MSG_ID, 75))) == bytes.fromhex(
        "0000001A 80000002 00000005 59123412071853000042 0000004B")
    assert encode(Pdu(Command.LOGIN_RESP, 1, LoginResp(21, bytes(16)))) == bytes.fromhex(
        "00000021 80000001 00000001 00000015") + bytes(16) + b"\x30"


def test_unknown_tlvs_are_kept_and_known_ones_checked() -> None:
    base = encode(Pdu(Command.DELIVER, 1, deliver(tlvs=Tlvs())))
    extra = bytes.fromhex("1001 0003 414243")  # a gateway's own tag
    frame = (len(base) + len(extra)).to_bytes(4, "big") + base[4:] + extra
    pdu = decode(frame)
    assert isinstance(pdu.body, Deliver) and pdu.body.tlvs.other == {0x1001: b"ABC"}
    assert encode(pdu) == frame
    for tlv, message in ((bytes.fromhex("0002 0002 0100"), "TP_UDHI has length 2, not 1"),
                         (bytes.fromhex("0003 0015") + bytes(21), "LINK_ID has length 21"),
                         (bytes.fromhex("0001 0001 00 0001 0001 00"), "0x0001 is sent twice"),
                         (bytes.fromhex("0003 0010 00"), "TLV 0x0003 runs past the end"),
                         (bytes.fromhex("00"), "TLV Tag runs past the end")):
        bad = (len(base) + len(tlv)).to_bytes(4, "big") + base[4:] + tlv
        _refused(bad, f"malformed SMGP Deliver: .*{message}")


# ---- framing and broken peers ----------------------------------------------------------


def test_framer_cuts_a_stream_at_any_boundary() -> None:
    frames = [encode(p) for p in every_pdu()]
    stream = b"".join(frames)
    for step in (1, 7, 64, len(stream)):
        framer, got = Framer(), []
        for i in range(0, len(stream), step):
            got += framer.feed(stream[i:i + step])
        assert got == frames


def test_framer_refuses_an_impossible_length() -> None:
    with pytest.raises(PduError, match="impossible PacketLength 8"):
        Framer().feed((8).to_bytes(4, "big") + bytes(8))
    with pytest.raises(PduError, match="impossible PacketLength"):
        Framer().feed((MAX_PDU + 1).to_bytes(4, "big"))


def _refused(data: bytes, message: str) -> PduError:
    with pytest.raises(PduError, match=message) as caught:
        decode(data)
    return caught.value


def test_truncated_pdus_are_refused_with_the_field_named() -> None:
    whole = encode(Pdu(Command.SUBMIT, 3, submit(tlvs=Tlvs())))
    for cut in (5, 20, 60, len(whole) - 30, len(whole) - 12):
        short = (len(whole) - cut).to_bytes(4, "big") + whole[4:-cut]
        error = _refused(short, "malformed SMGP Submit: .* runs past the end")
        assert error.sequence == 3
    _refused(whole[:10], "shorter than its 12-octet header")
    _refused(whole[:-1], "PacketLength .* does not match")
    resp = encode(Pdu(Command.LOGIN_RESP, 1, LoginResp()))
    _refused((len(resp) - 1).to_bytes(4, "big") + resp[4:-1],
             "SMGP Login_Resp: ServerVersion runs past")


def test_counts_and_flags_out_of_bounds_are_refused() -> None:
    data = bytearray(encode(Pdu(Command.SUBMIT, 3, submit(dest_term_ids=["13300000000"],
                                                          tlvs=Tlvs()))))
    at = 12 + 3 + 10 + 2 + 6 + 6 + 1 + 17 + 17 + 21 + 21  # DestTermIDCount
    for count, message in ((0, "DestTermIDCount 0 is not 1 to 100"),
                           (101, "DestTermIDCount 101 is not 1 to 100")):
        data[at] = count
        _refused(bytes(data), message)
    extra = encode(Pdu(Command.ACTIVE_TEST, 1)) + b"\0"
    _refused((13).to_bytes(4, "big") + extra[4:], "1 octets after the last field")
    unknown = (12).to_bytes(4, "big") + (0x99).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert _refused(unknown, "unknown RequestID 0x00000099").sequence == 4
    _refused(encode(Pdu(Command.DELIVER, 1, deliver(is_report=2))),
             "IsReport 2 is neither 0 nor 1")


def test_encoding_refuses_what_the_fields_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"SrcTermID '1065.*' is longer than its 21 octets"):
        encode(Pdu(Command.SUBMIT, 1, submit(src_term_id="1065" * 6)))
    with pytest.raises(ValueError, match="1 to 100 destinations, not 0"):
        encode(Pdu(Command.SUBMIT, 1, submit(dest_term_ids=[])))
    with pytest.raises(ValueError, match="MsgContent of 256 octets"):
        encode(Pdu(Command.SUBMIT, 1, submit(msg_content=bytes(256))))
    with pytest.raises(ValueError, match="MsgID is 10 octets, not 8"):
        encode(Pdu(Command.SUBMIT_RESP, 1, MsgIdResp(bytes(8))))
    with pytest.raises(ValueError, match=r"link_id 'L{21}' is longer than its 20"):
        encode(Pdu(Command.SUBMIT, 1, submit(tlvs=Tlvs(link_id="L" * 21))))


def test_titles_are_the_specs_names() -> None:
    assert Command.ACTIVE_TEST_RESP.title == "SMGP Active_Test_Resp"
    assert Command.LOGIN.title == "SMGP Login"
    assert Command.SUBMIT.response is Command.SUBMIT_RESP
    assert [t.value for t in Tag][:3] == [1, 2, 3] and Tag.M_SERVICE_ID == 0x12


# ---- property tests ----------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=8)
_OCTET = st.integers(0, 255)
_TLVS = st.builds(
    Tlvs, tp_pid=st.none() | _OCTET, tp_udhi=st.none() | st.integers(0, 1),
    link_id=st.none() | _TEXT, charge_user_type=st.none() | _OCTET,
    pk_total=st.none() | _OCTET, pk_number=st.none() | _OCTET,
    msg_src=st.none() | _TEXT, dest_term_pseudo=st.none() | _TEXT,
    other=st.dictionaries(st.integers(0x0013, 0xFFFF), st.binary(max_size=6), max_size=2))


@given(st.lists(st.text(alphabet="0123456789", min_size=1, max_size=21), min_size=1,
                max_size=100),
       st.binary(max_size=255), _OCTET, _TEXT, _TLVS, st.integers(0, 2**32 - 1))
def test_any_submit_round_trips(dests: list[str], content: bytes, fmt: int, service: str,
                                tlvs: Tlvs, sequence: int) -> None:
    pdu = Pdu(Command.SUBMIT, sequence, Submit(
        dest_term_ids=dests, msg_content=content, msg_format=fmt, service_id=service,
        src_term_id="106590001234", tlvs=tlvs))
    assert decode(encode(pdu)) == pdu


@given(st.binary(min_size=10, max_size=10), st.integers(0, 1), st.binary(max_size=255),
       _TLVS)
def test_any_deliver_round_trips(msg_id: bytes, is_report: int, content: bytes,
                                 tlvs: Tlvs) -> None:
    pdu = Pdu(Command.DELIVER, 1, Deliver(msg_id=msg_id, is_report=is_report,
                                          msg_content=content, src_term_id="133",
                                          tlvs=tlvs))
    assert decode(encode(pdu)) == pdu


@given(st.sampled_from(list(Command)), st.binary(max_size=400))
def test_any_body_behind_a_valid_header_decodes_or_is_refused(command: Command,
                                                              body: bytes) -> None:
    data = (12 + len(body)).to_bytes(4, "big") + command.to_bytes(4, "big") + bytes(4) + body
    try:
        pdu = decode(data)
    except PduError as exc:
        assert str(exc).startswith(f"malformed {command.title}: ")
    else:
        # text fields read up to their first NUL: only then may the bytes differ
        assert encode(pdu) == data or command in (Command.SUBMIT, Command.DELIVER,
                                                  Command.LOGIN)


@given(st.binary(max_size=600))
def test_any_stream_frames_or_is_refused(stream: bytes) -> None:
    try:
        frames = Framer().feed(stream)
    except PduError as exc:
        assert "impossible PacketLength" in str(exc)
    else:
        assert b"".join(frames) == stream[:sum(len(f) for f in frames)]
