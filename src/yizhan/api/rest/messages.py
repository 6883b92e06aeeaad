"""The native REST API (JSON, snake_case), authenticated by AccessKey (see `auth.py`).

    POST /v1/messages                 send to one or many numbers
    GET  /v1/messages/{message_id}    one message
    GET  /v1/messages?biz_id=...      the messages of one send request
    GET  /v1/messages?phone_number=...&date=YYYY-MM-DD   records of a number on a China day
    GET  /v1/test-numbers             the account's bound test numbers
    POST /v1/test-numbers             bind one ({"phone_number": ...})
    DELETE /v1/test-numbers/{phone_number}   unbind one

Hands send requests to intake; reads records from the store. Every refusal answers the
registry's code and status (docs/api.md, docs/errors.md).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, refusal_response, request_id
from yizhan.api.services import services_of
from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.errors import REGISTRY, Refusal
from yizhan.domain.ids import BIZ_ID_PATTERN, MAX_MESSAGE_ID
from yizhan.domain.model import Account, Message, PhoneNumber
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.intake.accept import SendRequest
from yizhan.policy import balance, numbers, rules
from yizhan.policy.chain import Recipient

router = APIRouter(prefix="/v1", tags=["messages"])


class AuthFailed(Exception):
    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


async def authenticated(request: Request) -> Account:
    result: Account | Refusal = await services_of(request).keys.basic(
        request.headers.get("authorization"))
    if isinstance(result, Refusal):
        raise AuthFailed(result)
    return result


async def on_auth_failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthFailed)
    response = refusal_response(request, exc.refusal)
    if exc.refusal.code == "Unauthorized":
        response.headers["WWW-Authenticate"] = 'Basic realm="yizhan"'
    return response


AccountDep = Annotated[Account, Depends(authenticated)]


async def known_query(request: Request) -> None:
    """Refuse query parameters the route does not take (`sign-name=` for `sign_name=`
    would otherwise be ignored silently, and the answer would be about something else)."""
    route = request.scope.get("route")
    if not request.scope["query_string"] or not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        raise HTTPException(400, f"unknown query parameter(s): {', '.join(unknown)}")


def _query_names(route: APIRoute) -> frozenset[str]:
    names: set[str] = set()
    pending = [route.dependant]
    while pending:  # the route's parameters, and those of its dependencies
        dependant = pending.pop()
        names.update(p.alias for p in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def _iso_date(value: object) -> object:
    """Dates are YYYY-MM-DD: pydantic would also read `0` as 1970-01-01 (a timestamp)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class SendBody(BaseModel):
    phone_numbers: list[str] | str = Field(
        description="Up to 1000 numbers, as a list or comma-separated.",
        examples=[["13800138000"]])
    sign_name: str = Field(description="An approved signature of the account.")
    template_code: str = Field(description="An approved template of the account.")
    template_param: dict[str, Any] | str | None = Field(
        None, description="Template variables: an object of strings, or its JSON text.",
        examples=[{"code": "1234"}])
    out_id: str = Field("", description="Your own reference, returned in records.")


def message_json(m: Message, codes: CodeBook = PLATFORM_BOOK) -> dict[str, Any]:
    """A record as the API shows it; a failed record says why and what to do, explained
    with the table of the channel that reported its code (docs/records.md)."""
    reason, suggestion = codes.reason(m.status, m.channel, m.error_code, m.reason)
    return {
        "message_id": str(m.id), "biz_id": m.biz_id, "phone_number": numbers.display(m.phone),
        "sign_name": m.sign_name, "template_code": m.template_code, "content": m.content,
        "segments": m.segments, "status": m.status.value, "error_code": m.error_code,
        "reason": reason, "suggestion": suggestion, "out_id": m.out_id, "channel": m.channel,
        "created_at": m.created_at.isoformat(),
        "submitted_at": m.submitted_at.isoformat() if m.submitted_at else None,
        "receipt_at": m.receipt_at.isoformat() if m.receipt_at else None,
        # Billing (docs/billing.md): null until billed, then yuan from the balance and parts
        # from prepaid packages.
        "charge": balance.money(m.charge) if m.charged_at else None,
        "package_parts": m.package_parts,
        "charged_at": m.charged_at.isoformat() if m.charged_at else None,
        # Every rule's verdict for this number, in chain order (docs/policy.md "The trail");
        # null for messages accepted before trails were kept.
        "policy_trail": _trail_json(m.policy_trail),
    }


def _trail_json(stored: str | None) -> list[dict[str, str]] | None:
    steps = rules.read_trail(stored)
    if steps is None:
        return None
    return [{"rule": s.rule, "verdict": s.verdict.value, "code": s.code} for s in steps]


SEND_SCHEMA = SendBody.model_json_schema()


def parse_send(raw: bytes) -> SendRequest | Refusal:
    """The send body, checked by hand: this is the hot path, and pydantic's validation would
    cost more than the rest of the request (see docs/benchmarks.md)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Refusal("InvalidParameter", "the body is not valid JSON")
    if not isinstance(body, dict):
        return Refusal("InvalidParameter", "the body must be a JSON object")
    for name in ("phone_numbers", "sign_name", "template_code"):
        if name not in body:
            return Refusal("MissingParameter", name)
    phones, sign, code = body["phone_numbers"], body["sign_name"], body["template_code"]
    params, out_id = body.get("template_param"), body.get("out_id", "")
    if isinstance(phones, str):
        phones = phones.split(",")
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        return Refusal("InvalidParameter", "phone_numbers: a list of strings, or one string")
    for name, value in (("sign_name", sign), ("template_code", code), ("out_id", out_id)):
        if not isinstance(value, str):
            return Refusal("InvalidParameter", f"{name}: must be a string")
    if params is not None and not isinstance(params, dict | str):
        return Refusal("isv.INVALID_JSON_PARAM", "template_param: an object or its JSON text")
    return SendRequest(code, [Recipient(p, sign, params) for p in phones if p != ""], out_id)


SEND_CODES = ("MissingParameter", *(code for code in REGISTRY if code.startswith("isv.")))
"""A send meets every business rule: each of its refusals is an `isv.*` code."""


@router.post("/messages", summary="Send an SMS to one or many numbers",
             responses=error_responses(*SEND_CODES), openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {"schema": SEND_SCHEMA}}}})
async def send(request: Request) -> Response:
    services = services_of(request)
    account = await services.keys.basic(request.headers.get("authorization"))
    if isinstance(account, Refusal):
        return await on_auth_failed(request, AuthFailed(account))
    parsed = parse_send(await request.body())
    if isinstance(parsed, Refusal):
        return refusal_response(request, parsed)
    result = await services.intake.send(account, parsed)
    if isinstance(result, Refusal):
        return refusal_response(request, result)
    return json_response({
        "request_id": request_id(), "code": "OK", "message": "OK", "biz_id": result.biz_id,
        "messages": [{"message_id": str(m.id), "phone_number": numbers.display(m.phone),
                      "status": m.status.value, "segments": m.segments}
                     for m in result.messages]})


@router.get("/messages/{message_id}", summary="One message",
            responses=error_responses("MessageNotFound"))
async def get_message(request: Request, account: AccountDep, message_id: int = Path(
        ge=1, le=MAX_MESSAGE_ID, description="A message id (`message_id` of a send).")
                      ) -> Response:
    services = services_of(request)
    message = await services.store.message(account.id, message_id)
    if message is None:
        return refusal_response(request, Refusal("MessageNotFound", str(message_id)))
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          **message_json(message, services.codes)})


@router.get("/messages", summary="Messages of a BizId, or of a number on a day",
            responses=error_responses("MissingParameter", "BizIdNotFound",
                                      "isv.MOBILE_NUMBER_ILLEGAL"))
async def list_messages(
    request: Request, account: AccountDep,
    biz_id: str | None = Query(None, description="The BizId of a send request.",
                               pattern=BIZ_ID_PATTERN),
    phone_number: str | None = Query(None, description="A destination number."),
    day: IsoDate | None = Query(None, alias="date",
                             description="China calendar day (YYYY-MM-DD); default today."),
    page: int = Query(1, ge=1),
    page_size: int = Query(20, ge=1, le=100),
) -> Response:
    services = services_of(request)
    store = services.store
    if biz_id is not None:
        total, shown = await store.biz_page(account.id, biz_id, (page - 1) * page_size,
                                            page_size)
        if not total:
            return refusal_response(request, Refusal("BizIdNotFound", biz_id))
    elif phone_number is not None:
        number = numbers.normalize(phone_number)
        if isinstance(number, Refusal):
            return refusal_response(request, number)
        now: datetime = services.clock.now()
        start, end = china_day_bounds(day or china_today(now))
        total, shown = await store.query_messages(account.id, number, start, end,
                                                  (page - 1) * page_size, page_size)
    else:
        return refusal_response(request, Refusal("MissingParameter",
                                                 "biz_id or phone_number"))
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "total": total, "page": page, "page_size": page_size,
                          "messages": [message_json(m, services.codes)
                                       for m in shown]})


class TestNumberBody(BaseModel):
    model_config = ConfigDict(strict=True)
    phone_number: str = Field(description="The number to bind, in any accepted format.",
                              examples=["13800138000"])


def _test_number_json(phone: str, at: datetime) -> dict[str, Any]:
    return {"phone_number": numbers.display(PhoneNumber(phone)), "created_at": at.isoformat()}


@router.get("/test-numbers", summary="The account's bound test numbers", tags=["test numbers"],
            responses=error_responses())
async def list_test_numbers(request: Request, account: AccountDep) -> Response:
    bound = await services_of(request).store.test_numbers(account.id)
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "test_numbers": [_test_number_json(t.phone, t.created_at)
                                           for t in bound]})


@router.post("/test-numbers", summary="Bind a test number: test signatures and templates "
             "send only to bound numbers", tags=["test numbers"],
             responses=error_responses("MissingParameter", "isv.MOBILE_NUMBER_ILLEGAL",
                                       "TestNumberLimit"))
async def bind_test_number(body: TestNumberBody, request: Request,
                           account: AccountDep) -> Response:
    number = numbers.normalize(body.phone_number)
    if isinstance(number, Refusal):
        return refusal_response(request, number)
    services = services_of(request)
    result = await services.store.bind_test_number(account.id, number, services.clock.now())
    if result == "full":
        return refusal_response(request, Refusal("TestNumberLimit", numbers.display(number)))
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "phone_number": numbers.display(number),
                          "already_bound": result == "already"})


@router.delete("/test-numbers/{phone_number}", summary="Unbind a test number",
               tags=["test numbers"],
               responses=error_responses("isv.MOBILE_NUMBER_ILLEGAL", "TestNumberNotFound"))
async def unbind_test_number(phone_number: str, request: Request,
                             account: AccountDep) -> Response:
    number = numbers.normalize(phone_number)
    if isinstance(number, Refusal):
        return refusal_response(request, number)
    if not await services_of(request).store.unbind_test_number(account.id, number):
        return refusal_response(request, Refusal("TestNumberNotFound",
                                                 numbers.display(number)))
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "phone_number": numbers.display(number)})
