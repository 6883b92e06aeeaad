"""The API call log (docs/console.md "API calls"): the account's calls of either API on a
China day, refused ones included, newest first, filtered by number, action and answer code;
numbers masked, as people see them everywhere in the console.

    GET /console/calls

Reads what GET /v1/calls reads (`ApiStore.query_calls`), of the viewer's own account only:
calls of an unknown AccessKey belong to no account and are the operator's.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.api.call_log import search_form
from yizhan.console import i18n
from yizhan.console.pages import PREFIX, TenantDep, ViewerDep, console_of, render
from yizhan.domain.calls import ApiCall
from yizhan.domain.model import PhoneNumber
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.policy import numbers
from yizhan.records.masking import mask_number

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50


def shown_number(stored: str) -> str:
    """A stored number as people see it: mainland as 11 digits, then masked."""
    return mask_number(numbers.display(PhoneNumber(stored)) if stored.startswith("+")
                       else stored)


@router.get("/calls")
async def calls(request: Request, who: ViewerDep, account_id: TenantDep, day: str = "",
                phone: str = "", action: str = "", code: str = "",
                page: int = 1) -> Response:
    console = console_of(request)
    today = china_today(console.api.clock.now())
    error, total, shown = "", 0, list[ApiCall]()
    try:
        chosen = date.fromisoformat(day) if day else today
    except ValueError:
        chosen, error = today, i18n.words(who.lang)["bad_filter"].format(detail="YYYY-MM-DD")
    page = max(1, min(page, 10_000))
    if not error:
        start, end = china_day_bounds(chosen)
        total, shown = await console.api.store.query_calls(
            account_id, start, end, phone=search_form(phone.strip()) if phone.strip()
            else None, action=action.strip()[:96] or None, code=code.strip()[:64] or None,
            offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "calls.html", who.lang, who, day=chosen.isoformat(),
                  phone=phone, action=action, code=code, error=error, total=total,
                  page=page, pages=max(1, -(-total // PAGE_SIZE)),
                  rows=[{"at": china_text(c.at), "action": c.action, "code": c.code,
                         "status": c.http_status, "count": c.number_count,
                         "numbers": ", ".join(shown_number(n) for n in c.numbers[:3])
                         + (" …" if c.number_count > 3 else ""),
                         "sign_name": c.sign_name, "template_code": c.template_code,
                         "biz_id": c.biz_id or "", "key_id": c.key_id} for c in shown])
