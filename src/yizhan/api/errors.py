"""Error answers of the native API: `{"request_id", "code", "message"}` with the registry's
HTTP status, in the language the request asks for (Accept-Language) or the default."""

from __future__ import annotations

import itertools
import random

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from yizhan.domain.errors import Lang, Refusal

_ids = random.Random()  # seeded from os.urandom


def request_id() -> str:
    """A request id in the shape of an upper-case version-4 UUID. Request ids tell requests
    apart in logs and support questions: they must not repeat, not be unpredictable. The
    first 80 bits are random per process (version and variant bits set), the last 48 count
    requests from a random start: one addition and one format per answer."""
    return f"{_PREFIX}{next(_counter) & 0xFFFFFFFFFFFF:012X}"


def _prefix(bits: int) -> str:
    text = f"{bits & _UUID4_CLEAR | _UUID4_SET:032X}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-"


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_PREFIX = _prefix(_ids.getrandbits(128))
_counter = itertools.count(_ids.getrandbits(48))


def language(request: Request) -> Lang:
    return language_of(request.headers.get("accept-language", ""),
                       request.app.state.default_language)


def language_of(header: str, default: str) -> Lang:
    """The language an Accept-Language header asks for (zh or en), else `default`."""
    if header:
        first = header.split(",")[0].strip().lower()
        if first.startswith("zh"):
            return Lang.ZH
        if first.startswith("en"):
            return Lang.EN
    return Lang(default)


def json_response(body: dict[str, object], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def refusal_response(request: Request, refusal: Refusal) -> Response:
    response = json_response({"request_id": request_id(), "code": refusal.code,
                              "message": refusal.message(language(request))},
                             refusal.error.http_status)
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    if error.get("type") == "missing":
        return refusal_response(request, Refusal("MissingParameter", where))
    return refusal_response(request, Refusal("InvalidParameter",
                                             f"{where}: {error.get('msg', '')}"))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        return refusal_response(request, Refusal(
            "InvalidApi.NotFound", f"{request.method} {request.url.path}"))
    if exc.status_code == 401:
        return refusal_response(request, Refusal("Unauthorized", str(exc.detail)))
    return refusal_response(request, Refusal("InvalidParameter", str(exc.detail)))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    return refusal_response(request, Refusal("InternalError"))
