"""Qualifications (资质; docs/console.md "Qualifications"): the account's qualifications with
their review state and the reviewer's reason, the signatures standing on each, and its
documents; for a tenant admin, uploading a document and submitting a qualification that
names the documents uploaded: the API's SubmitSmsQualification itself
(`console/actions.py`), so that a refusal has the API's code and message.

    GET  /console/qualifications                      the list, the documents, the forms
    POST /console/qualifications                      submit a qualification for review
    POST /console/qualifications/documents            upload one document (multipart)
    GET  /console/qualifications/{id}                 one qualification: fields, documents,
                                                      signatures using it
    GET  /console/qualifications/{id}/document?key=K  a document it names, to look at

A document is checked as the API's upload endpoint checks one (`compliance/documents.py`
`keep_received`: at most `upload_max_bytes`, JPEG, PNG, GIF or PDF by its content) and kept
under a new key of the account's StartPath. Its form streams: `FastPaths` lets the body of
`UPLOAD_PATH` past the API's body limit (its `self_bounded` paths, given by app.py) and this
route bounds it, reading on (and dropping) up to `DRAIN_FACTOR` times the limit so that the
browser, still sending, gets the refusal page. Another account's qualification or document
answers 404, as one that does not exist; a viewer's form 403.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from yizhan.api.multipart import FORM_OVERHEAD, boundary_of, read_form
from yizhan.compliance import documents
from yizhan.compliance.qualifications import COMPANY_TYPES, ID_TYPES, QualificationFilter
from yizhan.console import i18n
from yizhan.console.actions import act, refused, text
from yizhan.console.pages import (
    PREFIX,
    SECURITY_HEADERS,
    CsrfFailed,
    NotForYou,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, Qualification, ReviewState
from yizhan.domain.timezone import china_text

router = APIRouter(prefix=PREFIX, include_in_schema=False)
UPLOAD_PATH = PREFIX + "/qualifications/documents"
SHOWN = 200
"""The most qualifications, signatures and documents the page lists."""
DRAIN_FACTOR = 4
"""A body over the limit is read (and dropped) up to this many times the limit, so that
the browser gets the answer; past it the connection is closed."""

DOCUMENT_ROLES = {"AdminIDCardFrontFace": "admin_id_front", "AdminIDCardPic": "admin_id_back",
                  "LegalPersonIdCardFrontSide": "legal_id_front",
                  "LegalPersonIdCardBackSide": "legal_id_back",
                  "BusinessLicensePic": "business_license"}
"""The form's document choices (SubmitSmsQualification's names; the licence is the one item
of its BusinessLicensePics) and the role each is uploaded for (the key begins with it)."""
ROLE_FIELDS = {role: wire for wire, role in DOCUMENT_ROLES.items()}
TEXT_FIELDS = ("QualificationName", "CompanyType", "CompanyName", "OrganizationCode",
               "BussinessLicenseExpDate", "LegalPersonName", "LegalPersonIDCardType",
               "LegalPersonIDCardNo", "LegalPersonIdCardEffTime", "AdminName",
               "AdminIDCardType", "AdminIDCardNo", "AdminIDCardExpDate", "AdminPhoneNo",
               "Remark", "UseBySelf", "WhetherShare")
"""The form's text fields: SubmitSmsQualification's own parameters, spelled as the SDK does."""
CERTIFY_CODE = "console"
"""SubmitSmsQualification's CertifyCode (the administrator's SMS code), which Yizhan does
not check yet (docs/compliance.md): the console's login stands for the person."""

i18n.add({
    "qual_title": ("Qualifications", "资质管理"),
    "qual_none": ("No qualification yet.", "暂无资质。"),
    "qual_name": ("Qualification", "资质名称"),
    "qual_company": ("Company", "企业名称"),
    "qual_use": ("Use", "用途"),
    "qual_self": ("own use (自用)", "自用"),
    "qual_others": ("for others (他用)", "他用"),
    "qual_ticket": ("Review ticket", "审核工单"),
    "qual_reason": ("Reviewer's note", "审核意见"),
    "qual_signatures": ("Signatures using it", "关联签名"),
    "qual_state_pending": ("under review", "审核中"),
    "qual_state_approved": ("approved", "审核通过"),
    "qual_state_rejected": ("rejected", "未通过"),
    "qual_state_incomplete": ("materials to supplement", "资料待补充"),
    "qual_state_deleted": ("deleted", "已删除"),
    "qual_documents": ("Documents", "证明文件"),
    "qual_no_documents": ("No document uploaded yet.", "尚未上传文件。"),
    "qual_upload": ("Upload a document", "上传证明文件"),
    "qual_upload_note": ("JPEG, PNG or GIF photos, or PDF, at most {mb} MB each; identity "
                         "card photos must be images.",
                         "JPG、PNG、GIF 图片或 PDF，每个不超过 {mb} MB；身份证照片须为图片。"),
    "qual_file": ("File", "文件"),
    "qual_for": ("What it shows", "文件用途"),
    "qual_uploaded": ("Document {key} was uploaded.", "文件 {key} 已上传。"),
    "qual_key": ("Key", "文件标识"),
    "qual_size": ("Size", "大小"),
    "qual_type": ("Type", "类型"),
    "qual_view": ("View", "查看"),
    "qual_submit_title": ("Submit a qualification for review", "提交资质审核"),
    "qual_submit": ("Submit for review", "提交审核"),
    "qual_submitted": ("Qualification {id} was submitted: it is under review.",
                       "资质 {id} 已提交，正在审核。"),
    "qual_refused": ("Refused", "未能提交"),
    "qual_company_fs": ("Company", "企业信息"),
    "qual_legal_fs": ("Legal person", "法定代表人"),
    "qual_admin_fs": ("Administrator", "管理员"),
    "qual_docs_fs": ("Documents (upload them first)", "证明文件（请先上传）"),
    "qual_none_chosen": ("(none)", "（无）"),
    "qual_f_QualificationName": ("Qualification name", "资质名称"),
    "qual_f_CompanyType": ("Company type", "企业类型"),
    "qual_f_CompanyName": ("Company name", "企业名称"),
    "qual_f_OrganizationCode": ("Unified social credit code", "统一社会信用代码"),
    "qual_f_BussinessLicenseExpDate": ("Licence valid (YYYY-MM-DD~YYYY-MM-DD)",
                                       "营业执照有效期（YYYY-MM-DD~YYYY-MM-DD）"),
    "qual_f_LegalPersonName": ("Name", "姓名"),
    "qual_f_LegalPersonIDCardType": ("Certificate type", "证件类型"),
    "qual_f_LegalPersonIDCardNo": ("Certificate number", "证件号码"),
    "qual_f_LegalPersonIdCardEffTime": ("Valid (YYYY-MM-DD~YYYY-MM-DD)",
                                        "证件有效期（YYYY-MM-DD~YYYY-MM-DD）"),
    "qual_f_AdminName": ("Name", "姓名"),
    "qual_f_AdminIDCardType": ("Certificate type", "证件类型"),
    "qual_f_AdminIDCardNo": ("Certificate number", "证件号码"),
    "qual_f_AdminIDCardExpDate": ("Valid (YYYY-MM-DD~YYYY-MM-DD)",
                                  "证件有效期（YYYY-MM-DD~YYYY-MM-DD）"),
    "qual_f_AdminPhoneNo": ("Mobile number", "手机号码"),
    "qual_f_Remark": ("Remark", "备注"),
    "qual_f_UseBySelf": ("Use", "用途"),
    "qual_f_WhetherShare": ("Other products may reuse it", "允许其他产品复用"),
    "qual_f_AdminIDCardFrontFace": ("Administrator's ID card, front", "管理员身份证人像面"),
    "qual_f_AdminIDCardPic": ("Administrator's ID card, back", "管理员身份证国徽面"),
    "qual_f_LegalPersonIdCardFrontSide": ("Legal person's ID card, front",
                                          "法人身份证人像面"),
    "qual_f_LegalPersonIdCardBackSide": ("Legal person's ID card, back", "法人身份证国徽面"),
    "qual_f_BusinessLicensePic": ("Business licence", "营业执照"),
    "qual_yes": ("yes", "是"),
    "qual_no": ("no", "否"),
    "qual_back": ("Back to the qualifications", "返回资质列表"),
    "qual_usable": ("Usable for carrier registration", "可用于运营商报备"),
    "qual_viewer_note": ("Only a tenant admin uploads documents and submits qualifications.",
                         "只有租户管理员可以上传文件和提交资质。"),
})


def _row(q: Qualification, using: list[str]) -> dict[str, Any]:
    return {"id": q.id, "name": q.details.name, "company": q.details.company_name,
            "for_self": q.details.for_self, "state": q.state.value, "reason": q.reason,
            "ticket": q.order_id, "created_at": china_text(q.created_at),
            "reviewed_at": china_text(q.reviewed_at) if q.reviewed_at else "",
            "signatures": using}


async def _using(request: Request, account_id: AccountId) -> dict[int, list[str]]:
    """The names of the account's signatures (not deleted) per qualification."""
    _, found = await console_of(request).api.store.page_signatures(account_id, 0, SHOWN)
    using: dict[int, list[str]] = defaultdict(list)
    for s in found:
        if s.qualification_id is not None and s.state is not ReviewState.DELETED:
            using[s.qualification_id].append(s.name)
    return using


async def _page(request: Request, who: Viewer, account_id: AccountId, *,
                fields: dict[str, str] | None = None, refusal: Refusal | None = None,
                done: str = "", status: int = 200) -> Response:
    console = console_of(request)
    _, found = await console.api.store.page_qualifications(account_id, QualificationFilter(),
                                                           0, SHOWN)
    using = await _using(request, account_id)
    kept = await console.store.account_documents(account_id, SHOWN)
    uploads = console.api.uploads
    return render(request, "qualifications.html", who.lang, who, status=status,
                  qualifications=[_row(q, using.get(q.id, [])) for q in found],
                  documents=[{"key": d.key, "type": d.content_type,
                              "size": f"{d.size / 1024:.0f} KiB",
                              "uploaded_at": china_text(d.uploaded_at)} for d in kept],
                  keys=[d.key for d in kept], roles=DOCUMENT_ROLES,
                  fields=fields or {"UseBySelf": "true", "WhetherShare": "false",
                                    "CompanyType": "COMPANY",
                                    "LegalPersonIDCardType": "identityCard",
                                    "AdminIDCardType": "identityCard"},
                  text_fields=TEXT_FIELDS, company_types=sorted(COMPANY_TYPES),
                  id_types=sorted(ID_TYPES), uploads=uploads is not None,
                  max_mb=f"{uploads.max_bytes / 1048576:g}" if uploads else "0",
                  refusal=refused(refusal, who.lang) if refusal else None, done=done)


@router.get("/qualifications")
async def qualifications(request: Request, who: ViewerDep, account_id: TenantDep,
                         submitted: int = 0, uploaded: str = "") -> Response:
    t = i18n.words(who.lang)
    done = (t["qual_submitted"].format(id=submitted) if submitted else
            t["qual_uploaded"].format(key=uploaded[:255]) if uploaded else "")
    return await _page(request, who, account_id, done=done)


def _params(fields: dict[str, str]) -> dict[str, str]:
    """The form as SubmitSmsQualification takes it."""
    params = {name: fields.get(name, "") for name in TEXT_FIELDS}
    params["WhetherShare"] = params["WhetherShare"] or "false"  # an unticked box sends none
    params["CertifyCode"] = CERTIFY_CODE
    for wire in DOCUMENT_ROLES:
        if wire != "BusinessLicensePic":
            params[wire] = fields.get(wire, "")
    if fields.get("BusinessLicensePic"):
        params["BusinessLicensePics"] = orjson.dumps(
            [{"LicensePic": fields["BusinessLicensePic"]}]).decode()
    return params


@router.post("/qualifications")
async def submit(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    fields = {name: text(form, name, 300) for name in (*TEXT_FIELDS, *DOCUMENT_ROLES)}
    done = await act(request, who, account_id, "SubmitSmsQualification", _params(fields),
                     "qualification")
    if isinstance(done, Refusal):
        return await _page(request, who, account_id, fields=fields, refusal=done,
                           status=done.error.http_status)
    return RedirectResponse(f"{PREFIX}/qualifications?submitted={int(done['Data'])}", 303)


@router.post("/qualifications/documents")
async def upload(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    if not who.admin:  # before a byte of the body is read
        raise NotForYou
    console = console_of(request)
    config = console.api.uploads
    if config is None:
        return await _page(request, who, account_id, status=404, refusal=Refusal(
            "InvalidApi.NotFound", "this platform takes no uploads"))
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        return await _page(request, who, account_id, status=400, refusal=Refusal(
            "MalformedPOSTRequest", "the body must be multipart/form-data"))
    limit = config.max_bytes + FORM_OVERHEAD
    too_large = Refusal("EntityTooLarge", f"more than {config.max_bytes} bytes")
    chunks = request.stream()
    form = await read_form(boundary, chunks, limit, too_large)
    try:
        if form.refusal is too_large:
            seen = limit
            async for chunk in chunks:  # read on, dropping it, so the browser hears us
                seen += len(chunk)
                if seen > DRAIN_FACTOR * limit:
                    break
        sent = form.fields.get("csrf", "")
        if form.refusal is None and not hmac.compare_digest(sent.encode(),
                                                            who.session.csrf.encode()):
            raise CsrfFailed
        refusal = form.refusal
        if refusal is None and form.file is None:
            refusal = Refusal("MalformedPOSTRequest", "the form has no file field")
        if refusal is not None:
            return await _page(request, who, account_id, refusal=refusal,
                               status=refusal.error.http_status
                               if refusal is not too_large else 413)
        assert form.file is not None
        role = form.fields.get("role", "")
        label = DOCUMENT_ROLES.get(role, "other")
        kept = await documents.keep_received(config, console.api.store, account_id,
                                             form.file, label, console.api.clock.now())
    finally:
        form.close()
    if isinstance(kept, Refusal):
        return await _page(request, who, account_id, refusal=kept,
                           status=413 if kept.code == "EntityTooLarge"
                           else kept.error.http_status)
    key, _ = kept
    await console.store.audit_console(who.session.user, account_id, "document uploaded", key,
                                      console.api.clock.now())
    return RedirectResponse(f"{PREFIX}/qualifications?uploaded={key}", 303)


async def _own(request: Request, account_id: AccountId,
               qualification_id: int) -> Qualification | None:
    found = await console_of(request).api.store.qualification(account_id, qualification_id)
    return found if found is not None and found.state is not ReviewState.DELETED else None


@router.get("/qualifications/{qualification_id}")
async def qualification(request: Request, who: ViewerDep, account_id: TenantDep,
                        qualification_id: int) -> Response:
    found = await _own(request, account_id, qualification_id)
    if found is None:
        return render(request, "qualification.html", who.lang, who, status=404, q=None)
    d = found.details
    names = ("company_type", "company_name", "organization_code", "license_valid",
             "legal_person_name", "admin_name", "admin_phone", "remark")
    return render(request, "qualification.html", who.lang, who, q={
        **_row(found, (await _using(request, account_id)).get(found.id, [])),
        "facts": {n: getattr(d, n) for n in names},
        "usable": found.usable_for_registration,
        "documents": [{"role": ROLE_FIELDS.get(role.split(":")[0], role), "key": ref}
                      for role, ref in d.documents]})


@router.get("/qualifications/{qualification_id}/document")
async def document(request: Request, who: ViewerDep, account_id: TenantDep,
                   qualification_id: int, key: str = "") -> Response:
    found = await _own(request, account_id, qualification_id)
    console = console_of(request)
    kept = (await console.store.document(account_id, key[:255])
            if found is not None and key in {ref for _, ref in found.details.documents}
            else None)
    path = (console.api.uploads.files.file_of(account_id, kept.file)
            if kept is not None and console.api.uploads is not None else None)
    if kept is None or path is None or not path.is_file():
        return render(request, "qualification.html", who.lang, who, status=404, q=None)
    body = path.read_bytes()
    inline = kept.content_type.startswith("image/")
    name = key.rsplit("/", 1)[-1]
    return Response(body, media_type=kept.content_type, headers={
        **SECURITY_HEADERS,
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"'})
