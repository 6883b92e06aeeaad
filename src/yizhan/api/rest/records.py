"""Native API for statistics and exports (docs/records.md).

    GET /v1/statistics               counters per day / signature / template / type / carrier
    GET /v1/exports/failed-numbers   failed numbers of a BizId or a period, as CSV
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, refusal_response, request_id
from yizhan.api.rest.messages import AccountDep, IsoDate
from yizhan.api.services import services_of
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import BIZ_ID_PATTERN
from yizhan.domain.model import MessageStatus, TemplateType
from yizhan.domain.statistics import DIMENSIONS
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.records.export import failed_csv, retryable

router = APIRouter(prefix="/v1", tags=["records"])


class CsvResponse(Response):
    media_type = "text/csv"
MAX_DAYS = 366


def period(request: Request, start: date | None, end: date | None) -> tuple[date, date] | Refusal:
    end = end or china_today(services_of(request).clock.now())
    start = start or end
    if end < start or (end - start).days >= MAX_DAYS:
        return Refusal("InvalidParameter",
                       f"end_date on or after start_date, at most {MAX_DAYS} days in all")
    return start, end


@router.get("/statistics", summary="Statistics per day, signature, template, type, carrier",
            responses=error_responses())
async def statistics(
    request: Request, account: AccountDep,
    start_date: IsoDate | None = Query(None, description="First China day [default: end_date]."),
    end_date: IsoDate | None = Query(None, description="Last China day [default: today]."),
    group_by: str = Query("day", description="Comma-separated: " + ", ".join(DIMENSIONS)),
    template_type: TemplateType | None = Query(None),
    sign_name: str | None = Query(None),
    template_code: str | None = Query(None),
    region: str | None = Query(None, pattern="^(domestic|international)$"),
) -> Response:
    days = period(request, start_date, end_date)
    keys = [k.strip() for k in group_by.split(",") if k.strip()]
    if not isinstance(days, Refusal) and (not keys or set(keys) - set(DIMENSIONS)):
        days = Refusal("InvalidParameter", f"group_by: some of {', '.join(DIMENSIONS)}")
    if isinstance(days, Refusal):
        return refusal_response(request, days)
    rows = await services_of(request).store.statistics(
        account.id, *days, group_by=keys, template_type=template_type, sign_name=sign_name,
        template_code=template_code,
        international=None if region is None else region == "international")
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "rows": [{**r.key, "sent": r.sent, "success": r.success,
                                    "failed": r.failed, "unknown": r.unknown,
                                    "waiting": r.waiting, "billed_parts": r.billed_parts,
                                    "success_rate": round(r.success_rate, 4)} for r in rows]})


@router.get("/exports/failed-numbers", summary="Failed numbers as CSV, ready to send again",
            response_class=CsvResponse, responses=error_responses("MissingParameter"))
async def failed_numbers(
    request: Request, account: AccountDep,
    biz_id: str | None = Query(None, description="One send request.",
                               pattern=BIZ_ID_PATTERN),
    start_date: IsoDate | None = Query(None, description="First China day of a period."),
    end_date: IsoDate | None = Query(None, description="Last China day [default: start_date]."),
    include_unknown: bool = Query(False, description="Also numbers whose outcome is unknown."),
    retryable_only: bool = Query(False, description="Only numbers a resend can reach (the "
                                 "`resend` column is `yes`; docs/records.md)."),
) -> Response:
    statuses = [MessageStatus.FAILED] + ([MessageStatus.UNKNOWN] if include_unknown else [])
    store = services_of(request).store
    if biz_id is not None:
        found = await store.failed_messages(account.id, biz_id=biz_id, statuses=statuses)
        name = biz_id.split("^")[0]
    elif start_date is not None:
        days = period(request, start_date, end_date or start_date)
        if isinstance(days, Refusal):
            return refusal_response(request, days)
        start, end = china_day_bounds(days[0])[0], china_day_bounds(days[1])[1]
        found = await store.failed_messages(account.id, start=start, end=end,
                                            statuses=statuses)
        name = f"{days[0].isoformat()}_{days[1].isoformat()}"
    else:
        return refusal_response(request, Refusal("MissingParameter", "biz_id or start_date"))
    if retryable_only:
        found = retryable(found)
    return Response(failed_csv(found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": attachment(f"failed-{name}.csv")})


def attachment(name: str) -> str:
    """A Content-Disposition naming a download, per RFC 6266: `filename*` carries the name
    in UTF-8, `filename` an ASCII fallback with anything but letters, digits, `.`, `_` and
    `-` replaced (no quote, `;` or path can reach the header, whatever the name holds)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"

