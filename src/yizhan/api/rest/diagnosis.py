"""Native API for diagnosis: why did this SMS fail (docs/diagnosis.md).

    GET /v1/messages/{message_id}/diagnosis              one message's trail and verdict
    GET /v1/diagnosis?phone_number=...&date=YYYY-MM-DD   a number's China day
    GET /v1/diagnosis?biz_id=...&phone_number=...        one number of a send request
    GET /v1/diagnosis/summary?sign_name=&template_code=&date=|from=&to=
                                                         a population: success rate per
                                                         carrier, leading codes, flags

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
from yizhan.diagnosis.population import (
    MAX_DAYS,
    TOP_CODES,
    Scope,
    Summarizer,
    scope_problem,
    summary_json,
)
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
            "`registrations`, `frequency`, `lists`, `dispatch`, `receipts`, `explanation`, "
            "`push`) and the `verdict`: `cause`, `side`, `what` and `todo` in `en` and `zh` "
            "(docs/diagnosis.md). `frequency`: the windows and counts at the send and the "
            "whitelist; `signature`, `template` and each registration: `state_at_send` beside "
            "today's `state`.",
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


SUMMARY_EXAMPLE = {
    "request_id": "0c1f6a6e-5d1b-4f4e-9a55-1b2a1e0f7c11", "code": "OK", "message": "OK",
    "from": "2026-12-07", "to": "2026-12-07", "sign_name": "驿站", "template_code": None,
    "total": {"carrier": "all", "sent": 1200, "success": 1010, "failed": 190, "unknown": 0,
              "waiting": 0, "success_rate": 0.8417, "final_rate": 0.8417, "codes": []},
    "carriers": [{"carrier": "unicom", "sent": 400, "success": 250, "failed": 150,
                  "unknown": 0, "waiting": 0, "success_rate": 0.625, "final_rate": 0.625,
                  "codes": [{"code": "isv.SIGN_NOT_REGISTERED", "count": 150, "share": 1.0,
                             "cause": "签名实名制报备问题。...",
                             "suggestion": "确认签名关联的资质...",
                             "verdict": "signature_not_registered"}]}],
    "flags": [{"kind": "registration", "side": "tenant", "side_zh": "租户配置", "count": 150,
               "carriers": ["unicom"], "codes": ["isv.SIGN_NOT_REGISTERED"],
               "sign_name": "驿站",
               "what": {"en": "The signature 驿站 is not usable on China Unicom: registration "
                              "failed: the qualification does not match the company records. "
                              "China Unicom refused 150 message(s) as not registered "
                              "(isv.SIGN_NOT_REGISTERED).",
                        "zh": "签名 驿站 在中国联通不可用：报备失败：资质原因：..."},
               "todo": {"en": "Correct the qualification or the signature as the reasons say "
                              "(or use another signature), then start the registration again.",
                        "zh": "按失败原因修正资质或签名（或更换签名），然后重新发起报备。"}}]}


@router.get("/diagnosis/summary", summary="Why is my success rate low: a population's "
            "success rate per carrier, leading failure codes and the causes the trail proves",
            response_description="`carriers`: per carrier (`mobile`, `unicom`, `telecom`, "
            "`international`) the counts, `success_rate` (delivered / sent), `final_rate` "
            "(delivered / final) and the leading failure `codes` explained by the channels' "
            "code tables; `total`: all carriers; `flags`: the causes the trail proves "
            "(`registration`, `code_surge`, `keyword`, `frequency`, `opt_out`), each with "
            "`what` and `todo` in `en` and `zh` (docs/diagnosis.md).",
            responses={200: {"content": {"application/json": {"example": SUMMARY_EXAMPLE}}},
                       **error_responses("InvalidParameter")})
async def population_summary(
    request: Request, account: AccountDep,
    sign_name: str | None = Query(None, max_length=64, description="Only this signature."),
    template_code: str | None = Query(None, max_length=32,
                                      description="Only this template."),
    day: IsoDate | None = Query(None, alias="date", description="One China calendar day "
                                "(YYYY-MM-DD); default today. Not with `from`/`to`."),
    start: IsoDate | None = Query(None, alias="from", description="First China day of a "
                                  f"range of at most {MAX_DAYS} days."),
    end: IsoDate | None = Query(None, alias="to", description="Last China day of the range "
                                "(default: `from`)."),
    top: int = Query(TOP_CODES, ge=1, le=20, description="Leading codes per carrier."),
) -> Response:
    services = services_of(request)
    if day is not None and (start is not None or end is not None):
        return refusal_response(request, Refusal("InvalidParameter",
                                                 "date, or from and to: not both"))
    if end is not None and start is None:
        return refusal_response(request, Refusal("InvalidParameter", "to needs from"))
    first = day or start or china_today(services.clock.now())
    last = day or end or first
    problem = scope_problem(first, last)
    if problem is not None:
        return refusal_response(request, Refusal("InvalidParameter", f"from/to: {problem}"))
    found = await Summarizer(services.store, diagnoser(request).codes).summary(
        Scope(account.id, first, last, sign_name, template_code), top)
    return json_response({"request_id": request_id(), **OK, **summary_json(found)})
