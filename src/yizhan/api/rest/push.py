"""Native API for receipts and replies (docs/push.md): where they go, and the pull queue.

    GET  /v1/push                          the account's targets and push secret
    PUT  /v1/push                          set targets: an http(s) URL, "queue" or "" (off)
    GET  /v1/queue/{message_type}          long-poll receive (wait_seconds, max_items,
                                           visibility_seconds)
    POST /v1/queue/{message_type}/ack      {"receipt_handles": [...]} deletes received items
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, refusal_response, request_id
from yizhan.api.rest.messages import AccountDep
from yizhan.api.services import services_of
from yizhan.domain.errors import Refusal
from yizhan.domain.push import PushEndpoints
from yizhan.webhooks import queue

router = APIRouter(prefix="/v1", tags=["receipts and replies"])


class PushBody(BaseModel):
    model_config = ConfigDict(strict=True)
    receipt_url: str | None = Field(None, description="SmsReport: URL, \"queue\" or \"\".")
    uplink_url: str | None = Field(None, description="SmsUp: URL, \"queue\" or \"\".")
    review_url: str | None = Field(
        None, description="SignSmsReport and TemplateSmsReport: URL, \"queue\" or \"\".")
    new_secret: bool = Field(False, description="Make a new push secret.")


class AckBody(BaseModel):
    model_config = ConfigDict(strict=True)
    receipt_handles: list[str] = Field(description="Handles of received items.")


def endpoints_json(e: PushEndpoints | None) -> dict[str, Any]:
    if e is None:
        return {"receipt_url": "", "uplink_url": "", "review_url": "", "secret": ""}
    return {"receipt_url": e.receipt_url, "uplink_url": e.uplink_url,
            "review_url": e.review_url, "secret": e.secret}


def ok(body: dict[str, Any]) -> Response:
    return json_response({"request_id": request_id(), "code": "OK", "message": "OK", **body})


@router.get("/push", summary="Where receipts, replies and review results go",
            responses=error_responses())
async def get_push(request: Request, account: AccountDep) -> Response:
    return ok(endpoints_json(await services_of(request).store.push_endpoints(account.id)))


@router.put("/push", summary="Set where receipts, replies and review results go",
            responses=error_responses("MissingParameter"))
async def put_push(body: PushBody, request: Request, account: AccountDep) -> Response:
    services = services_of(request)
    targets: dict[str, str] = {}
    for name in ("receipt_url", "uplink_url", "review_url"):
        value = getattr(body, name)
        if value is None:
            continue
        checked = queue.check_target(name, value, services.push_networks)
        if isinstance(checked, Refusal):
            return refusal_response(request, checked)
        targets[name] = checked
    saved = await services.store.set_push_endpoints(
        account.id, services.clock.now(), new_secret=body.new_secret, **targets)
    return ok(endpoints_json(saved))


@router.get("/queue/{message_type}", summary="Receive items of the pull queue (long poll)",
            responses=error_responses("QueueNotEnabled"))
async def receive(
    message_type: str, request: Request, account: AccountDep,
    max_items: int = Query(10, ge=1, le=queue.MAX_ITEMS),
    wait_seconds: float = Query(0, ge=0, description="Long poll: wait this long for items."),
    visibility_seconds: float | None = Query(
        None, gt=0, le=43200, description="Hide received items this long [setting]."),
) -> Response:
    services = services_of(request)
    settings = services.queue
    found = await queue.receive(
        services.store, services.clock, account.id, message_type, max_items,
        min(wait_seconds, settings.max_wait), visibility_seconds or settings.visibility,
        services.codes)
    if isinstance(found, Refusal):
        return refusal_response(request, found)
    return ok({"items": found})


@router.post("/queue/{message_type}/ack", summary="Acknowledge (delete) received items",
             responses=error_responses("MissingParameter"))
async def ack(message_type: str, body: AckBody, request: Request,
              account: AccountDep) -> Response:
    deleted = await queue.acknowledge(services_of(request).store, account.id,
                                      body.receipt_handles)
    if isinstance(deleted, Refusal):
        return refusal_response(request, deleted)
    return ok({"deleted": deleted})
