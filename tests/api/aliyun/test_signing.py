"""Signature verification replays the official SDKs' own requests (test vectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yizhan.api.aliyun import signing
from yizhan.domain.errors import Refusal

FIXTURES = Path(__file__).parents[2] / "fixtures" / "aliyun"
VECTORS = json.loads((FIXTURES / "signature_test_vectors.json").read_text())["vectors"]


def request_of(vector: dict[str, Any]) -> signing.SignedRequest:
    headers = {k.lower(): v for k, v in vector["headers"].items()}
    body = vector["body"].encode()
    form = (parse_qsl(vector["body"], keep_blank_values=True)
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            else [])
    return signing.SignedRequest(vector["method"], vector["path"],
                                 parse_qsl(vector["raw_query"], keep_blank_values=True), form,
                                 headers, body)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vectors_verify(vector: dict[str, Any]) -> None:
    request = request_of(vector)
    creds = signing.credentials(request)
    assert isinstance(creds, signing.Credentials)
    assert creds.algorithm == vector["algorithm"]
    assert creds.access_key_id == vector["access_key_id"]
    text = signing.string_to_sign(request, creds)
    assert text == vector["string_to_sign"]
    assert signing.signature(creds.algorithm, vector["access_key_secret"], text) == \
        vector["expected_signature"]
    assert signing.matches(creds, vector["access_key_secret"], text)
    assert not signing.matches(creds, "wrong", text)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_a_tampered_value_does_not_verify(vector: dict[str, Any]) -> None:
    request = request_of(vector)
    query = [(k, v + "x" if k in ("PhoneNumbers", "TemplateCode") else v)
             for k, v in request.query]
    form = [(k, v + "x") for k, v in request.form]
    tampered = signing.SignedRequest(request.method, request.path, query, form,
                                     request.headers, request.body + (b"x" if form else b""))
    creds = signing.credentials(tampered)
    assert isinstance(creds, signing.Credentials)
    text = signing.string_to_sign(tampered, creds)
    if isinstance(text, Refusal):  # ACS3: the body hash no longer matches
        assert text.code == "SignatureDoesNotMatch"
        return
    assert not signing.matches(creds, vector["access_key_secret"], text)


def test_encoding_follows_rfc_3986() -> None:
    assert signing.pct("a b*c~d+e/f:阿") == "a%20b%2Ac~d%2Be%2Ff%3A%E9%98%BF"


def test_missing_and_unsupported_credentials() -> None:
    bare = signing.SignedRequest("POST", "/", [("Action", "SendSms")], [], {}, b"")
    assert isinstance(r := signing.credentials(bare), Refusal)
    assert r.code == "IncompleteSignature"
    sm3 = signing.SignedRequest("POST", "/", [], [], {
        "authorization": "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=00"}, b"")
    assert isinstance(r := signing.credentials(sm3), Refusal)
    assert r.code == "InvalidSignatureMethod"
    unsigned_host = signing.SignedRequest("POST", "/", [], [], {
        "authorization": "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=x-acs-date,Signature=00",
        "x-acs-date": "2026-11-25T00:00:00Z"}, b"")
    assert isinstance(r := signing.credentials(unsigned_host), Refusal)
    assert r.code == "IncompleteSignature" and "host" in r.detail
    v1_sha256 = signing.SignedRequest("POST", "/", [
        ("Signature", "x"), ("AccessKeyId", "a"), ("Timestamp", "t"), ("SignatureNonce", "n"),
        ("SignatureMethod", "HMAC-SHA256")], [], {}, b"")
    assert isinstance(r := signing.credentials(v1_sha256), Refusal)
    assert r.code == "InvalidSignatureMethod"


def test_encoded_values_are_remembered_and_the_memory_stays_bounded() -> None:
    assert signing.pct("驿站") == signing.pct("驿站") == "%E9%A9%BF%E7%AB%99"
    most = signing._encoded.cache_info().maxsize
    assert most is not None
    for n in range(most + 10):
        assert signing.pct(f"{{\"code\":\"{n}\"}}") == f"%7B%22code%22%3A%22{n}%22%7D"
    assert signing._encoded.cache_info().currsize <= most


@settings(max_examples=2000)
@given(st.text(alphabet="09aZ,+-_.~%/ 阿*", max_size=30))
def test_pct_agrees_with_quote(text: str) -> None:
    assert signing.pct(text) == quote(text, safe="-_.~")
