"""The CMPP codec against the two implementations on PyPI: cmppy 0.3 (a CMPP 3.0 client)
and pycmpp 2.0.2 (a CMPP 2.0 client, version octet 0x21). What each one writes decodes with
ours, field for field and often byte for byte; what ours writes decodes with theirs. Neither
has a CMPP_DELIVER, so deliveries and reports are checked against the specs' tables only
(tests/dispatch/test_cmpp_pdu.py). docs/channels.md "CMPP" says what they showed."""

from __future__ import annotations

import pytest
from cmppy.request import ConnectReq, SubmitReq, TerminateReq  # type: ignore[import-untyped]
from cmppy.response import parse_response  # type: ignore[import-untyped]
from pycmpp.request import (  # type: ignore[import-untyped]
    ActiveTestRequestInstance,
    ConnectRequestInstance,
    SubmitRequestInstance,
    TerminateRequestInstance,
)
from pycmpp.response import (  # type: ignore[import-untyped]
    ActiveTestResponseInstance,
    ConnectResponseInstance,
    SubmitResponseInstance,
)

from yizhan.dispatch.channels.cmpp_pdu import (
    Command,
    Connect,
    ConnectResp,
    MsgIdResp,
    Pdu,
    PduError,
    Submit,
    Version,
    decode,
    encode,
    layout_of,
)
from yizhan.dispatch.channels.cmpp_text import (
    MsgFmt,
    MsgId,
    check_source,
    contents,
    decode_text,
    ismg_authenticator,
    reassemble,
)

SOURCE, SECRET = "901234", "s3cret"
TEXT = "【驿站】您的验证码是1234"
MSG_ID = MsgId(12, 7, 18, 53, 0, 0x2ABCD, 42).pack()


def _ours(version: Version, **fields: object) -> Submit:
    base: dict[str, object] = dict(
        dest_terminal_ids=["8613800138000"], msg_content=TEXT.encode("utf-16-be"),
        msg_fmt=MsgFmt.UCS2, src_id="106900011234", msg_src=SOURCE, service_id="MYZ0001",
        registered_delivery=1, fee_user_type=2, fee_type="02", fee_code="000010")
    base.update(fields)
    return Submit(**base)  # type: ignore[arg-type]


def _sequence(frame: bytes) -> int:
    return int.from_bytes(frame[8:12], "big")


# ---- cmppy 0.3 (CMPP 3.0) ------------------------------------------------------------------


def test_cmppy_connect_decodes_and_its_authenticator_checks() -> None:
    frame = ConnectReq(SOURCE, SECRET).message
    pdu = decode(frame, Version.V30)
    body = pdu.body
    assert isinstance(body, Connect) and pdu.command is Command.CONNECT
    assert (body.source_addr, body.version) == (SOURCE, 0x30)
    assert check_source(body.authenticator, SOURCE, SECRET, body.timestamp)
    assert not check_source(body.authenticator, SOURCE, "other", body.timestamp)


def test_cmppy_submit_is_byte_for_byte_ours() -> None:
    frame = SubmitReq(SOURCE, TEXT, src_id="106900011234", dest_terminal_id=["8613800138000"],
                      registered_delivery=1, service_id="MYZ0001", fee_usertype=2,
                      feetype="02", feecode="000010", linkid="LINK-42").message
    ours = _ours(Version.V30, link_id="LINK-42")
    assert decode(frame, Version.V30) == Pdu(Command.SUBMIT, _sequence(frame), ours)
    assert encode(Pdu(Command.SUBMIT, _sequence(frame), ours), Version.V30) == frame


def test_cmppy_reads_our_3_0_responses() -> None:
    source = bytes(range(16))
    auth = ismg_authenticator(0, source, SECRET, Version.V30)
    res = parse_response(encode(Pdu(Command.CONNECT_RESP, 5, ConnectResp(0, auth, 0x30)),
                                Version.V30))
    assert (res.sequence, res.status, res.authenticator_ISMG, res.version) == (5, 0, auth, 0x30)
    res = parse_response(encode(Pdu(Command.SUBMIT_RESP, 6, MsgIdResp(MSG_ID, 8)),
                                Version.V30))
    assert (res.sequence, res.msg_id, res.result) == (6, MSG_ID, 8)
    res = parse_response(encode(Pdu(Command.TERMINATE_RESP, 7), Version.V30))
    assert (res.command_id, res.sequence, res.length) == (0x80000002, 7, 12)
    frame = TerminateReq().message
    assert decode(frame, Version.V30) == Pdu(Command.TERMINATE, _sequence(frame))


# ---- pycmpp 2.0.2 (CMPP 2.0, Version 0x21) -------------------------------------------------


def test_pycmpp_connect_decodes_as_2_0_and_its_authenticator_checks() -> None:
    frame = ConnectRequestInstance().create(SOURCE, SECRET)
    pdu = decode(frame, Version.V20)
    body = pdu.body
    assert isinstance(body, Connect)
    assert body.version == 0x21 and layout_of(body.version) is Version.V20
    assert check_source(body.authenticator, SOURCE, SECRET, body.timestamp)


def test_pycmpp_submit_is_byte_for_byte_ours() -> None:
    frame = SubmitRequestInstance().create(
        SOURCE, TEXT, ["8613800138000"], src_id="106900011234", registered_delivery=1,
        service_id="MYZ0001", fee_usertype=2, feetype="02", feecode="000010")
    ours = _ours(Version.V20)
    assert decode(frame, Version.V20) == Pdu(Command.SUBMIT, _sequence(frame), ours)
    assert encode(Pdu(Command.SUBMIT, _sequence(frame), ours), Version.V20) == frame


def test_pycmpp_long_message_parts_equal_ours() -> None:
    text = "您的验证码是一二三四，五分钟内有效。" * 5  # 90 characters: 2 parts
    parts = contents(text, MsgFmt.UCS2, reference=0x33)
    assert len(parts) == 2
    for n, part in enumerate(parts, 1):
        udh, body_text = part[:6], decode_text(part[6:], MsgFmt.UCS2)
        frame = SubmitRequestInstance().create(
            SOURCE, body_text, ["8613800138000"], msg_head=udh, src_id="106900011234",
            pk_total=2, pk_number=n, tp_udhi=1, fee_usertype=2, feetype="01",
            feecode="000000")
        pdu = decode(frame, Version.V20)
        assert isinstance(pdu.body, Submit)
        assert (pdu.body.msg_content, pdu.body.tp_udhi, pdu.body.pk_number) == (part, 1, n)
    assert reassemble(parts, MsgFmt.UCS2) == text


def test_pycmpp_reads_our_2_0_pdus() -> None:
    ours = _ours(Version.V20, dest_terminal_ids=["8613800138000"])
    read = SubmitRequestInstance().resolve(encode(Pdu(Command.SUBMIT, 9, ours), Version.V20))
    assert (read["seq_id"], read["msg_src"], read["msg_content"], read["msg_fmt"]) == \
        (9, SOURCE, TEXT, 8)
    assert read["src_id"].rstrip("\0") == "106900011234"
    assert read["dest_terminal_id"].rstrip("\0") == "8613800138000"
    source = bytes(range(16))
    auth = ismg_authenticator(0, source, SECRET, Version.V20)
    res = ConnectResponseInstance()
    res.resolve(encode(Pdu(Command.CONNECT_RESP, 1, ConnectResp(0, auth, 0x20)), Version.V20))
    assert (res.seq_id, res.status, res.authenticator_ISMG, res.version) == (1, 0, auth, 0x20)
    res = SubmitResponseInstance()
    res.resolve(encode(Pdu(Command.SUBMIT_RESP, 9, MsgIdResp(MSG_ID, 0)), Version.V20))
    assert (res.seq_id, res.msg_id, res.status) == (9, MSG_ID, 0)


def test_pycmpp_heartbeat_and_terminate_decode() -> None:
    for kind, command in ((ActiveTestRequestInstance, Command.ACTIVE_TEST),
                          (TerminateRequestInstance, Command.TERMINATE)):
        frame = kind().create()
        assert decode(frame, Version.V20) == Pdu(command, _sequence(frame))


def test_pycmpp_active_test_resp_is_refused_for_its_length() -> None:
    # pycmpp writes the Reserved octet as the 4 characters "0x00" behind a Total_Length of
    # 13: the frame is 16 octets, and a stream would lose its framing after it.
    frame = ActiveTestResponseInstance().create(4)
    assert len(frame) == 16
    with pytest.raises(PduError, match="Total_Length 13 does not match the 16 octets"):
        decode(frame, Version.V20)
