"""Signatures (docs/console.md "Signatures"): the account's signatures, their review state,
and per carrier what stops each from sending now and the next step, in the viewer's
language (`compliance/blocking.py`, what GET /v1/signatures/{name}/status answers).

    GET /console/signatures

Only the viewer's own account's signatures.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.api.services import ApiStore
from yizhan.compliance.blocking import signature_status
from yizhan.console.pages import PREFIX, TenantDep, ViewerDep, console_of, render
from yizhan.domain.model import ReviewState, Signature
from yizhan.domain.timezone import china_text

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SHOWN = 200
"""The most signatures the page lists (an account has a handful)."""


async def _carriers(store: ApiStore, signature: Signature, zh: bool) -> list[dict[str, Any]]:
    qualification = (await store.qualification(signature.account_id,
                                               signature.qualification_id)
                     if signature.qualification_id is not None else None)
    found = signature_status(signature, qualification,
                             await store.sign_registrations(signature.id))
    return [{"isp": s.isp.value, "blocked": s.blocked, "state": int(s.state),
             "text": s.zh if zh else s.en, "next": s.next_zh if zh else s.next_en,
             "reasons": ", ".join(s.reasons)} for s in found]


@router.get("/signatures")
async def signatures(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    store = console_of(request).api.store
    _, found = await store.page_signatures(account_id, 0, SHOWN)
    shown = [s for s in found if s.state is not ReviewState.DELETED]
    return render(request, "signatures.html", who.lang, who, signatures=[
        {"name": s.name, "state": s.state.value, "scenario": s.scenario.value,
         "reason": s.reason, "created_at": china_text(s.created_at), "test": s.test,
         "carriers": await _carriers(store, s, who.lang == "zh")} for s in shown])
