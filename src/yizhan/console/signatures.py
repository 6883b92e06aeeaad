"""Signatures (docs/console.md "Signatures"): the account's signatures, their review state,
and per carrier what stops each from sending now and the next step, in the viewer's
language (`compliance/blocking.py`, what GET /v1/signatures/{name}/status answers); for a
tenant admin, a new signature standing on one of the account's approved qualifications: the
API's CreateSmsSign itself (`console/actions.py`), so that a refusal has the API's code and
message.

    GET  /console/signatures
    POST /console/signatures     submit a signature for review (tenant admins)

Only the viewer's own account's signatures and qualifications.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from yizhan.api.services import ApiStore
from yizhan.compliance.blocking import signature_status
from yizhan.compliance.qualifications import QualificationFilter
from yizhan.console import i18n
from yizhan.console.actions import act, refused, text
from yizhan.console.pages import (
    PREFIX,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, ReviewState, Signature
from yizhan.domain.timezone import china_text

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SHOWN = 200
"""The most signatures the page lists (an account has a handful)."""
SOURCES = {"0": "sign_source_enterprise", "2": "sign_source_app", "5": "sign_source_trademark"}
"""CreateSmsSign's SignSource numbers still open to new signatures, and their words."""
FIELDS = ("SignName", "SignSource", "SignType", "QualificationId", "Remark",
          "ApplySceneContent", "AppIcpRecordId", "TrademarkId", "AuthorizationLetterId")
"""The form's fields: CreateSmsSign's own parameters (ThirdParty follows the qualification)."""

i18n.add({
    "sign_new": ("Submit a signature for review", "提交签名审核"),
    "sign_name": ("Signature", "签名名称"),
    "sign_source": ("Source", "签名来源"),
    "sign_source_enterprise": ("company name", "企业名称"),
    "sign_source_app": ("app", "已上线 App"),
    "sign_source_trademark": ("trademark", "商标"),
    "sign_type": ("Use", "适用场景"),
    "sign_type_0": ("verification codes", "验证码"),
    "sign_type_1": ("general", "通用"),
    "sign_qualification": ("Qualification (approved)", "资质（已审核通过）"),
    "sign_no_qualification": ("No approved qualification yet: submit one first.",
                              "暂无审核通过的资质，请先提交资质。"),
    "sign_remark": ("Scenario (for the reviewer)", "申请说明（使用场景）"),
    "sign_scene": ("Store link (app) or scenario", "应用商店链接（App）或场景说明"),
    "sign_icp": ("App ICP filing id", "App ICP 备案 ID"),
    "sign_trademark": ("Trademark id", "商标 ID"),
    "sign_letter": ("Authorization letter id (for others)", "委托授权书 ID（他用）"),
    "sign_submit": ("Submit for review", "提交审核"),
    "sign_added": ("Signature {name} was submitted: it is under review.",
                   "签名 {name} 已提交，正在审核。"),
    "sign_refused": ("Refused", "未能提交"),
    "sign_reason": ("Reason", "原因"),
})


async def _carriers(store: ApiStore, signature: Signature, zh: bool) -> list[dict[str, Any]]:
    qualification = (await store.qualification(signature.account_id,
                                               signature.qualification_id)
                     if signature.qualification_id is not None else None)
    found = signature_status(signature, qualification,
                             await store.sign_registrations(signature.id))
    return [{"isp": s.isp.value, "blocked": s.blocked, "state": int(s.state),
             "text": s.zh if zh else s.en, "next": s.next_zh if zh else s.next_en,
             "reasons": ", ".join(s.reasons)} for s in found]


async def _page(request: Request, who: Viewer, account_id: AccountId, *,
                fields: dict[str, str] | None = None, refusal: Refusal | None = None,
                done: str = "", status: int = 200) -> Response:
    store = console_of(request).api.store
    _, found = await store.page_signatures(account_id, 0, SHOWN)
    shown = [s for s in found if s.state is not ReviewState.DELETED]
    _, held = await store.page_qualifications(account_id, QualificationFilter(
        state=ReviewState.APPROVED), 0, SHOWN)
    return render(request, "signatures.html", who.lang, who, status=status, signatures=[
        {"name": s.name, "state": s.state.value, "scenario": s.scenario.value,
         "reason": s.reason, "created_at": china_text(s.created_at), "test": s.test,
         "carriers": await _carriers(store, s, who.lang == "zh")} for s in shown],
        qualifications=[{"id": q.id, "name": q.details.name, "for_self": q.details.for_self}
                        for q in held if q.usable_for_registration],
        sources=SOURCES, fields=fields or {"SignSource": "0", "SignType": "1"}, done=done,
        refusal=refused(refusal, who.lang) if refusal else None)


@router.get("/signatures")
async def signatures(request: Request, who: ViewerDep, account_id: TenantDep,
                     added: str = "") -> Response:
    done = i18n.words(who.lang)["sign_added"].format(name=added[:12]) if added else ""
    return await _page(request, who, account_id, done=done)


@router.post("/signatures")
async def add_signature(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    fields = {name: text(form, name, 600) for name in FIELDS}
    params = dict(fields)
    if fields["QualificationId"].isdigit():  # ThirdParty: what the qualification is for
        q = await console_of(request).api.store.qualification(
            account_id, int(fields["QualificationId"][:19]))
        params["ThirdParty"] = "false" if q is None or q.details.for_self else "true"
    done = await act(request, who, account_id, "CreateSmsSign", params, "signature")
    if isinstance(done, Refusal):
        return await _page(request, who, account_id, fields=fields, refusal=done,
                           status=done.error.http_status)
    return RedirectResponse(f"{PREFIX}/signatures?{urlencode({'added': done['SignName']})}",
                            303)
