"""Frequency control in the native REST API: an account's own limits, its whitelist, the
audit of changes, and the explanation of what a send would meet (docs/frequency.md).

    GET  /v1/frequency/limits             platform limits, the account's own, effective
    PUT  /v1/frequency/limits             {"limits": {"verification.hour": 3, ...: null}}
    GET  /v1/frequency/whitelist          whitelisted numbers
    PUT  /v1/frequency/whitelist/{number} whitelist a number (enterprise-verified accounts)
    DELETE /v1/frequency/whitelist/{number}
    GET  /v1/frequency/audit               changes: who, when, what, old and new value
    GET  /v1/frequency/explain?sign_name=&template_code=&phone_number=

Changes are audited with the AccessKey that made them and apply from the next send.
Explaining counts nothing. The settings are read and changed through `FrequencySettingsStore`,
which the composition root hands over (`ApiServices.frequency_settings`).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, refusal_response, request_id
from yizhan.api.rest.messages import AccountDep
from yizhan.api.services import FrequencySettingsStore, services_of
from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account, PhoneNumber
from yizhan.policy import numbers
from yizhan.policy.flow_control import FrequencyControl, explain_send, explanation_json
from yizhan.policy.frequency import RULES, validate_limit

router = APIRouter(prefix="/v1/frequency", tags=["frequency control"])


def _ok(**fields: Any) -> Response:
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK", **fields})


def actor_of(request: Request) -> str:
    """The AccessKey that authenticated the request (Basic, already verified)."""
    header = request.headers.get("authorization", "")
    key_id = base64.b64decode(header[6:].strip()).decode().partition(":")[0]
    return f"api key {key_id}"


def _settings(request: Request) -> FrequencySettingsStore:
    return services_of(request).frequency_settings


def _control(request: Request) -> FrequencyControl:
    return services_of(request).frequency


async def limits_json(settings: FrequencySettingsStore, account: Account) -> dict[str, Any]:
    profile = await settings.frequency_profile(account.id)
    return {"enterprise_verified": profile.enterprise, "rules": [
        {"rule": r.id, "limit": r.what, "window": r.window.value, "platform": r.limit,
         "account": profile.limits.get(r.id),
         "effective": min(r.limit, profile.limits.get(r.id, r.limit))} for r in RULES]}


@router.get("/limits", summary="Frequency limits: the platform's, the account's own",
            responses=error_responses())
async def get_limits(request: Request, account: AccountDep) -> Response:
    return _ok(**await limits_json(_settings(request), account))


@router.put("/limits", summary="Set or remove the account's own lower limits",
            responses=error_responses("MissingParameter", "isv.INVALID_PARAMETERS"),
            openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"limits": {"type": "object", "additionalProperties": {
            "type": ["integer", "null"]}}}, "required": ["limits"]}}}}})
async def put_limits(request: Request, account: AccountDep) -> Response:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return refusal_response(request, Refusal("InvalidParameter", "the body is not JSON"))
    limits = body.get("limits") if isinstance(body, dict) else None
    if not isinstance(limits, dict):
        return refusal_response(request, Refusal("MissingParameter", "limits"))
    for rule, value in limits.items():  # all or nothing: check every value first
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            return refusal_response(request, Refusal(
                "isv.INVALID_PARAMETERS", f"{rule}: a whole number, or null to remove"))
        refusal = validate_limit(rule, 1 if value is None else value)
        if refusal is not None:
            return refusal_response(request, refusal)
    services = services_of(request)
    settings, actor, now = services.frequency_settings, actor_of(request), services.clock.now()
    for rule, value in limits.items():
        await settings.set_limit(account.id, rule, value, actor, now)
    _control(request).changed(account.id)
    return _ok(**await limits_json(settings, account))


@router.get("/whitelist", summary="Numbers exempt from the platform's limits",
            responses=error_responses())
async def get_whitelist(request: Request, account: AccountDep) -> Response:
    listed = await _settings(request).whitelist(account.id)
    return _ok(numbers=[{"phone_number": numbers.display(PhoneNumber(p)),
                         "added_at": at.isoformat()}
                        for p, at in listed])


WHITELIST_CODES = ("isv.MOBILE_NUMBER_ILLEGAL", "isv.ENTERPRISE_ACCOUNT_REQUIRED")


async def _whitelist(request: Request, account: Account, number: str,
                     listed: bool) -> Response:
    phone = numbers.normalize(number)
    if isinstance(phone, Refusal):
        return refusal_response(request, phone)
    settings = _settings(request)
    if listed and not await settings.enterprise(account.id):
        return refusal_response(request, Refusal("isv.ENTERPRISE_ACCOUNT_REQUIRED",
                                                 account.name))
    changed = await settings.set_whitelisted(account.id, phone, listed, actor_of(request),
                                             services_of(request).clock.now())
    _control(request).changed(account.id)
    return _ok(phone_number=numbers.display(phone), whitelisted=listed, changed=changed)


@router.put("/whitelist/{number}", summary="Whitelist a number (enterprise accounts)",
            responses=error_responses(*WHITELIST_CODES))
async def add_whitelist(number: str, request: Request, account: AccountDep) -> Response:
    return await _whitelist(request, account, number, True)


@router.delete("/whitelist/{number}", summary="Remove a number from the whitelist",
               responses=error_responses(*WHITELIST_CODES))
async def remove_whitelist(number: str, request: Request, account: AccountDep) -> Response:
    return await _whitelist(request, account, number, False)


@router.get("/audit", summary="Changes of the account's frequency settings, latest first",
            responses=error_responses())
async def get_audit(request: Request, account: AccountDep,
                    limit: int = Query(100, ge=1, le=1000)) -> Response:
    entries = await _settings(request).audit(account.id, limit)
    return _ok(changes=[{"at": e.at.isoformat(), "actor": e.actor, "item": e.item,
                         "old": e.old, "new": e.new} for e in entries])


@router.get("/explain", summary="Would a send pass frequency control now? (counts nothing)",
            responses=error_responses("MissingParameter", "isv.MOBILE_NUMBER_ILLEGAL",
                                      "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL"))
async def explain(request: Request, account: AccountDep,
                  sign_name: str = Query(..., description="A signature of the account."),
                  template_code: str = Query(..., description="A template of the account."),
                  phone_number: str = Query(..., description="The destination number."),
                  ) -> Response:
    result = await explain_send(services_of(request).store, _control(request), account,
                                sign_name, template_code, phone_number)
    if isinstance(result, Refusal):
        return refusal_response(request, result)
    return _ok(**explanation_json(result))
