"""Error answers of the native API: `{"request_id", "code", "message"}` with the registry's
HTTP status, in the language the request asks for (Accept-Language) or the default."""

from __future__ import annotations

import logging
import os
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from yizhan.api.services import services_of
from yizhan.domain.errors import Lang, Refusal, lookup


def request_id() -> str:
    """A new random version-4 UUID in Alibaba's upper-case form, as Alibaba's RequestIds
    are: ids tell requests apart in logs and support questions, and say nothing about how
    many requests came before. The random bits come from `os.urandom` in blocks of 256 ids
    (one system call per block keeps this as cheap as `random`; `uuid.uuid4()` costs three
    times as much)."""
    if not _random:
        block = os.urandom(16 * _BLOCK)
        _random.extend(int.from_bytes(block[i:i + 16]) for i in range(0, len(block), 16))
    text = f"{_random.pop() & _UUID4_CLEAR | _UUID4_SET:032X}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_BLOCK = 256
_random: list[int] = []
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


class ErrorBody(BaseModel):
    """Every refusal of the native API."""

    request_id: str = Field(description="The request's id; also the error id in the server "
                            "log for InternalError.")
    code: str = Field(description="A code of docs/errors.md (never translated).")
    message: str = Field(description="What was wrong and what to do (Accept-Language).")


EVERY_ROUTE = ("InvalidParameter", "RequestTooLarge", "HeadersTooLarge", "InternalError")
"""Codes any route can give: a query string that is not UTF-8, the size limits, a bug."""
AUTHENTICATED = ("Unauthorized", "InvalidAccessKeyId.Inactive")


def error_responses(*codes: str, authenticated: bool = True) -> dict[int | str, Any]:
    """The OpenAPI `responses` of a route's refusals: one entry per HTTP status, with the
    error body and the codes (docs/errors.md) the route can answer with that status."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, *(AUTHENTICATED if authenticated else ()), *EVERY_ROUTE):
        listed = by_status.setdefault(lookup(code).http_status, [])
        if code not in listed:
            listed.append(code)
    return {status: {"model": ErrorBody, "description": "Refused: " + ", ".join(
        f"`{code}`" for code in listed) + " (docs/errors.md)."}
        for status, listed in sorted(by_status.items())}


def language(request: Request) -> Lang:
    return language_of(request.headers.get("accept-language", ""),
                       services_of(request).default_language)


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


def refusal_response(request: Request, refusal: Refusal, rid: str | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    response = json_response(refusal_json(refusal, language(request), rid),
                             refusal.error.http_status)
    response.headers.update(headers or {})
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def refusal_json(refusal: Refusal, lang: Lang, rid: str | None = None) -> dict[str, object]:
    """The error body of the native API (`ErrorBody` in the OpenAPI document)."""
    return {"request_id": rid or request_id(), "code": refusal.code,
            "message": refusal.message(lang)}


def log_unexpected(exc: BaseException, rid: str, where: str) -> None:
    """The one log record of an unexpected error: where, the traceback, and the error id,
    which is the request id the answer carries (a support question quotes it). The
    exception is marked so that no outer layer logs it again."""
    log.error("unexpected error in %s; error id %s", where, rid, exc_info=exc,
              extra={"error_id": rid})
    exc.__dict__[LOGGED] = rid


def logged(exc: BaseException) -> bool:
    """Whether `log_unexpected` has logged this exception already."""
    return LOGGED in exc.__dict__


LOGGED = "yizhan_error_id"
log = logging.getLogger("yizhan.api")


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
    if exc.status_code == 405:  # the path exists, the method does not (TRACE, ...)
        return refusal_response(request, Refusal(
            "MethodNotAllowed", f"{request.method} {request.url.path}"),
            headers={"allow": ", ".join(allowed_methods(request))})
    if exc.status_code == 404:
        return refusal_response(request, Refusal(
            "InvalidApi.NotFound", f"{request.method} {request.url.path}"))
    if exc.status_code == 401:
        return refusal_response(request, Refusal("Unauthorized", str(exc.detail)))
    return refusal_response(request, Refusal("InvalidParameter", str(exc.detail)))


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's
    methods; routers FastAPI includes match as a whole, so each method is asked in turn)."""
    return [method for method in METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL
        for route in request.app.router.routes)]


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def on_unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id()
    log_unexpected(exc, rid, f"{request.method} {request.url.path}")
    return refusal_response(request, Refusal(
        "InternalError", f"error id {rid}; the server log has the details"), rid)
