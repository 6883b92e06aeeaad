"""The SMPP 3.4 codec: round trips, the bytes `smpp.pdu3` (an independent implementation)
writes and reads, framing of a byte stream, and PDUs a broken peer may send."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smpp.pdu import operations as op  # type: ignore[import-untyped]
from smpp.pdu import pdu_encoding
from smpp.pdu import pdu_types as t

from yizhan.dispatch.channels.smpp_pdu import (
    ESM_RECEIPT,
    ESM_UDHI,
    Bind,
    BindResp,
    Command,
    Framer,
    MessageIdResp,
    Pdu,
    PduError,
    ShortMessage,
    Status,
    SubmitTemplate,
    Tag,
    decode,
    decode_short_message,
    encode,
    encode_body,
    peek_addresses,
    peek_receipt,
    peek_short_message,
    peek_source,
    peek_text,
    read_tlv_cstr,
    status_name,
    text_of,
    tlv_cstr,
    tlv_int,
)
from yizhan.domain import segments

ORACLE = pdu_encoding.PDUEncoder()


def submit(**fields: object) -> ShortMessage:
    base: dict[str, object] = dict(
        source_addr="1069001", destination_addr="8613800138000",
        short_message="验证码 1234".encode("utf-16-be"), source_addr_ton=0, source_addr_npi=1,
        dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1, data_coding=8)
    base.update(fields)
    return ShortMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("pdu", [
    Pdu(Command.BIND_TRANSCEIVER, 1, 0, Bind("yizhan", "secret", "SMS", 0x34, 1, 1, "")),
    Pdu(Command.BIND_TRANSMITTER_RESP, 2, 0, BindResp("smsc", {Tag.SC_INTERFACE_VERSION: b"4"})),
    Pdu(Command.SUBMIT_SM, 3, 0, submit(tlvs={0x1401: b"\xff\x80vendor"})),
    Pdu(Command.SUBMIT_SM_RESP, 4, 0, MessageIdResp("0A1B2C")),
    Pdu(Command.DELIVER_SM, 5, 0, submit(esm_class=ESM_RECEIPT)),
    Pdu(Command.DELIVER_SM_RESP, 6, 0, MessageIdResp("")),
    Pdu(Command.ENQUIRE_LINK, 7), Pdu(Command.ENQUIRE_LINK_RESP, 7),
    Pdu(Command.UNBIND, 8), Pdu(Command.UNBIND_RESP, 8),
    Pdu(Command.GENERIC_NACK, 9, Status.RINVCMDID),
])
def test_every_pdu_round_trips(pdu: Pdu) -> None:
    data = encode(pdu)
    assert int.from_bytes(data[:4], "big") == len(data)
    assert decode(data) == pdu


def test_submit_sm_bytes_equal_smpp_pdu3() -> None:
    ours = encode(Pdu(Command.SUBMIT_SM, 7, 0, submit()))
    theirs = ORACLE.encode(op.SubmitSM(
        seqNum=7, service_type="", source_addr_ton=t.AddrTon.UNKNOWN,
        source_addr_npi=t.AddrNpi.ISDN, source_addr="1069001",
        dest_addr_ton=t.AddrTon.INTERNATIONAL, dest_addr_npi=t.AddrNpi.ISDN,
        destination_addr="8613800138000",
        esm_class=t.EsmClass(t.EsmClassMode.DEFAULT, t.EsmClassType.DEFAULT), protocol_id=0,
        priority_flag=t.PriorityFlag.LEVEL_0,
        registered_delivery=t.RegisteredDelivery(
            t.RegisteredDeliveryReceipt.SMSC_DELIVERY_RECEIPT_REQUESTED),
        replace_if_present_flag=t.ReplaceIfPresentFlag.DO_NOT_REPLACE,
        data_coding=t.DataCoding(t.DataCodingScheme.DEFAULT, t.DataCodingDefault.UCS2),
        sm_default_msg_id=0, short_message="验证码 1234".encode("utf-16-be")))
    assert ours == theirs


def test_bind_transceiver_bytes_equal_smpp_pdu3() -> None:
    ours = encode(Pdu(Command.BIND_TRANSCEIVER, 1, 0, Bind("yizhan", "pw", "", 0x34, 0, 0)))
    theirs = ORACLE.encode(op.BindTransceiver(
        seqNum=1, system_id="yizhan", password="pw", system_type="", interface_version=0x34,
        addr_ton=t.AddrTon.UNKNOWN, addr_npi=t.AddrNpi.UNKNOWN, address_range=""))
    assert ours == theirs


def test_a_receipt_written_by_smpp_pdu3_decodes_with_its_tlvs() -> None:
    text = b"id:0A1B2C sub:001 dlvrd:001 submit date:2611251200 done date:2611251201 " \
           b"stat:DELIVRD err:000 text:"
    theirs = ORACLE.encode(op.DeliverSM(
        seqNum=42, source_addr="8613800138000", destination_addr="1069001",
        esm_class=t.EsmClass(t.EsmClassMode.DEFAULT, t.EsmClassType.SMSC_DELIVERY_RECEIPT),
        short_message=text, receipted_message_id="0A1B2C",
        message_state=t.MessageState.DELIVERED))
    pdu = decode(theirs)
    assert (pdu.command, pdu.sequence) == (Command.DELIVER_SM, 42)
    body = pdu.body
    assert isinstance(body, ShortMessage)
    assert body.esm_class == ESM_RECEIPT and body.short_message == text
    assert read_tlv_cstr(body.tlvs[Tag.RECEIPTED_MESSAGE_ID]) == "0A1B2C"
    assert body.tlvs[Tag.MESSAGE_STATE] == tlv_int(2, 1)
    # and our deliver_sm_resp reads back in the oracle
    answer = ORACLE.decode(io.BytesIO(encode(Pdu(Command.DELIVER_SM_RESP, 42, 0,
                                                 MessageIdResp("")))))
    assert answer.seqNum == 42 and str(answer.status) == "CommandStatus.ESME_ROK"


def test_an_error_response_without_body_decodes() -> None:
    data = encode(Pdu(Command.SUBMIT_SM_RESP, 3, Status.RTHROTTLED))
    assert len(data) == 16
    pdu = decode(data)
    assert pdu.status == Status.RTHROTTLED and pdu.body == MessageIdResp("")


def test_unknown_command_and_truncated_body_are_pdu_errors() -> None:
    unknown = (16).to_bytes(4, "big") + (0x1234).to_bytes(4, "big") + bytes(4) + \
        (9).to_bytes(4, "big")
    with pytest.raises(PduError) as caught:
        decode(unknown)
    assert caught.value.sequence == 9 and caught.value.status == Status.RINVCMDID
    whole = encode(Pdu(Command.SUBMIT_SM, 3, 0, submit()))
    cut = (len(whole) - 3).to_bytes(4, "big") + whole[4:-3]
    with pytest.raises(PduError):
        decode(cut)


def test_vendor_status_codes_are_named_by_value() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x401) == "ESME_0x00000401"


@given(st.lists(st.integers(1, 40), min_size=1, max_size=10), st.integers(1, 50))
def test_the_framer_cuts_any_chunking_of_a_stream(lengths: list[int], chunk: int) -> None:
    pdus = [Pdu(Command.SUBMIT_SM_RESP, n, 0, MessageIdResp("x" * n)) for n in lengths]
    stream = b"".join(encode(p) for p in pdus)
    framer = Framer()
    frames: list[bytes] = []
    for i in range(0, len(stream), chunk):
        frames += framer.feed(stream[i:i + chunk])
    assert [decode(f) for f in frames] == pdus


def test_an_impossible_length_cannot_be_framed() -> None:
    with pytest.raises(PduError):
        Framer().feed((3).to_bytes(4, "big") + bytes(12))


def test_tlv_helpers() -> None:
    assert tlv_cstr("ab") == b"ab\0" and read_tlv_cstr(b"ab\0") == "ab"
    assert tlv_int(0x1234, 2) == b"\x12\x34"


_addresses = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=20)
_octet = st.integers(0, 255)


@given(service_type=_addresses, source_ton=_octet, source_npi=_octet, dest_ton=_octet,
       dest_npi=_octet, registered=_octet, source=_addresses, dest=_addresses,
       octets=st.binary(max_size=254), coding=_octet, esm=_octet,
       tlvs=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=20), max_size=3))
def test_a_template_writes_the_bytes_of_the_equivalent_short_message(
        service_type: str, source_ton: int, source_npi: int, dest_ton: int, dest_npi: int,
        registered: int, source: str, dest: str, octets: bytes, coding: int, esm: int,
        tlvs: dict[int, bytes]) -> None:
    template = SubmitTemplate(service_type=service_type, source_ton=source_ton,
                              source_npi=source_npi, dest_ton=dest_ton, dest_npi=dest_npi,
                              registered_delivery=registered)
    body = template.body(source, dest, octets, coding, esm, tlvs)
    expected = ShortMessage(source, dest, octets, service_type, source_ton, source_npi,
                            dest_ton, dest_npi, esm_class=esm, registered_delivery=registered,
                            data_coding=coding, tlvs=tlvs)
    assert body == encode_body(expected)
    assert decode_short_message(body) == expected
    assert peek_short_message(body) == (esm, octets, tlvs)
    assert peek_addresses(body) == (source, dest) and peek_source(body) == source
    assert peek_receipt(body) == (esm, octets, tlvs.get(Tag.RECEIPTED_MESSAGE_ID),
                                  tlvs.get(Tag.MESSAGE_STATE))


def test_a_receipt_body_is_peeked_without_decoding_the_rest() -> None:
    body = encode_body(submit(esm_class=ESM_RECEIPT, short_message=b"id:1 stat:DELIVRD err:0",
                              tlvs={Tag.RECEIPTED_MESSAGE_ID: tlv_cstr("1")}))
    assert peek_short_message(body) == (ESM_RECEIPT, b"id:1 stat:DELIVRD err:0",
                                        {Tag.RECEIPTED_MESSAGE_ID: b"1\0"})
    assert peek_receipt(body) == (ESM_RECEIPT, b"id:1 stat:DELIVRD err:0", b"1\0", None)
    for broken in (body[:20], body[:-3], body[:-5], b"no terminators"):
        with pytest.raises(PduError):
            peek_short_message(broken)
        with pytest.raises(PduError):
            peek_receipt(broken)


def test_addresses_are_peeked_and_a_body_without_terminators_is_a_pdu_error() -> None:
    body = encode_body(submit(source_addr="1069001", destination_addr="8613800138000"))
    assert peek_addresses(body) == ("1069001", "8613800138000")
    assert peek_source(body) == "1069001"
    for broken in (body[:5], body[:body.index(b"8613")], b"no terminators"):
        with pytest.raises(PduError):
            peek_addresses(broken)
    with pytest.raises(PduError):
        peek_source(body[:body.index(b"1069") + 2])


def test_a_message_id_response_is_read_without_the_general_decoder() -> None:
    resp = encode(Pdu(Command.SUBMIT_SM_RESP, 4, 0, MessageIdResp("0A1B2C")))
    assert decode(resp) == Pdu(Command.SUBMIT_SM_RESP, 4, 0, MessageIdResp("0A1B2C"))
    with pytest.raises(PduError):
        decode(resp[:-1].replace(resp[:4], (len(resp) - 1).to_bytes(4, "big"), 1))


@given(text=st.text(max_size=60), coding=st.sampled_from([0, 8]), udh=st.booleans(),
       payload=st.booleans(), source=_addresses, dest=_addresses)
def test_peeking_at_the_text_reads_what_decoding_the_whole_message_does(
        text: str, coding: int, udh: bool, payload: bool, source: str, dest: str) -> None:
    """`peek_text` (the simulated carrier's signature check on every submit) against the
    plain version: decode the whole body, then `text_of`."""
    enc = segments.Encoding.UCS2 if coding == 8 else segments.Encoding.GSM7
    try:
        octets = segments.encode(text, enc)
    except (UnicodeEncodeError, ValueError, KeyError):
        return  # a text the encoding cannot carry
    if udh:
        octets = segments.udh(7, 2, 1) + octets
    sm = ShortMessage(source, dest, b"" if payload else octets, data_coding=coding,
                      esm_class=ESM_UDHI if udh else 0,
                      tlvs={Tag.MESSAGE_PAYLOAD: octets} if payload else {})
    body = encode_body(sm)
    assert peek_text(body) == text_of(decode_short_message(body))
