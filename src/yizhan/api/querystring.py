"""Query strings are UTF-8, escaped or not.

curl and browsers' address bars send `?sign_name=驿站` as raw UTF-8 bytes; the ASGI scope
keeps them as bytes and Starlette decodes them as Latin-1, so the route read `é©¿ç«\\x99`
(issue 14 point 11). `FastPaths` (api/app.py) hands every query string through `utf8_query`
first: raw non-ASCII bytes that form valid UTF-8 are percent-escaped (every reader after it
decodes escapes as UTF-8), and text that is not UTF-8 is refused with InvalidParameter.
Escapes are checked too (`%E9` alone is not a character) where the readers would otherwise
put U+FFFD in its place silently: the REST routes here, the RPC endpoint in its own decoding
(api/aliyun/endpoint.py), which reads most query strings of the SDKs' traffic.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from yizhan.domain.errors import Refusal

NUL = Refusal("InvalidParameter", "a parameter holds a NUL character (%00), which no text "
              "of Yizhan may hold")
NOT_UTF8 = Refusal("InvalidParameter", "the query string is not valid UTF-8 (percent-encode "
                   "UTF-8 bytes, e.g. %E9%A9%BF%E7%AB%99 for 驿站)")


def utf8_query(raw: bytes, *, check_escapes: bool) -> bytes | Refusal:
    """`raw` with its non-ASCII bytes percent-escaped, or a refusal if it is not UTF-8 or
    holds a NUL (which PostgreSQL refuses to store or compare: it answered InternalError)."""
    if b"%00" in raw or b"\x00" in raw:
        return NUL
    if raw.isascii():
        if check_escapes and b"%" in raw and not _is_utf8(unquote_to_bytes(raw)):
            return NOT_UTF8
        return raw
    if not _is_utf8(unquote_to_bytes(raw) if check_escapes else raw):
        return NOT_UTF8
    return b"".join(b"%%%02X" % byte if byte >= 0x80 else bytes((byte,)) for byte in raw)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
