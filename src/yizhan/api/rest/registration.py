"""Carrier registration of a signature in the native REST API (docs/compliance.md "Carrier
registration"): its state per carrier and sub-port, and the explicit trigger for a
signature approved before registration existed, or whose registration failed or lapsed.

    GET  /v1/signatures/{name}/registration   per carrier: state, reasons, sub-ports
    POST /v1/signatures/{name}/registration   file it on every sub-port not registering
                                              nor registered (audited with the AccessKey)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, language, refusal_response, request_id
from yizhan.api.rest.frequency import actor_of
from yizhan.api.rest.messages import AccountDep
from yizhan.api.services import services_of
from yizhan.compliance.registration import Started
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.model import Account, ReviewState, Signature
from yizhan.domain.registration import REASONS, CarrierRegistration, SubPortRegistration
from yizhan.domain.timezone import china_text

router = APIRouter(prefix="/v1/signatures", tags=["signatures"])


async def _signature(request: Request, account: Account, name: str) -> Signature | Refusal:
    found = await services_of(request).store.signature(account.id, name)
    if found is None or found.state is ReviewState.DELETED:
        return Refusal("isv.SMS_SIGNATURE_ILLEGAL", f"signature {name!r}: not found")
    return found


def _reasons(codes: tuple[str, ...], lang: Lang) -> list[dict[str, str]]:
    return [{"code": c, "message": REASONS.get(c, ("", ""))[lang is Lang.EN]} for c in codes]


def _row(r: SubPortRegistration, lang: Lang) -> dict[str, Any]:
    return {"channel": r.channel, "sub_port": r.sub_port, "state": int(r.state),
            "state_name": r.state.name.lower(), "reasons": _reasons(r.reasons, lang),
            "detail": r.detail, "requested_at": china_text(r.requested_at) or None,
            "due_at": china_text(r.due_at) or None,
            "answered_at": china_text(r.answered_at) or None, "deliveries": r.deliveries}


def _carrier(c: CarrierRegistration, lang: Lang) -> dict[str, Any]:
    return {"carrier": c.isp.value, "state": int(c.state), "state_name": c.state.name.lower(),
            "reasons": _reasons(c.reasons, lang),
            "answered_at": china_text(c.answered_at) or None,
            "sub_ports": [_row(r, lang) for r in c.sub_ports]}


async def _answer(request: Request, signature: Signature, **more: Any) -> Response:
    registration = services_of(request).registration
    carriers = await registration.carriers(signature) if registration else []
    lang = language(request)
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK",
                          "sign_name": signature.name, **more,
                          "carriers": [_carrier(c, lang) for c in carriers]})


@router.get("/{name}/registration", summary="A signature's registration per carrier",
            responses=error_responses("isv.SMS_SIGNATURE_ILLEGAL"))
async def get_registration(request: Request, account: AccountDep, name: str) -> Response:
    signature = await _signature(request, account, name)
    if isinstance(signature, Refusal):
        return refusal_response(request, signature)
    return await _answer(request, signature)


@router.post("/{name}/registration", summary="Register a signature with the carriers",
             responses=error_responses("isv.SMS_SIGNATURE_ILLEGAL",
                                       "isv.SIGNATURE_NOT_APPROVED"))
async def post_registration(request: Request, account: AccountDep, name: str) -> Response:
    signature = await _signature(request, account, name)
    if isinstance(signature, Refusal):
        return refusal_response(request, signature)
    registration = services_of(request).registration
    if registration is None:
        return await _answer(request, signature, filed=[], held=None)
    started = await registration.start(signature, actor_of(request), only_missing=True)
    if isinstance(started, Refusal):
        return refusal_response(request, started)
    assert isinstance(started, Started)
    return await _answer(request, signature,
                         filed=[r.channel for r in started.filed if started.held is None],
                         held=started.held)
