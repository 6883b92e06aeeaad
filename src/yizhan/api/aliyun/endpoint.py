"""The RPC endpoint of the Alibaba-compatible API: `POST /` and `GET /`.

Decodes query and form parameters (SPEC.md §2.1), resolves the action from `Action` or
`x-acs-action`, authenticates (`auth.py`), and hands the parameters to the action
(`actions.py`), which talks to the same intake and store as the native API. Answers are
PascalCase JSON for every status: business outcomes are HTTP 200 with a `Code`, protocol
problems keep their registry status (SPEC.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from yizhan.api.aliyun import signing
from yizhan.api.aliyun.actions import ACTIONS, SENDING, ActionContext, ActionServices, Result
from yizhan.api.aliyun.auth import AliyunAuthenticator, Authenticated, SignatureMismatch
from yizhan.api.errors import language, request_id
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


async def rpc(request: Request) -> Response:
    services: AliyunServices = request.app.state.aliyun
    rid = request_id()
    lang = language(request)
    signed = await decode(request)
    params = signing.parameters(signed)
    action = params.get("Action") or signed.headers.get("x-acs-action", "")
    version = params.get("Version") or signed.headers.get("x-acs-version", "")
    # Sending actions record the nonce in the transaction that accepts the messages.
    deferred = action in SENDING
    auth = await services.auth.authenticate(signed, record_nonce=not deferred)
    if isinstance(auth, SignatureMismatch):
        message = (auth.refusal.error.text(Lang.EN) + " server string to sign is:"
                   + auth.string_to_sign.replace("\n", "\\n"))
        return error(rid, request, auth.refusal, message)
    if isinstance(auth, Refusal):
        return error(rid, request, auth, message_of(auth, lang))
    result = await act(services, auth, action, version, params, lang, deferred)
    if (deferred and isinstance(result, Refusal) and result.code != "SignatureNonceUsed"):
        # Refused before acceptance: the nonce is still spent (or this is a replay).
        result = await services.auth.remember(auth) or result
    if isinstance(result, Refusal):
        return error(rid, request, result, message_of(result, lang))
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


async def decode(request: Request) -> signing.SignedRequest:
    """The request as the signature sees it, read from the raw ASGI scope: Starlette's URL
    and header objects cost more than the whole signature check."""
    body = await request.body()
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    form: list[tuple[str, str]] = []
    if body and headers.get("content-type", "").startswith(FORM):
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    query = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
    return signing.SignedRequest(request.method, request.scope["path"], query, form, headers,
                                 body)


def message_of(refusal: Refusal, lang: Lang) -> str:
    """Protocol errors keep Alibaba's exact wording; business ones add what was wrong."""
    text = refusal.error.text(lang)
    if "{detail}" in text:
        return text.replace("{detail}", refusal.detail)
    return refusal.message(lang) if refusal.error.business else text


def answer(rid: str, body: dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"RequestId": rid, **body}), status_code=status,
                    media_type=JSON_UTF8, headers={"x-acs-request-id": rid, **(headers or {})})


def internal_error(request: Request) -> Response:
    refusal = Refusal("InternalError")
    return error(request_id(), request, refusal, message_of(refusal, language(request)))


def error(rid: str, request: Request, refusal: Refusal, message: str) -> Response:
    status = 200 if refusal.error.business else refusal.error.http_status
    headers = {"x-acs-retry-after": "1"} if refusal.code == "Throttling.User" else None
    return answer(rid, {"Code": refusal.code, "Message": message,
                        "HostId": request.headers.get("host", "")}, status, headers)
