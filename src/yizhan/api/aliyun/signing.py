"""Request signatures of the Alibaba Cloud API: RPC signature v1 (HMAC-SHA1) and
ACS3-HMAC-SHA256, verified exactly as docs/aliyun.md "Signatures" states.

Pure functions over a decoded request: the endpoint decodes the query and form body, this
module canonicalises, computes the string to sign and the signature, and compares in
constant time. It decides only whether the signature matches; timestamps, nonces and key
state are checked by the caller (`auth.py`), in the order docs/aliyun.md "Check order" gives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from yizhan.domain.errors import Refusal
from yizhan.domain.frozen import per_request

ACS3 = "ACS3-HMAC-SHA256"
V1 = "HMAC-SHA1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ACS3_REQUIRED_HEADERS = ("host", "x-acs-action", "x-acs-version", "x-acs-date",
                         "x-acs-signature-nonce", "x-acs-content-sha256")
_AUTH = re.compile(r"^(\S+)\s+Credential=([^,\s]*),\s*SignedHeaders=([^,\s]*),\s*"
                   r"Signature=([0-9A-Fa-f]*)\s*$")


@per_request
class SignedRequest:
    """What the signature covers: names and values already URL-decoded."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    form: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    """Lower-case header names; a header sent several times joined with ','."""
    body: bytes


@per_request
class Credentials:
    """Who claims to have signed, how, and the values freshness checks need."""

    algorithm: str
    access_key_id: str
    signature: str
    timestamp: str
    nonce: str
    signed_headers: tuple[str, ...] = ()


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


_NUMBER_LIST = re.compile(r"[A-Za-z0-9_.~,+-]*")


def pct(text: str) -> str:
    """RFC 3986 encoding of the UTF-8 bytes: only A-Z a-z 0-9 - _ . ~ stay, hex upper-case."""
    if _UNRESERVED.fullmatch(text):  # most names and values (numbers, codes): nothing to do
        return text
    if _NUMBER_LIST.fullmatch(text):  # PhoneNumbers: up to 1000 numbers, "+" and ","
        return text.replace("+", "%2B").replace(",", "%2C")
    return _encoded(text)


@lru_cache(maxsize=4096)
def _encoded(text: str) -> str:
    """Values that need encoding repeat from request to request (a signature's name, a
    template's parameters): remembered. Each UTF-8 byte as a character, then a table lookup
    per byte: a quarter of `quote`'s cost (TemplateParam differs in every request)."""
    return text.encode().decode("latin-1").translate(_PCT)


_PCT = {i: chr(i) if _UNRESERVED.fullmatch(chr(i)) else f"%{i:02X}" for i in range(256)}
"""Byte -> itself when unreserved, else `%XX` (RFC 3986, upper-case hex)."""


def parameters(request: SignedRequest) -> dict[str, str]:
    """Query and form parameters together; a repeated name: the last one wins."""
    return dict([*request.query, *request.form])


def credentials(request: SignedRequest) -> Credentials | Refusal:
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("ACS3-"):
        return _acs3_credentials(request, authorization)
    params = parameters(request)
    if "Signature" not in params:
        return Refusal("IncompleteSignature", "no Authorization header and no Signature")
    for name in ("AccessKeyId", "Timestamp", "SignatureNonce"):
        if not params.get(name):
            return Refusal("IncompleteSignature", f"{name} is mandatory for this action")
    if params.get("SignatureMethod", V1) != V1:
        return Refusal("InvalidSignatureMethod", params["SignatureMethod"])
    return Credentials(V1, params["AccessKeyId"], params["Signature"], params["Timestamp"],
                       params["SignatureNonce"])


def _acs3_credentials(request: SignedRequest, authorization: str) -> Credentials | Refusal:
    match = _AUTH.match(authorization)
    if match is None:
        return Refusal("IncompleteSignature", "the Authorization header is malformed")
    algorithm, key_id, signed, signature = match.groups()
    if algorithm != ACS3:
        return Refusal("InvalidSignatureMethod", algorithm)
    headers = tuple(signed.split(";")) if signed else ()
    required = ACS3_REQUIRED_HEADERS + (("content-type",) if "content-type" in request.headers
                                        else ())
    missing = [h for h in required if h not in headers]
    if missing:
        return Refusal("IncompleteSignature", f"{missing[0]} must be signed")
    for name in ("x-acs-date", "x-acs-signature-nonce"):
        if not request.headers.get(name):
            return Refusal("IncompleteSignature", f"{name} is mandatory for this action")
    return Credentials(ACS3, key_id, signature, request.headers["x-acs-date"],
                       request.headers["x-acs-signature-nonce"], headers)


def string_to_sign(request: SignedRequest, creds: Credentials) -> str | Refusal:
    if creds.algorithm == V1:
        return v1_string_to_sign(request)
    claimed = request.headers.get("x-acs-content-sha256", "").lower()
    if claimed != hashlib.sha256(request.body).hexdigest():
        return Refusal("SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body")
    return ACS3 + "\n" + hashlib.sha256(
        acs3_canonical_request(request, creds.signed_headers).encode()).hexdigest()


def v1_string_to_sign(request: SignedRequest) -> str:
    params = parameters(request)
    params.pop("Signature", None)
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    return f"{request.method.upper()}&{pct('/')}&{pct(canonical)}"


def acs3_canonical_request(request: SignedRequest, signed_headers: Sequence[str]) -> str:
    query = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(dict(request.query).items()))
    names = sorted(signed_headers)
    headers = "".join(f"{h}:{request.headers.get(h, '').strip()}\n" for h in names)
    return "\n".join([request.method.upper(), request.path or "/", query, headers,
                      ";".join(names), request.headers.get("x-acs-content-sha256", "")])


def signature(algorithm: str, secret: str, text: str) -> str:
    if algorithm == V1:
        digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def matches(creds: Credentials, secret: str, text: str) -> bool:
    expected = signature(creds.algorithm, secret, text)
    given = creds.signature.lower() if creds.algorithm == ACS3 else creds.signature
    return hmac.compare_digest(expected.encode(), given.encode())
