"""The operator's home (docs/console.md "Operator pages"): the accounts, their balance and
status, and how many people each has in the console. The operator's other pages (review
queues, channels, dead letters) are the next increment; the CLI does all of it meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console.pages import PREFIX, OperatorDep, console_of, render
from yizhan.policy.balance import money

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/operator")
async def accounts(request: Request, who: OperatorDep) -> Response:
    found = await console_of(request).store.list_accounts()
    return render(request, "operator.html", who.lang, who,
                  accounts=[{"id": a.id, "name": a.name, "status": a.status.value,
                             "balance": money(a.balance)} for a in found])
