"""Send records and one message's page (docs/console.md "Send records").

    GET  /console/records               the records of a period, filtered, newest first
    GET  /console/records/{id}          one message with its diagnosis
    POST /console/records/{id}/unmask   the same page unmasked: tenant admins only, audited

Filters: number, BizId, China days from/to, status, signature, template, send task. Numbers
and contents are masked (`records/masking.py`: the digits and letters of contents, the
middle of numbers) for everyone; a tenant admin may see one message unmasked, and that
viewing is written to the console's audit. Every query names the viewer's own account:
another account's message answers "not found", as one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.pages import (
    PREFIX,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.diagnosis.report import diagnosis_json
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import MAX_MESSAGE_ID
from yizhan.domain.model import AccountId, Message, MessageStatus
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.policy import numbers
from yizhan.records.masking import mask, mask_number

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
MAX_DAYS = 92
COUNT_LIMIT = 10_000
"""The total is counted up to this many records ("more than 10,000" past it), and pages go
as far: beyond, the filters narrow the records (docs/console.md "Send records"). Counting
and skipping every record of a 92-day period would read them all for each page."""
MAX_PAGE = COUNT_LIMIT // PAGE_SIZE

i18n.add({
    "records_more": ("more than {total} records", "超过 {total} 条"),
})


@dataclass(frozen=True, slots=True)
class Filters:
    phone: str = ""
    biz_id: str = ""
    start: str = ""
    end: str = ""
    status: str = ""
    sign_name: str = ""
    template_code: str = ""
    task: str = ""


FILTER_NAMES = ("phone", "biz_id", "start", "end", "status", "sign_name", "template_code",
                "task")


def row(m: Message, lang: str) -> dict[str, Any]:
    """A record as the list shows it: masked."""
    return {"id": m.id, "phone": mask_number(numbers.display(m.phone)), "biz_id": m.biz_id,
            "sign_name": m.sign_name, "template_code": m.template_code,
            "content": mask(m.content), "status": m.status.value,
            "status_text": i18n.words(lang).get(f"status_{m.status.value}", m.status.value),
            "error_code": m.error_code, "created_at": china_text(m.created_at)}


@router.get("/records")
async def records(request: Request, who: ViewerDep, account_id: TenantDep,
                  page: int = 1, phone: str = "", biz_id: str = "", start: str = "",
                  end: str = "", status: str = "", sign_name: str = "",
                  template_code: str = "", task: str = "") -> Response:
    """The filters are named as query parameters (the API's app refuses unknown ones)."""
    console = console_of(request)
    today = china_today(console.api.clock.now())
    given = Filters(*(v.strip()[:64] for v in (phone, biz_id, start, end, status, sign_name,
                                                template_code, task)))
    page = max(1, min(page, MAX_PAGE))
    query = _query(given, today)
    total, shown, error, more = 0, list[Message](), "", False
    if isinstance(query, Refusal):
        error = i18n.words(who.lang)["bad_filter"].format(detail=query.detail)
    else:
        number, (since, until) = query.pop("phone"), query.pop("period")
        total, shown = await console.store.query_messages(
            account_id, number, since, until, (page - 1) * PAGE_SIZE, PAGE_SIZE, **query,
            count_limit=COUNT_LIMIT)
    more = total > COUNT_LIMIT
    days = _days(given, today) or (today, today)
    return render(request, "records.html", who.lang, who, filters=given,
                  start=given.start or days[0].isoformat(),
                  end=given.end or days[1].isoformat(),
                  statuses=[s.value for s in MessageStatus], error=error,
                  total=f"{COUNT_LIMIT:,}" if more else total, more=more,
                  rows=[row(m, who.lang) for m in shown], page=page,
                  pages=max(1, -(-min(total, COUNT_LIMIT) // PAGE_SIZE)),
                  query=_encoded(given))


def _days(given: Filters, today: date) -> tuple[date, date] | None:
    """The China days of the filters (today by default), None when a date is not one."""
    try:
        end = date.fromisoformat(given.end) if given.end else today
        start = date.fromisoformat(given.start) if given.start else end
    except ValueError:
        return None
    return start, end


def _query(given: Filters, today: date) -> dict[str, Any] | Refusal:
    """The store's query of the filters, or what is wrong with them."""
    days = _days(given, today)
    if days is None:
        return Refusal("InvalidParameter", "dates are YYYY-MM-DD")
    start, end = days
    if end < start or (end - start).days >= MAX_DAYS:
        return Refusal("InvalidParameter", f"at most {MAX_DAYS} days, the end after the start")
    phone = numbers.normalize(given.phone) if given.phone else None
    if isinstance(phone, Refusal):
        return phone
    if given.status and given.status not in {s.value for s in MessageStatus}:
        return Refusal("InvalidParameter", "status")
    if given.task and not given.task.isdigit():
        return Refusal("InvalidParameter", "send task: its number")
    return {"phone": phone,
            "period": (china_day_bounds(start)[0], china_day_bounds(end)[1]),
            "biz_id": given.biz_id or None,
            "status": MessageStatus(given.status) if given.status else None,
            "sign_name": given.sign_name or None,
            "template_code": given.template_code or None,
            "task_id": int(given.task) if given.task else None}


def _encoded(given: Filters) -> str:
    return urlencode({n: getattr(given, n) for n in FILTER_NAMES if getattr(given, n)})


@router.get("/records/{message_id}")
async def message(request: Request, who: ViewerDep, account_id: TenantDep,
                  message_id: int) -> Response:
    return await _message_page(request, who, account_id, message_id, unmasked=False)


@router.post("/records/{message_id}/unmask")
async def unmask(request: Request, who: ViewerDep, account_id: TenantDep,
                 message_id: int) -> Response:
    await admin_form(request, who)
    return await _message_page(request, who, account_id, message_id, unmasked=True)


async def _message_page(request: Request, who: Viewer, account_id: AccountId,
                        message_id: int, unmasked: bool) -> Response:
    console = console_of(request)
    diagnoser = console.api.diagnosis
    assert diagnoser is not None, "the composition root wires the diagnosis"
    found = (await diagnoser.message(account_id, message_id)
             if 0 < message_id <= MAX_MESSAGE_ID else None)
    if found is None:
        return render(request, "message.html", who.lang, who, status=404, found=None)
    if unmasked:
        await console.store.audit_console(who.session.user, account_id, "unmask",
                                          f"message {message_id}", console.api.clock.now())
    data = diagnosis_json(found, masked=not unmasked)
    phone = numbers.display(found.facts.message.phone)
    verdict = data["verdict"]
    lang = "zh" if who.lang == "zh" else "en"
    return render(request, "message.html", who.lang, who, found=data,
                  message_id=message_id, unmasked=unmasked,
                  phone=phone if unmasked else mask_number(phone),
                  created=china_text(found.facts.message.created_at),
                  status_text=i18n.words(who.lang).get(
                      f"status_{data['message']['status']}", data["message"]["status"]),
                  what=verdict["what"][lang], todo=verdict["todo"][lang],
                  side=verdict["side_zh"] if lang == "zh" else verdict["side"])
