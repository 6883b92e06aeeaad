"""The SGIP 1.2 codec: round trips of every PDU, Bind, Submit, Deliver and Report frames
written out by hand from the spec's field tables, the 12-octet sequence number, framing of a
byte stream, and what a broken peer may send (property tests for round trips and garbage)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yizhan.dispatch.channels.sgip_pdu import (
    MAX_PDU,
    Bind,
    Command,
    Deliver,
    Framer,
    LoginType,
    Pdu,
    PduError,
    Report,
    ReportState,
    Resp,
    Result,
    Sequence,
    Submit,
    decode,
    encode,
    time_of,
)

SEQ = Sequence(3_057_112_345, 1_207_185_300, 42)


def submit(**fields: object) -> Submit:
    base: dict[str, object] = dict(
        user_numbers=["8613000000000", "8613100000001"],
        message_content="验证码 1234".encode("utf-16-be"), message_coding=8,
        sp_number="1065501234", charge_number="000000000000000000000", corp_id="12345",
        service_type="YZ0001", fee_type=1, fee_value="0", given_value="0",
        report_flag=1, morelate_to_mt_flag=2)
    base.update(fields)
    return Submit(**base)  # type: ignore[arg-type]


def every_pdu() -> list[Pdu]:
    return [
        Pdu(Command.BIND, SEQ, Bind(LoginType.SP_TO_SMG, "yizhan", "s3cret")),
        Pdu(Command.BIND, SEQ, Bind(LoginType.SMG_TO_SP, "unicom", "back", "")),
        Pdu(Command.BIND_RESP, SEQ, Resp(Result.OK)),
        Pdu(Command.BIND_RESP, SEQ, Resp(Result.ILLEGAL_LOGIN)),
        Pdu(Command.UNBIND, SEQ), Pdu(Command.UNBIND_RESP, SEQ),
        Pdu(Command.SUBMIT, SEQ, submit()),
        Pdu(Command.SUBMIT, Sequence(1, 2, 3), submit(
            tp_udhi=1, message_content=bytes((5, 0, 3, 9, 2, 2)) + b"\x4e\x2d",
            expire_time="261208185300032+", schedule_time="261207190000032+", priority=9)),
        Pdu(Command.SUBMIT_RESP, SEQ, Resp(Result.NODE_BUSY)),
        Pdu(Command.DELIVER, SEQ, Deliver("8613000000000", "10655012340001", b"TD", 0)),
        Pdu(Command.DELIVER_RESP, SEQ, Resp()),
        Pdu(Command.REPORT, SEQ, Report(Sequence(7, 1_207_185_259, 0xFFFFFFFF),
                                        "8613000000000", ReportState.FAILED, 29)),
        Pdu(Command.REPORT_RESP, SEQ, Resp()),
    ]


def test_every_pdu_round_trips() -> None:
    for pdu in every_pdu():
        data = encode(pdu)
        assert int.from_bytes(data[:4], "big") == len(data)
        assert decode(data) == pdu, pdu.command.title


def test_response_and_fixed_sizes() -> None:
    sizes = {p.command: len(encode(p)) for p in every_pdu()}
    assert sizes[Command.BIND] == 20 + 41
    assert sizes[Command.BIND_RESP] == sizes[Command.SUBMIT_RESP] == 20 + 9
    assert sizes[Command.UNBIND] == sizes[Command.UNBIND_RESP] == 20
    assert sizes[Command.REPORT] == 20 + 44
    assert sizes[Command.DELIVER] == 20 + 57 + 2


def test_titles_and_responses() -> None:
    assert Command.SUBMIT.response is Command.SUBMIT_RESP
    assert Command.SUBMIT_RESP.title == "SGIP Submit_Resp"
    assert not Command.REPORT.is_response and Command.REPORT_RESP.is_response


# ---- the sequence number, which is also the message id -----------------------------------


def test_the_sequence_time_is_china_time_whatever_the_host_zone() -> None:
    assert time_of(datetime(2027, 1, 7, 1, 30, 5, tzinfo=UTC)) == 107093005


def test_a_sequence_reads_back_from_its_text() -> None:
    assert SEQ.text == "3057112345-1207185300-42"
    assert Sequence.parse(SEQ.text) == SEQ
    early = Sequence(1, 107093005, 0)
    assert early.text == "1-0107093005-0" and Sequence.parse(early.text) == early
    for bad in ("1-2", "a-b-c", "1-2-3-4", f"{1 << 32}-0-0", ""):
        with pytest.raises(ValueError):
            Sequence.parse(bad)


@given(st.tuples(*[st.integers(0, (1 << 32) - 1)] * 3))
def test_any_sequence_survives_its_text_and_the_wire(parts: tuple[int, int, int]) -> None:
    sequence = Sequence(*parts)
    assert Sequence.parse(sequence.text) == sequence
    pdu = Pdu(Command.REPORT, sequence, Report(sequence, "8613000000000"))
    assert decode(encode(pdu)) == pdu


# ---- frames written out by hand from the field tables ----------------------------------


def _nul(text: str, width: int) -> bytes:
    return text.encode("ascii").ljust(width, b"\0")


def _header(length: int, command: str) -> bytes:
    return (length.to_bytes(4, "big") + bytes.fromhex(command)
            + bytes.fromhex("B637 D519 47F4 2F94 0000 002A".replace(" ", "")))


def test_bind_frame_byte_for_byte() -> None:
    expected = _header(61, "00000001") + b"".join((
        b"\x01",                    # Login Type: SP -> SMG
        _nul("yizhan", 16),         # Login Name, 16
        _nul("s3cret", 16),         # Login Password, 16
        bytes(8),                   # Reserve, 8
    ))
    assert SEQ == Sequence(0xB637D519, 0x47F42F94, 42)  # node, 1207185300, 42
    pdu = Pdu(Command.BIND, SEQ, Bind(1, "yizhan", "s3cret"))
    assert encode(pdu) == expected
    assert decode(expected) == pdu


def test_submit_frame_byte_for_byte() -> None:
    content = "你好".encode("utf-16-be")
    body = b"".join((
        _nul("1065501234", 21),     # SPNumber, 21
        _nul("", 21),               # ChargeNumber, 21 (the user pays)
        b"\x01",                    # UserCount
        _nul("8613000000000", 21),  # UserNumber, 21 each
        _nul("12345", 5),           # CorpId, 5
        _nul("YZ0001", 10),         # ServiceType, 10
        b"\x01",                    # FeeType
        _nul("0", 6), _nul("0", 6),  # FeeValue, GivenValue, 6 each
        b"\x00\x02\x00",            # AgentFlag, MorelatetoMTFlag, Priority
        _nul("", 16), _nul("", 16),  # ExpireTime, ScheduleTime, 16 each
        b"\x01\x00\x00\x08\x00",    # ReportFlag, TP_pid, TP_udhi, MessageCoding, MessageType
        (4).to_bytes(4, "big"),     # MessageLength, 4 octets
        content,                    # MessageContent
        bytes(8),                   # Reserve
    ))
    assert len(body) == 123 + 21 + 4  # the fixed fields, one number, the text
    expected = _header(20 + len(body), "00000003") + body
    ours = submit(user_numbers=["8613000000000"], message_content=content, charge_number="")
    assert encode(Pdu(Command.SUBMIT, SEQ, ours)) == expected
    assert decode(expected) == Pdu(Command.SUBMIT, SEQ, ours)


def test_deliver_and_report_frames_byte_for_byte() -> None:
    deliver = _header(20 + 57 + 1, "00000004") + b"".join((
        _nul("8613000000000", 21), _nul("10655012340001", 21),  # UserNumber, SPNumber
        b"\x00\x00\x00",            # TP_pid, TP_udhi, MessageCoding (ASCII)
        (1).to_bytes(4, "big"), b"R", bytes(8)))
    assert decode(deliver) == Pdu(Command.DELIVER, SEQ, Deliver(
        "8613000000000", "10655012340001", b"R", 0))
    report = _header(64, "00000005") + b"".join((
        bytes.fromhex("00000007 47F42F6B 00000001"),  # SubmitSequenceNumber, 12
        b"\x00",                    # ReportType: of a Submit
        _nul("8613000000000", 21),  # UserNumber
        b"\x02\x19",                # State: failed, ErrorCode 25
        bytes(8)))
    assert decode(report) == Pdu(Command.REPORT, SEQ, Report(
        Sequence(7, 1_207_185_259, 1), "8613000000000", ReportState.FAILED, 25))
    assert encode(decode(report)) == report
    assert encode(Pdu(Command.REPORT_RESP, SEQ, Resp(0))) == \
        _header(29, "80000005") + bytes(9)


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
    with pytest.raises(PduError, match="impossible Message Length 19"):
        Framer().feed((19).to_bytes(4, "big") + bytes(15))
    with pytest.raises(PduError, match="impossible Message Length"):
        Framer().feed((MAX_PDU + 1).to_bytes(4, "big"))


def _refused(data: bytes, message: str) -> PduError:
    with pytest.raises(PduError, match=message) as caught:
        decode(data)
    return caught.value


def test_truncated_pdus_are_refused_with_the_field_named() -> None:
    whole = encode(Pdu(Command.SUBMIT, SEQ, submit()))
    for cut in (5, 20, 60, len(whole) - 40, len(whole) - 21):
        short = (len(whole) - cut).to_bytes(4, "big") + whole[4:-cut]
        error = _refused(short, "malformed SGIP Submit: .* runs past the end")
        assert error.sequence == SEQ
    assert _refused(whole[:19], "shorter than its 20-octet header").sequence is None
    _refused(whole[:-1], "Message Length .* does not match")
    resp = encode(Pdu(Command.BIND_RESP, SEQ, Resp()))
    _refused((len(resp) - 1).to_bytes(4, "big") + resp[4:-1],
             "SGIP Bind_Resp: Reserve runs past")


def test_counts_lengths_and_flags_out_of_bounds_are_refused() -> None:
    data = bytearray(encode(Pdu(Command.SUBMIT, SEQ, submit(user_numbers=["8613000000000"]))))
    at = 20 + 42  # UserCount
    for count, message in ((0, "UserCount 0 is not 1 to 100"),
                           (101, "UserCount 101 is not 1 to 100")):
        data[at] = count
        _refused(bytes(data), message)
    data[at] = 1
    length_at = at + 1 + 21 + 5 + 10 + 1 + 6 + 6 + 3 + 32 + 5
    data[length_at:length_at + 4] = (161).to_bytes(4, "big")
    _refused(bytes(data), "MessageLength 161 is over 160")
    data[length_at - 3] = 2  # TP_udhi
    _refused(bytes(data), "TP_udhi 2 is over 1")
    report = bytearray(encode(every_pdu()[-2]))
    report[20 + 12 + 1 + 21] = 3
    _refused(bytes(report), "State 3 is over 2")
    unbind = encode(Pdu(Command.UNBIND, SEQ)) + b"\0"
    _refused((21).to_bytes(4, "big") + unbind[4:], "1 octets after the last field")
    unknown = (20).to_bytes(4, "big") + (0x1000).to_bytes(4, "big") + bytes(12)
    assert _refused(unknown, "unknown Command ID 0x00001000").sequence == Sequence(0, 0, 0)


def test_encoding_refuses_what_the_fields_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"SPNumber '1065.*' is longer than its 21 octets"):
        encode(Pdu(Command.SUBMIT, SEQ, submit(sp_number="1065" * 6)))
    with pytest.raises(ValueError, match="1 to 100 user numbers, not 0"):
        encode(Pdu(Command.SUBMIT, SEQ, submit(user_numbers=[])))
    with pytest.raises(ValueError, match="MessageContent of 161 octets"):
        encode(Pdu(Command.DELIVER, SEQ, Deliver(message_content=bytes(161))))
    with pytest.raises(ValueError, match=r"Login Password .* longer than its 16 octets"):
        encode(Pdu(Command.BIND, SEQ, Bind(1, "a", "p" * 17)))


def test_a_submit_to_a_hundred_numbers_fits_a_frame() -> None:
    numbers = [f"86130{n:08d}" for n in range(100)]
    data = encode(Pdu(Command.SUBMIT, SEQ, submit(user_numbers=numbers,
                                                  message_content=bytes(140))))
    assert len(data) <= MAX_PDU
    assert Framer().feed(data) == [data]
    assert decode(data).body == submit(user_numbers=numbers, message_content=bytes(140))


# ---- properties ------------------------------------------------------------------------

_field = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=21)


@st.composite
def _submits(draw: st.DrawFn) -> Submit:
    def text(width: int) -> str:
        return draw(st.text(st.characters(min_codepoint=1, max_codepoint=255),
                            max_size=width))
    return Submit(
        user_numbers=draw(st.lists(_field, min_size=1, max_size=100)),
        message_content=draw(st.binary(max_size=160)), message_coding=draw(st.integers(0, 255)),
        sp_number=text(21), charge_number=text(21), corp_id=text(5), service_type=text(10),
        fee_type=draw(st.integers(0, 255)), fee_value=text(6), given_value=text(6),
        agent_flag=draw(st.integers(0, 1)), morelate_to_mt_flag=draw(st.integers(0, 3)),
        priority=draw(st.integers(0, 9)), expire_time=text(16), schedule_time=text(16),
        report_flag=draw(st.integers(0, 3)), tp_pid=draw(st.integers(0, 255)),
        tp_udhi=draw(st.integers(0, 1)), message_type=draw(st.integers(0, 255)),
        reserve=text(8))


@given(_submits(), st.tuples(*[st.integers(0, (1 << 32) - 1)] * 3))
def test_any_submit_round_trips(body: Submit, parts: tuple[int, int, int]) -> None:
    pdu = Pdu(Command.SUBMIT, Sequence(*parts), body)
    assert decode(encode(pdu)) == pdu


@given(_field, _field, st.binary(max_size=160), st.integers(0, 255), st.integers(0, 1))
def test_any_deliver_round_trips(user: str, sp: str, content: bytes, coding: int,
                                 udhi: int) -> None:
    pdu = Pdu(Command.DELIVER, SEQ, Deliver(user, sp, content, coding, tp_udhi=udhi))
    assert decode(encode(pdu)) == pdu


@given(st.sampled_from(list(Command)), st.binary(max_size=400))
def test_any_body_behind_a_valid_header_decodes_or_is_refused(command: Command,
                                                              body: bytes) -> None:
    data = (20 + len(body)).to_bytes(4, "big") + command.to_bytes(4, "big") + bytes(12) + body
    try:
        pdu = decode(data)
    except PduError as exc:
        assert str(exc).startswith(f"malformed {command.title}: ")
        assert exc.sequence == Sequence(0, 0, 0)
    else:  # text fields read up to their first NUL: only what follows one may differ
        again = encode(pdu)
        assert len(again) == len(data) and decode(again) == pdu


@given(st.binary(max_size=600))
def test_garbage_is_framed_or_refused_never_anything_else(data: bytes) -> None:
    try:
        frames = Framer().feed(data)
    except PduError:
        return
    for frame in frames:
        try:
            decode(frame)
        except PduError:
            pass
