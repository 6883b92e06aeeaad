"""The request as the Alibaba signature sees it: headers, query and form pairs read from the raw
ASGI scope, decoded exactly as the official SDKs encode them (docs/aliyun.md "Transport and
parameters")."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote

from starlette.types import Scope

from yizhan.api.aliyun import signing

FORM = "application/x-www-form-urlencoded"


def decode(scope: Scope, body: bytes) -> signing.SignedRequest:
    """The request as the signature sees it, read from the raw ASGI scope: Starlette's URL
    and header objects cost more than the whole signature check."""
    raw = scope["headers"]
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
    if len(headers) < len(raw):  # a header sent several times: its values joined with ","
        headers = {}
        for raw_name, raw_value in raw:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    form: list[tuple[str, str]] = []
    if body and headers.get("content-type", "").startswith(FORM):
        form = form_pairs(body.decode("utf-8"))
    query = form_pairs(scope["query_string"].decode("latin-1"))
    return signing.SignedRequest(scope["method"], scope["path"], query, form, headers, body)


def form_pairs(text: str) -> list[tuple[str, str]]:
    """`application/x-www-form-urlencoded` pairs, as `urllib.parse.parse_qsl(text,
    keep_blank_values=True)` reads them (`+` is a space, `%XX` UTF-8), at a third of its
    cost: most names and values have nothing to decode. Escapes that are not UTF-8 raise
    UnicodeDecodeError where parse_qsl would put U+FFFD (issue 14 point 11)."""
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "+" in part:
            name, value = name.replace("+", " "), value.replace("+", " ")
        if "%" in part:
            name, value = _unquote(name), _unquote(value)
        pairs.append((name, value))
    return pairs


def _unquote(text: str) -> str:
    """`unquote(text, errors="strict")`, at a third of its cost or less: short texts that
    repeat (a signature's name, which the SDKs send escaped as UTF-8) from a cache; the
    escapes of number lists and JSON (`,` `+` `"` `:` `{` `}`) by replacing; other ASCII text
    escape by escape."""
    if "%" not in text:
        return text
    return _decode_short(text) if len(text) <= 256 else _decode(text)


def _decode(text: str) -> str:
    if not text.isascii():  # (unquote reads such text as UTF-8 first)
        return unquote(text, errors="strict")
    # None of these characters is a hex digit or `%`, so replacing them first cannot make
    # or break another escape: the result is what decoding escape by escape gives.
    short = (text.replace("%2C", ",").replace("%2B", "+").replace("%22", '"')
             .replace("%3A", ":").replace("%7B", "{").replace("%7D", "}"))
    if "%" not in short:
        return short
    pieces = short.split("%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        char = _ESCAPES.get(piece[:2])
        if char is None:  # not an escape: kept as it is
            out.append("%")
            out.append(piece)
        else:
            out.append(char)
            out.append(piece[2:])
    decoded = "".join(out)
    if not decoded.isascii():  # the escaped bytes are UTF-8
        decoded = decoded.encode("latin-1").decode("utf-8")
    return decoded


_decode_short = lru_cache(maxsize=4096)(_decode)


_ESCAPES = {a + b: chr(i) for i in range(256)
            for a in {f"{i:02x}"[0], f"{i:02X}"[0]} for b in {f"{i:02x}"[1], f"{i:02X}"[1]}}
"""`%XX` without its `%`, in either case, to the byte it stands for (as a character)."""
