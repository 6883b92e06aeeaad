"""The RPC endpoint of the Alibaba-compatible API: `POST /` and `GET /`.

Decodes query and form parameters (docs/aliyun.md "Transport and parameters"), resolves the
action from `Action` or `x-acs-action`, authenticates (`auth.py`), and hands the parameters to the
action (`actions.py`), which talks to the same intake and store as the native API. Answers are
PascalCase JSON for every status: business outcomes are HTTP 200 with a `Code`, protocol
problems keep their registry status (docs/aliyun.md "Answers").
"""

from __future__ import annotations

from typing import Any

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
    Result,
)
from yizhan.api.aliyun.auth import Authenticated, SignatureMismatch
from yizhan.api.aliyun.formdecode import decode
from yizhan.api.call_log import Seen
from yizhan.api.errors import language_of, log_unexpected, request_id
from yizhan.api.querystring import NOT_UTF8, NUL
from yizhan.api.services import ApiServices, services_of
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.frozen import per_request

VERSION = "2017-05-25"
JSON_UTF8 = "application/json;charset=utf-8"


@per_request
class Reply:
    """An answer of the endpoint, before any web framework sees it."""

    status: int
    body: bytes
    headers: dict[str, str]
    code: str = ""
    """The answer's `Code` (the call log keeps it)."""
    biz_id: str | None = None
    """The BizId of an accepted send."""
    message: str = ""
    """A refusal's `Message` (the call log keeps it); empty for an accepted call."""


async def rpc(request: Request) -> Response:
    """The endpoint as a Starlette route (the server's `FastPaths` calls `handle_safely`
    itself)."""
    reply = await handle_safely(services_of(request), request.scope, await request.body())
    return Response(reply.body, status_code=reply.status, media_type=JSON_UTF8,
                    headers=reply.headers)


async def handle_safely(services: ApiServices, scope: Scope, body: bytes) -> Reply:
    """`handle`, with an unexpected error logged (traceback and error id) and answered as
    InternalError carrying that id as its RequestId (issue 14 point 6)."""
    rid = request_id()
    seen = Seen()
    try:
        reply = await handle(services, scope, body, rid, seen)
    except Exception as exc:
        log_unexpected(exc, rid, f"{scope['method']} / (Alibaba-compatible API)")
        reply = failure(services, scope, rid, Refusal("InternalError"))
    if services.calls is not None:  # the call log: queued, written later in a batch
        services.calls.note(seen, reply.status, reply.code, rid, reply.biz_id,
                            scope.get("client"), reply.message)
    return reply


async def handle(services: ApiServices, scope: Scope, body: bytes, rid: str,
                 seen: Seen | None = None) -> Reply:
    seen = seen or Seen()
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
    seen.action, seen.params, seen.headers = action, params, signed.headers
    version = params.get("Version") or signed.headers.get("x-acs-version", "")
    # Sending actions record the nonce in the transaction that accepts the messages.
    deferred = action in SENDING
    auth = await services.aliyun_auth.authenticate(signed, record_nonce=not deferred,
                                            read=action in READS)
    if isinstance(auth, SignatureMismatch):
        message = (auth.refusal.error.text(Lang.EN) + " server string to sign is:"
                   + auth.string_to_sign.replace("\n", "\\n"))
        return error(rid, host, auth.refusal, message)
    if isinstance(auth, Refusal):
        return error(rid, host, auth, message_of(auth, lang))
    seen.key_id, seen.account_id = auth.key.id, auth.account.id
    result = await act(services, auth, action, version, params, lang, deferred, host)
    if (deferred and isinstance(result, Refusal) and result.code != "SignatureNonceUsed"):
        # Refused before acceptance: the nonce is still spent (or this is a replay).
        result = await services.aliyun_auth.remember(auth) or result
    if isinstance(result, Refusal):
        return error(rid, host, result, message_of(result, lang))
    return answer(rid, {"Code": "OK", "Message": "OK", **result})


async def act(services: ApiServices, auth: Authenticated, action: str, version: str,
              params: dict[str, str], lang: Lang, deferred: bool, host: str = "") -> Result:
    """Version, action and rate checks, then the action itself."""
    if version != VERSION:
        return Refusal("InvalidVersion", version or "(none)")
    handler = ACTIONS.get(action)
    if handler is None:
        return Refusal("InvalidApi.NotFound", action or "(no Action)")
    throttled = services.limiter.check(auth.account.id)
    if throttled is not None:
        return throttled
    return await handler(ActionContext(auth.account, params, lang, services,
                                       (auth.key.id, auth.nonce) if deferred else None,
                                       host))


def message_of(refusal: Refusal, lang: Lang) -> str:
    """Protocol errors keep Alibaba's exact wording; business ones add what was wrong."""
    text = refusal.error.text(lang)
    if "{detail}" in text:
        return text.replace("{detail}", refusal.detail)
    return refusal.message(lang) if refusal.error.business else text


def answer(rid: str, body: dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> Reply:
    code = body.get("Code", "")
    return Reply(status, orjson.dumps({"RequestId": rid, **body}),
                 {"x-acs-request-id": rid, **(headers or {})}, code, body.get("BizId"),
                 "" if code == "OK" else body.get("Message", ""))


def failure(services: ApiServices, scope: Scope, rid: str, refusal: Refusal,
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
