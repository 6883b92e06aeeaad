"""AccessKeys (docs/console.md "AccessKeys"): the account's keys and their state; a tenant
admin creates one (its secret is shown on the answer to that form only, never again) or
disables one. Both are audited.

    GET  /console/keys
    POST /console/keys                 create a key (tenant admins)
    POST /console/keys/{id}/disable    disable one (tenant admins)

A key of another account answers "not found", as one that does not exist. The API's key
cache (`api/auth.py`) lets a disabled key go within its `cache_seconds`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console.pages import (
    PREFIX,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.model import AccessKey, AccountId, KeyStatus
from yizhan.domain.timezone import china_text

router = APIRouter(prefix=PREFIX, include_in_schema=False)


async def _page(request: Request, who: Viewer, account_id: AccountId,
                created: AccessKey | None = None, status: int = 200) -> Response:
    keys = await console_of(request).store.list_access_keys(account_id)
    return render(request, "keys.html", who.lang, who, status=status, created=created,
                  keys=[{"id": k.id, "status": k.status.value,
                         "enabled": k.status is KeyStatus.ENABLED,
                         "created_at": china_text(k.created_at)} for k in keys])


@router.get("/keys")
async def keys(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    return await _page(request, who, account_id)


@router.post("/keys")
async def create_key(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    await admin_form(request, who)
    console = console_of(request)
    now = console.api.clock.now()
    key = await console.store.create_access_key(account_id, now)
    await console.store.audit_console(who.session.user, account_id, "key created", key.id,
                                      now)
    return await _page(request, who, account_id, created=key)


@router.post("/keys/{key_id}/disable")
async def disable_key(request: Request, who: ViewerDep, account_id: TenantDep,
                      key_id: str) -> Response:
    await admin_form(request, who)
    console = console_of(request)
    key = await console.store.access_key(key_id[:64])
    if key is None or key.account_id != account_id:
        return await _page(request, who, account_id, status=404)
    await console.store.set_access_key_status(key.id, KeyStatus.DISABLED)
    await console.store.audit_console(who.session.user, account_id, "key disabled", key.id,
                                      console.api.clock.now())
    return await _page(request, who, account_id)
