"""The RPC endpoint of the Alibaba-compatible API: `POST /` and `GET /`.

Decodes query and form parameters (docs/aliyun.md "Transport and parameters"), resolves the
action from `Action` or `x-acs-action`, authenticates (`auth.py`), and hands the parameters to the
action (`actions.py`), which talks to the same intake and store as the native API. Answers are
PascalCase JSON for every status: business outcomes are HTTP 200 with a `Code`, protocol
problems keep their registry status (docs/aliyun.md "Answers").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from yizhan.api.aliyun import signing
from yizhan.api.aliyun.actions import (
    ACTIONS,
    READS,
    SENDING,
    ActionContext,
    ActionServices,
    Result,
)
from yizhan.api.aliyun.auth import AliyunAuthenticator, Authenticated, SignatureMismatch
from yizhan.api.errors import language_of, log_unexpected, request_id
from yizhan.api.querystring import NOT_UTF8, NUL
from yizhan.api.throttle import RateLimiter
from yizhan.domain.errors import Lang, Refusal

VERSION = "2017-05-25"
FORM = "application/x-www-form-urlencoded"
JSON_UTF8 = "application/json;charset=utf-8"


@dataclass(frozen=True)
class AliyunServices:
    auth: AliyunAuthenticator
    actions: ActionServices
    limiter: RateLimiter
    default_language: str = "en"


@dataclass(slots=True)  # per request: see `yizhan.api.aliyun.signing`
class Reply:
    """An answer of the endpoint, before any web framework sees it."""

    status: int
    body: bytes
    headers: dict[str, str]


async def rpc(request: Request) -> Response:
    """The endpoint as a Starlette route (the server's `FastPaths` calls `handle_safely`
    itself)."""
    reply = await handle_safely(request.app.state.aliyun, request.scope, await request.body())
    return Response(reply.body, status_code=reply.status, media_type=JSON_UTF8,
                    headers=reply.headers)


async def handle_safely(services: AliyunServices, scope: Scope, body: bytes) -> Reply:
    """`handle`, with an unexpected error logged (traceback and error id) and answered as
    InternalError carrying that id as its RequestId (issue 14 point 6)."""
    rid = request_id()
    try:
        return await handle(services, scope, body, rid)
    except Exception as exc:
        log_unexpected(exc, rid, f"{scope['method']} / (Alibaba-compatible API)")
        return failure(services, scope, rid, Refusal("InternalError"))


async def handle(services: AliyunServices, scope: Scope, body: bytes, rid: str) -> Reply:
    if b"%00" in body:
        return failure(services, scope, rid, NUL)
    try:
        signed = decode(scope, body)
    except UnicodeDecodeError:  # an escape (%E9 alone) that is no UTF-8 character
        return failure(services, scope, rid, NOT_UTF8)
    lang = language_of(signed.headers.get("accept-language", ""), services.default_language)
    host = signed.headers.get("host", "")
    params = signing.parameters(signed)
    action = params.get("Action") or signed.headers.get("x-acs-action", "")
    version = params.get("Version") or signed.headers.get("x-acs-version", "")
    # Sending actions record the nonce in the transaction that accepts the messages.
    deferred = action in SENDING
    auth = await services.auth.authenticate(signed, record_nonce=not deferred,
                                            read=action in READS)
    if isinstance(auth, SignatureMismatch):
        message = (auth.refusal.error.text(Lang.EN) + " server string to sign is:"
                   + auth.string_to_sign.replace("\n", "\\n"))
        return error(rid, host, auth.refusal, message)
    if isinstance(auth, Refusal):
        return error(rid, host, auth, message_of(auth, lang))
    result = await act(services, auth, action, version, params, lang, deferred)
    if (deferred and isinstance(result, Refusal) and result.code != "SignatureNonceUsed"):
        # Refused before acceptance: the nonce is still spent (or this is a replay).
        result = await services.auth.remember(auth) or result
    if isinstance(result, Refusal):
        return error(rid, host, result, message_of(result, lang))
    return answer(rid, {"Code": "OK", "Message": "OK", **result})


async def act(services: AliyunServices, auth: Authenticated, action: str, version: str,
              params: dict[str, str], lang: Lang, deferred: bool) -> Result:
    """Version, action and rate checks, then the action itself."""
    if version != VERSION:
        return Refusal("InvalidVersion", version or "(none)")
    handler = ACTIONS.get(action)
    if handler is None:
        return Refusal("InvalidApi.NotFound", action or "(no Action)")
    throttled = services.limiter.check(auth.account.id)
    if throttled is not None:
        return throttled
    return await handler(ActionContext(auth.account, params, lang, services.actions,
                                       (auth.key.id, auth.nonce) if deferred else None))


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


def message_of(refusal: Refusal, lang: Lang) -> str:
    """Protocol errors keep Alibaba's exact wording; business ones add what was wrong."""
    text = refusal.error.text(lang)
    if "{detail}" in text:
        return text.replace("{detail}", refusal.detail)
    return refusal.message(lang) if refusal.error.business else text


def answer(rid: str, body: dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps({"RequestId": rid, **body}),
                 {"x-acs-request-id": rid, **(headers or {})})


def failure(services: AliyunServices, scope: Scope, rid: str, refusal: Refusal,
            headers: dict[str, str] | None = None) -> Reply:
    """The answer to a request refused before its parameters could be read (an internal
    error, a body over the limit, text that is not UTF-8), in the endpoint's shape."""
    names = {name.lower(): value for name, value in scope["headers"]}
    lang = language_of(names.get(b"accept-language", b"").decode("latin-1"),
                       services.default_language)
    reply = error(rid, names.get(b"host", b"").decode("latin-1"), refusal,
                  refusal.message(lang))
    reply.headers.update(headers or {})
    return reply


def error(rid: str, host: str, refusal: Refusal, message: str) -> Reply:
    status = 200 if refusal.error.business else refusal.error.http_status
    headers = ({"x-acs-retry-after": str(refusal.retry_after)}
               if refusal.retry_after is not None
               else {"x-acs-retry-after": "1"} if refusal.code == "Throttling.User" else None)
    return answer(rid, {"Code": refusal.code, "Message": message, "HostId": host}, status,
                  headers)
