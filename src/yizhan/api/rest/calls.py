"""Native API: the account's own API calls (docs/diagnosis.md "The API call log").

    GET /v1/calls?phone_number=&date=&action=&code=&page=   calls of a China day, newest
                                                            first, refused ones included

A tenant sees the calls that named one of its AccessKeys (a refused SendSms, a bad
signature, a throttled or too large request: whatever the answer); calls of an unknown
AccessKey belong to no account and only the operator sees them (`yizhan calls`). Numbers
are shown in full, as records are through the API; people's views mask them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from yizhan.api.call_log import search_form
from yizhan.api.errors import error_responses, json_response, request_id
from yizhan.api.rest.messages import AccountDep, IsoDate
from yizhan.api.services import services_of
from yizhan.domain.calls import ApiCall
from yizhan.domain.model import PhoneNumber
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.policy import numbers

router = APIRouter(prefix="/v1", tags=["calls"])


def shown_number(stored: str) -> str:
    """A stored number as tenants write it (mainland as 11 digits); text that was no number
    as it was given."""
    return numbers.display(PhoneNumber(stored)) if stored.startswith("+") else stored


def call_json(call: ApiCall) -> dict[str, Any]:
    return {"call_id": str(call.id), "at": call.at.isoformat(), "action": call.action,
            "access_key_id": call.key_id, "request_id": call.request_id,
            "http_status": call.http_status, "code": call.code,
            "number_count": call.number_count,
            "phone_numbers": [shown_number(n) for n in call.numbers],
            "sign_name": call.sign_name, "template_code": call.template_code,
            "client": call.client, "biz_id": call.biz_id, "message": call.detail}


@router.get("/calls", summary="The account's API calls of a day, refused ones included",
            response_description="`calls`, newest first: each with its time, action, "
            "AccessKey id, request id, HTTP status and `code`, `message` (a refused call's "
            "message, as its caller got it), the numbers, signature and template it named, "
            "the client's address and an accepted send's `biz_id`.",
            responses=error_responses())
async def list_calls(
    request: Request, account: AccountDep,
    phone_number: str | None = Query(None, description="Only calls that named this number."),
    day: IsoDate | None = Query(None, alias="date",
                                description="China calendar day (YYYY-MM-DD); default today."),
    action: str | None = Query(None, max_length=96,
                               description="An Alibaba action (`SendSms`) or a REST method "
                               "and route (`POST /v1/messages`)."),
    code: str | None = Query(None, max_length=64,
                             description="The answer's code (`OK`, `isv.SMS_TEMPLATE_ILLEGAL`, "
                             "`SignatureDoesNotMatch`, ...)."),
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(20, ge=1, le=100),
) -> Response:
    services = services_of(request)
    start, end = china_day_bounds(day or china_today(services.clock.now()))
    total, shown = await services.store.query_calls(
        account.id, start, end, phone=search_form(phone_number) if phone_number else None,
        action=action or None, code=code or None, offset=(page - 1) * page_size,
        limit=page_size)
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "total": total, "page": page, "page_size": page_size,
                          "calls": [call_json(c) for c in shown]})
