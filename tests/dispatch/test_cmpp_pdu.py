"""The CMPP 2.0 / 3.0 codec: round trips of every PDU in both layouts, CONNECT and SUBMIT
frames written out by hand from the specs' field tables, framing of a byte stream, and the
PDUs a broken peer may send."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.dispatch.channels.cmpp_pdu import (
    MAX_PDU,
    ActiveTestResp,
    Command,
    Connect,
    ConnectResp,
    Deliver,
    Framer,
    MsgIdResp,
    Pdu,
    PduError,
    Result,
    Submit,
    Version,
    decode,
    encode,
    layout_of,
)
from yizhan.dispatch.channels.cmpp_text import (
    MsgFmt,
    Report,
    decode_report,
    encode_report,
    source_authenticator,
)

BOTH = [Version.V20, Version.V30]


def submit(version: Version, **fields: object) -> Submit:
    base: dict[str, object] = dict(
        dest_terminal_ids=["8613800138000", "8613900139000"],
        msg_content="验证码 1234".encode("utf-16-be"), msg_fmt=MsgFmt.UCS2,
        src_id="106900011234", msg_src="901234", service_id="MYZ0001",
        registered_delivery=1, fee_user_type=2, fee_type="02", fee_code="000010")
    if version is Version.V30:
        base.update(fee_terminal_type=0, dest_terminal_type=0, link_id="LINK-42")
    else:
        base.update(reserve="")
    base.update(fields)
    return Submit(**base)  # type: ignore[arg-type]


def deliver(version: Version, **fields: object) -> Deliver:
    base: dict[str, object] = dict(
        msg_id=0x1234_5678_9ABC_DEF0, dest_id="106900011234", service_id="MYZ0001",
        src_terminal_id="8613800138000", msg_content="TD".encode("ascii"),
        msg_fmt=MsgFmt.ASCII)
    if version is Version.V30:
        base.update(src_terminal_type=1, link_id="LINK-42")
    base.update(fields)
    return Deliver(**base)  # type: ignore[arg-type]


def every_pdu(version: Version) -> list[Pdu]:
    report = Report(0x0102_0304_0506_0708, "DELIVRD", "2612071853", "2612071854",
                    "8613800138000", 77)
    return [
        Pdu(Command.CONNECT, 1, Connect("901234", bytes(range(16)), version, 1207185300)),
        Pdu(Command.CONNECT_RESP, 1, ConnectResp(0, bytes(range(16, 32)), version)),
        Pdu(Command.CONNECT_RESP, 2, ConnectResp(3, bytes(16), version)),
        Pdu(Command.SUBMIT, 3, submit(version)),
        Pdu(Command.SUBMIT, 4, submit(version, tp_udhi=1, pk_total=2, pk_number=2,
                                      msg_content=bytes((5, 0, 3, 9, 2, 2)) + b"\x4e\x2d",
                                      valid_time="261208185300032+",
                                      at_time="261207190000032+")),
        Pdu(Command.SUBMIT_RESP, 3, MsgIdResp(0xFEDC_BA98_7654_3210, Result.OK)),
        Pdu(Command.SUBMIT_RESP, 4, MsgIdResp(0, Result.FLOW_CONTROL)),
        Pdu(Command.DELIVER, 5, deliver(version)),
        Pdu(Command.DELIVER, 6, deliver(version, registered_delivery=1, msg_fmt=0,
                                        msg_content=encode_report(report, version))),
        Pdu(Command.DELIVER_RESP, 6, MsgIdResp(0x1234_5678_9ABC_DEF0, Result.OK)),
        Pdu(Command.ACTIVE_TEST, 7), Pdu(Command.ACTIVE_TEST_RESP, 7, ActiveTestResp(0)),
        Pdu(Command.TERMINATE, 8), Pdu(Command.TERMINATE_RESP, 8),
    ]


@pytest.mark.parametrize("version", BOTH)
def test_every_pdu_round_trips_in_both_versions(version: Version) -> None:
    for pdu in every_pdu(version):
        data = encode(pdu, version)
        assert int.from_bytes(data[:4], "big") == len(data)
        assert decode(data, version) == pdu, pdu.command.title


@pytest.mark.parametrize(("version", "sizes"), [
    (Version.V20, {Command.CONNECT_RESP: 12 + 18, Command.SUBMIT_RESP: 12 + 9}),
    (Version.V30, {Command.CONNECT_RESP: 12 + 21, Command.SUBMIT_RESP: 12 + 12}),
])
def test_responses_have_the_width_of_their_version(version: Version,
                                                   sizes: dict[Command, int]) -> None:
    got = {p.command: len(encode(p, version)) for p in every_pdu(version)
           if p.command in sizes}
    assert got == sizes
    assert len(encode(Pdu(Command.ACTIVE_TEST_RESP, 1, ActiveTestResp()), version)) == 13
    assert len(encode(Pdu(Command.TERMINATE, 1), version)) == 12


def test_a_report_in_a_deliver_reads_back_in_both_versions() -> None:
    for version, size in ((Version.V20, 60), (Version.V30, 71)):
        report = Report(42, "UNDELIV", "2612071853", "2612071900", "8613800138000", 9)
        pdu = decode(encode(Pdu(Command.DELIVER, 1, deliver(
            version, registered_delivery=1, msg_content=encode_report(report, version))),
            version), version)
        assert isinstance(pdu.body, Deliver) and len(pdu.body.msg_content) == size
        assert decode_report(pdu.body.msg_content, version) == report


# ---- frames written out by hand from the field tables ----------------------------------


def test_connect_frame_byte_for_byte() -> None:
    auth = hashlib.md5(b"901234" + bytes(9) + b"s3cret" + b"0107093005").digest()
    expected = b"".join((
        (39).to_bytes(4, "big"),            # Total_Length: 12 + 6 + 16 + 1 + 4
        bytes.fromhex("00000001"),          # Command_Id: CMPP_CONNECT
        (0x2A).to_bytes(4, "big"),          # Sequence_Id
        b"901234",                          # Source_Addr, 6
        auth,                               # AuthenticatorSource, 16
        b"\x30",                            # Version: 3.0
        (107093005).to_bytes(4, "big"),     # Timestamp MMDDHHMMSS as an integer
    ))
    pdu = Pdu(Command.CONNECT, 0x2A, Connect(
        "901234", source_authenticator("901234", "s3cret", 107093005), 0x30, 107093005))
    for version in BOTH:  # CONNECT has one layout
        assert encode(pdu, version) == expected
        assert decode(expected, version) == pdu


def _nul(text: str, width: int) -> bytes:
    return text.encode("ascii").ljust(width, b"\0")


def test_submit_frame_byte_for_byte_in_2_0() -> None:
    content = "你好".encode("utf-16-be")
    body = b"".join((
        bytes(8),                       # Msg_Id, 8 (0 from the SP)
        b"\x01\x01",                    # Pk_total, Pk_number
        b"\x01",                        # Registered_Delivery
        b"\x00",                        # Msg_level
        _nul("MYZ0001", 10),            # Service_Id, 10
        b"\x02",                        # Fee_UserType
        _nul("", 21),                   # Fee_terminal_Id, 21
        b"\x00\x00\x08",                # TP_pId, TP_udhi, Msg_Fmt (UCS2)
        b"901234",                      # Msg_src, 6
        b"02", b"000010",               # FeeType 2, FeeCode 6
        _nul("", 17), _nul("", 17),     # ValId_Time, At_Time, 17 each
        _nul("106900011234", 21),       # Src_Id, 21
        b"\x01",                        # DestUsr_tl
        _nul("8613800138000", 21),      # Dest_terminal_Id, 21
        b"\x04", content,               # Msg_Length, Msg_Content
        bytes(8),                       # Reserve, 8
    ))
    expected = (12 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000004") \
        + (7).to_bytes(4, "big") + body
    assert len(body) == 126 + 21 * 1 + 4  # the fixed fields, one destination, the text
    ours = submit(Version.V20, dest_terminal_ids=["8613800138000"], msg_content=content)
    assert encode(Pdu(Command.SUBMIT, 7, ours), Version.V20) == expected
    assert decode(expected, Version.V20) == Pdu(Command.SUBMIT, 7, ours)


def test_submit_frame_byte_for_byte_in_3_0() -> None:
    content = b"Hi"
    body = b"".join((
        bytes(8), b"\x01\x01\x01\x00",  # Msg_Id, Pk_total, Pk_number, Registered_Delivery,
                                        # Msg_level
        _nul("MYZ0001", 10), b"\x02",   # Service_Id, Fee_UserType
        _nul("", 32), b"\x00",          # Fee_terminal_Id 32, Fee_terminal_type
        b"\x00\x00\x00",                # TP_pId, TP_udhi, Msg_Fmt (ASCII)
        b"901234", b"02", b"000010",    # Msg_src, FeeType, FeeCode
        _nul("", 17), _nul("", 17),     # ValId_Time, At_Time
        _nul("106900011234", 21),       # Src_Id
        b"\x02", _nul("8613800138000", 32), _nul("8613900139000", 32),  # DestUsr_tl, ids
        b"\x00",                        # Dest_terminal_type
        b"\x02", content,               # Msg_Length, Msg_Content
        _nul("LINK-42", 20),            # LinkID, 20
    ))
    expected = (12 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000004") \
        + (8).to_bytes(4, "big") + body
    ours = submit(Version.V30, msg_content=content, msg_fmt=MsgFmt.ASCII)
    assert encode(Pdu(Command.SUBMIT, 8, ours), Version.V30) == expected


def test_submit_resp_and_connect_resp_frames_byte_for_byte() -> None:
    msg_id = 0x0123_4567_89AB_CDEF
    assert encode(Pdu(Command.SUBMIT_RESP, 5, MsgIdResp(msg_id, 8)), Version.V20) == \
        bytes.fromhex("00000015 80000004 00000005 0123456789ABCDEF 08")
    assert encode(Pdu(Command.SUBMIT_RESP, 5, MsgIdResp(msg_id, 8)), Version.V30) == \
        bytes.fromhex("00000018 80000004 00000005 0123456789ABCDEF 00000008")
    resp = ConnectResp(4, bytes(16), 0x30)
    assert encode(Pdu(Command.CONNECT_RESP, 1, resp), Version.V30) == bytes.fromhex(
        "00000021 80000001 00000001 00000004") + bytes(16) + b"\x30"


# ---- framing and broken peers ----------------------------------------------------------


def test_framer_cuts_a_stream_at_any_boundary() -> None:
    frames = [encode(p, Version.V30) for p in every_pdu(Version.V30)]
    stream = b"".join(frames)
    for step in (1, 7, 64, len(stream)):
        framer, got = Framer(), []
        for i in range(0, len(stream), step):
            got += framer.feed(stream[i:i + step])
        assert got == frames


def test_framer_refuses_an_impossible_length() -> None:
    with pytest.raises(PduError, match="impossible Total_Length 8"):
        Framer().feed((8).to_bytes(4, "big") + bytes(8))
    with pytest.raises(PduError, match="impossible Total_Length"):
        Framer().feed((MAX_PDU + 1).to_bytes(4, "big"))


def _refused(data: bytes, version: Version, message: str) -> PduError:
    with pytest.raises(PduError, match=message) as caught:
        decode(data, version)
    return caught.value


@pytest.mark.parametrize("version", BOTH)
def test_truncated_pdus_are_refused_with_the_field_named(version: Version) -> None:
    whole = encode(Pdu(Command.SUBMIT, 3, submit(version)), version)
    for cut in (5, 20, 60, len(whole) - 30, len(whole) - 12):
        short = (len(whole) - cut).to_bytes(4, "big") + whole[4:-cut]
        error = _refused(short, version, "malformed CMPP_SUBMIT: .* runs past the end")
        assert error.sequence == 3
    _refused(whole[:10], version, "shorter than its 12-octet header")
    _refused(whole[:-1], version, "Total_Length .* does not match")
    resp = encode(Pdu(Command.CONNECT_RESP, 1, ConnectResp()), version)
    short = (len(resp) - 1).to_bytes(4, "big") + resp[4:-1]
    _refused(short, version, "CMPP_CONNECT_RESP: Version runs past")


def test_a_pdu_decoded_in_the_other_version_is_refused() -> None:
    data = encode(Pdu(Command.SUBMIT, 3, submit(Version.V30)), Version.V30)
    _refused(data, Version.V20, "malformed CMPP_SUBMIT")
    resp = encode(Pdu(Command.SUBMIT_RESP, 3, MsgIdResp(1, 0)), Version.V20)
    _refused(resp, Version.V30, "Result runs past")


def test_counts_and_lengths_out_of_bounds_are_refused() -> None:
    version = Version.V20
    data = bytearray(encode(Pdu(Command.SUBMIT, 3, submit(
        version, dest_terminal_ids=["8613800138000"])), version))
    at = 12 + 116  # DestUsr_tl in 2.0
    for count, message in ((0, "DestUsr_tl 0 is not 1 to 100"),
                           (101, "DestUsr_tl 101 is not 1 to 100")):
        data[at] = count
        _refused(bytes(data), version, message)
    data[at] = 1
    data[at + 22] = 200  # Msg_Length
    _refused(bytes(data), version, "Msg_Length 200 is over 160")
    extra = encode(Pdu(Command.ACTIVE_TEST, 1), version) + b"\0"
    _refused((13).to_bytes(4, "big") + extra[4:], version, "1 octets after the last field")
    unknown = (12).to_bytes(4, "big") + (0x99).to_bytes(4, "big") + (4).to_bytes(4, "big")
    assert _refused(unknown, version, "unknown Command_Id 0x00000099").sequence == 4
    report = deliver(version, registered_delivery=2)
    _refused(encode(Pdu(Command.DELIVER, 1, report), version), version,
             "Registered_Delivery 2 is neither 0 nor 1")


def test_encoding_refuses_what_the_fields_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"Src_Id '1069.*' is longer than its 21 octets"):
        encode(Pdu(Command.SUBMIT, 1, submit(Version.V20, src_id="1069" * 6)), Version.V20)
    with pytest.raises(ValueError, match="1 to 100 destinations, not 0"):
        encode(Pdu(Command.SUBMIT, 1, submit(Version.V20, dest_terminal_ids=[])),
               Version.V20)
    with pytest.raises(ValueError, match="Msg_Content of 161 octets"):
        encode(Pdu(Command.SUBMIT, 1, submit(Version.V30, msg_content=bytes(161))),
               Version.V30)


def test_version_octets_map_to_their_layout() -> None:
    assert layout_of(0x20) is layout_of(0x21) is Version.V20
    assert layout_of(0x30) is Version.V30
    with pytest.raises(PduError, match=r"0x13 is neither 2\.x nor 3\.x"):
        layout_of(0x13)


@given(st.sampled_from(list(Command)), st.binary(max_size=400), st.sampled_from(BOTH))
def test_any_body_behind_a_valid_header_decodes_or_is_refused(
        command: Command, body: bytes, version: Version) -> None:
    data = (12 + len(body)).to_bytes(4, "big") + command.to_bytes(4, "big") + bytes(4) + body
    try:
        pdu = decode(data, version)
    except PduError as exc:
        assert str(exc).startswith(f"malformed {command.title}: ")
    else:
        assert encode(pdu, version) == data or command is Command.SUBMIT \
            or command is Command.DELIVER  # text fields read up to their first NUL


# ---- the hot paths' fixed-place readers and writers, against the plain codec -------------

_TEXT = st.text(alphabet="0123456789", max_size=21)


@pytest.mark.parametrize("version", BOTH)
@given(src_id=_TEXT, dest=st.text(alphabet="0123456789", min_size=1, max_size=21),
       content=st.binary(max_size=140), fmt=st.sampled_from([0, 8, 15]),
       parts=st.tuples(st.integers(1, 9), st.integers(1, 9)), udhi=st.integers(0, 1),
       fee=st.tuples(st.integers(0, 3), st.sampled_from(["01", "02"]),
                     st.sampled_from(["", "000010"])))
def test_the_submit_template_writes_what_the_codec_writes(
        version: Version, src_id: str, dest: str, content: bytes, fmt: int,
        parts: tuple[int, int], udhi: int, fee: tuple[int, str, str]) -> None:
    from yizhan.dispatch.channels.cmpp_pdu import SubmitTemplate, encode_body
    fee_user_type, fee_type, fee_code = fee
    template = SubmitTemplate(version, service_id="MYZ0001", registered_delivery=1,
                              msg_level=2, fee_user_type=fee_user_type,
                              fee_terminal_id="13900139000", fee_type=fee_type,
                              fee_code=fee_code, msg_src="901234")
    total, number = parts
    plain = encode_body(Submit(
        dest_terminal_ids=[dest], msg_content=content, msg_fmt=fmt, src_id=src_id,
        msg_src="901234", service_id="MYZ0001", registered_delivery=1, pk_total=total,
        pk_number=number, tp_udhi=udhi, msg_level=2, fee_user_type=fee_user_type,
        fee_terminal_id="13900139000", fee_type=fee_type, fee_code=fee_code), version)
    assert template.body(src_id, dest, content, fmt, total, number, udhi) == plain


@pytest.mark.parametrize("version", BOTH)
@given(msg_id=st.integers(0, 2**64 - 1), registered=st.integers(0, 1),
       content=st.binary(max_size=100))
def test_peek_report_reads_what_decode_reads(version: Version, msg_id: int, registered: int,
                                             content: bytes) -> None:
    from yizhan.dispatch.channels.cmpp_pdu import peek_report
    raw = encode(Pdu(Command.DELIVER, 7, Deliver(msg_id, "1069001", "13800138000", content,
                                                 8, registered, "MYZ")), version)
    peeked = peek_report(raw, version)
    if registered:
        assert peeked == (msg_id, content)
    else:
        assert peeked is None
    assert peek_report(raw[:-1], version) is None  # bytes that do not add up


@pytest.mark.parametrize("version", BOTH)
@given(src_id=_TEXT, dest=st.text(alphabet="0123456789", min_size=1, max_size=21))
def test_peek_submit_reads_what_decode_reads(version: Version, src_id: str, dest: str) -> None:
    from yizhan.dispatch.channels.cmpp_pdu import peek_submit
    raw = encode(Pdu(Command.SUBMIT, 3, Submit([dest], b"hi", src_id=src_id)), version)
    assert peek_submit(raw, version) == (src_id, dest)
    assert peek_submit(raw[:40], version) is None
