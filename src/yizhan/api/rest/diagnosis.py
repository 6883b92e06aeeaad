"""Native API for diagnosis: why did this SMS fail (docs/diagnosis.md).

    GET /v1/messages/{message_id}/diagnosis              one message's trail and verdict
    GET /v1/diagnosis?phone_number=...&date=YYYY-MM-DD   a number's China day
    GET /v1/diagnosis?biz_id=...&phone_number=...        one number of a send request

Only the authenticated account's own messages: another account's message answers 404, as
one that does not exist. Reads through `ApiServices.diagnosis` (`diagnosis/inquiry.py`).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, refusal_response, request_id
from yizhan.api.rest.messages import AccountDep, IsoDate
from yizhan.api.services import services_of
from yizhan.diagnosis.inquiry import Diagnoser
from yizhan.diagnosis.report import diagnosis_json, number_day_json
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import BIZ_ID_PATTERN, MAX_MESSAGE_ID
from yizhan.domain.model import PhoneNumber
from yizhan.domain.timezone import china_today
from yizhan.policy import numbers

router = APIRouter(prefix="/v1", tags=["diagnosis"])

OK = {"code": "OK", "message": "OK"}


def diagnoser(request: Request) -> Diagnoser:
    found = services_of(request).diagnosis
    assert found is not None, "the composition root wires the diagnosis"
    return found


@router.get("/messages/{message_id}/diagnosis",
            summary="Why did this SMS fail: one message's whole trail and the verdict",
            response_description="The record, the trail (`policy`, `signature`, `template`, "
            "`registrations`, `lists`, `dispatch`, `receipts`, `explanation`, `push`) and the "
            "`verdict`: `cause`, `side`, `what` and `todo` in `en` and `zh` (docs/diagnosis.md).",
            responses=error_responses("MessageNotFound"))
async def message_diagnosis(request: Request, account: AccountDep, message_id: int = Path(
        ge=1, le=MAX_MESSAGE_ID, description="A message id (`message_id` of a send).")
                            ) -> Response:
    found = await diagnoser(request).message(account.id, message_id)
    if found is None:
        return refusal_response(request, Refusal("MessageNotFound", str(message_id)))
    return json_response({"request_id": request_id(), **OK, **diagnosis_json(found)})


@router.get("/diagnosis", summary="Why did my SMS to this number fail: a number's day, or "
            "one number of a BizId",
            response_description="`messages`: a diagnosis per message, oldest first; "
            "`refused_calls`: calls refused as a whole that named the number, from the API "
            "call log (`call_log` says whether one is kept).",
            responses=error_responses(
                "MissingParameter", "BizIdNotFound", "isv.MOBILE_NUMBER_ILLEGAL"))
async def number_diagnosis(
    request: Request, account: AccountDep,
    phone_number: str = Query(description="The destination number, in any accepted format."),
    day: IsoDate | None = Query(None, alias="date",
                             description="China calendar day (YYYY-MM-DD); default today."),
    biz_id: str | None = Query(None, description="The BizId of a send request: only this "
                               "number's message of it.", pattern=BIZ_ID_PATTERN),
) -> Response:
    number = numbers.normalize(phone_number)
    if isinstance(number, Refusal):
        return refusal_response(request, number)
    inquiry = diagnoser(request)
    if biz_id is not None:
        found = await inquiry.by_biz(account.id, biz_id, PhoneNumber(number))
        if not found:
            return refusal_response(request, Refusal("BizIdNotFound", biz_id))
        return json_response({"request_id": request_id(), **OK,
                              "messages": [diagnosis_json(d) for d in found]})
    now: datetime = services_of(request).clock.now()
    result = await inquiry.by_number(account.id, PhoneNumber(number), day or china_today(now))
    return json_response({"request_id": request_id(), **OK, **number_day_json(result)})
